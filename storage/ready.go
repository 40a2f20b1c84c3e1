package storage

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ReadyOptions are the limits Store.Ready checks beyond what works.
type ReadyOptions struct {
	// MinFree is the space, in bytes, that must be free (to unprivileged
	// users) where the data folder and its blobs live; 0 checks nothing.
	MinFree int64
}

// LowSpaceError says the data folder has less free space than asked for.
type LowSpaceError struct{ Free, Floor int64 }

func (e *LowSpaceError) Error() string {
	return fmt.Sprintf("%d bytes free in the data folder, below the floor of %d", e.Free, e.Floor)
}

// Ready reports whether the store can serve and keep what it fetches: the
// database reads and writes the file it opened (DB.Ready), the blob store
// takes a write of real bytes, and free space is above opts.MinFree. A
// read-only store is ready when its database reads. The messages carry no
// server path: /readyz shows them.
func (s *Store) Ready(ctx context.Context, opts ReadyOptions) error {
	if err := s.DB.Ready(ctx); err != nil {
		return err
	}
	if s.DB.ReadOnly() {
		return nil
	}
	if err := probeBlobWrite(ctx, s.Blobs); err != nil {
		return err
	}
	if opts.MinFree > 0 {
		free, err := s.FreeSpace()
		if err != nil {
			return err
		}
		if free < opts.MinFree {
			return &LowSpaceError{Free: free, Floor: opts.MinFree}
		}
	}
	return nil
}

// FreeSpace is the space free to larder (what an unprivileged user may
// take) on the volumes of the data folder and its blob folder, the lesser
// of the two when the blobs are mounted apart. Its error names no path.
func (s *Store) FreeSpace() (int64, error) {
	least := int64(-1)
	for _, dir := range []string{s.Dir, filepath.Join(s.Dir, "blobs")} {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0, fmt.Errorf("free space: %v", bareError(&os.PathError{Op: "statfs", Path: dir, Err: err}))
		}
		if free := int64(st.Bavail) * int64(st.Bsize); least < 0 || free < least {
			least = free
		}
	}
	return least, nil
}

// probeSize is what a readiness check writes: more than one block, so that
// a disk with room for an inode but no data is found full.
const probeSize = 16 << 10

// probeBlobWrite stores bytes where blobs are written and takes them away
// again. The bytes are random, so that a compressing file system has to
// find room for them.
func probeBlobWrite(ctx context.Context, blobs Blobs) error {
	buf := make([]byte, probeSize)
	rand.Read(buf)
	if fs, ok := blobs.(*FSBlobs); ok {
		return fs.probeWrite(buf)
	}
	if s3, ok := blobs.(*S3Blobs); ok {
		return s3.probeWrite(ctx, buf)
	}
	w, err := blobs.Create(ctx)
	if err != nil {
		return fmt.Errorf("blob store: a test write failed: %v", bareError(err))
	}
	defer w.Cancel()
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("blob store: a test write failed: %v", bareError(err))
	}
	return nil
}

// probeWrite writes buf to a file in tmp/, syncs it and removes it: what
// storing a blob does short of the rename.
func (s *FSBlobs) probeWrite(buf []byte) error {
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "ready-*")
	if err != nil {
		return fmt.Errorf("blob store: a test write failed: %v", bareError(err))
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(f.Name()); err == nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("blob store: a test write failed: %v", bareError(err))
	}
	return nil
}
