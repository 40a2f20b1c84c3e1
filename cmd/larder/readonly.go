package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/larder-mirror/larder/storage"
)

// openReadOnly opens the data folder the flags name for a subcommand that
// only reads it (export): it writes nothing there, so a snapshot on a
// read-only mount works, and it runs beside other readers.
func (f opFlags) openReadOnly(ctx context.Context) (*storage.Store, string, error) {
	dir, b, err := f.location()
	if err != nil {
		return nil, "", err
	}
	if b.Database != "" {
		// The shared database is read, never this node's folder.
		store, err := storage.OpenReadOnlyWith(ctx, dir, b)
		return store, dir, err
	}
	if _, err := os.Stat(filepath.Join(dir, "larder.db")); errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%s is not a larder data folder (it has no larder.db); name one with --data DIR or --config FILE", dir)
	}
	store, err := storage.OpenReadOnly(ctx, dir)
	return store, dir, err
}
