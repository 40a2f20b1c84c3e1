package storage

import (
	"context"
	"path/filepath"
)

// Store is a data folder: the database and the blob store beside it.
type Store struct {
	*DB
	Blobs Blobs
	Dir   string
}

// Open opens the data folder dir, creating it on first use.
func Open(ctx context.Context, dir string) (*Store, error) {
	blobs, err := OpenFSBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, err
	}
	db, err := OpenDB(ctx, filepath.Join(dir, "larder.db"))
	if err != nil {
		return nil, err
	}
	return &Store{DB: db, Blobs: blobs, Dir: dir}, nil
}
