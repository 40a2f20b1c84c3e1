package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrInUse is returned by Open when another process holds the data folder.
var ErrInUse = errors.New("data folder in use")

// Store is a data folder: the database and the blob store beside it.
type Store struct {
	*DB
	Blobs Blobs
	Dir   string
	lock  *os.File
}

// Open opens the data folder dir, creating it on first use. One process at
// a time holds a data folder: opening empties blobs/tmp/ (writes a crash
// interrupted), which would destroy another process's downloads in progress.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	blobs, err := OpenFSBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		lock.Close()
		return nil, err
	}
	db, err := OpenDB(ctx, filepath.Join(dir, "larder.db"))
	if err != nil {
		lock.Close()
		return nil, err
	}
	return &Store{DB: db, Blobs: blobs, Dir: dir, lock: lock}, nil
}

// Close closes the database and releases the data folder.
func (s *Store) Close() error {
	if c, ok := s.Blobs.(io.Closer); ok {
		c.Close()
	}
	err := s.DB.Close()
	if s.lock != nil {
		s.lock.Close() // closing the descriptor releases the flock
	}
	return err
}

// lockDir takes an exclusive advisory lock on dir/larder.lock and writes
// the holder's pid into it, for the message another process gets.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "larder.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("%w: %s is held by another larder process (pid %s); stop it first", ErrInUse, dir, strings.TrimSpace(string(holder)))
	}
	f.Truncate(0)
	f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	return f, nil
}
