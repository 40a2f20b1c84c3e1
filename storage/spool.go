package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"sync"
	"sync/atomic"
)

// spoolWriter is a blob written to a temporary file and hashed as it
// goes, readable while it is written: the writer of every blob store.
// keep makes the checked bytes the store's blob (a rename into the folder,
// an upload): it owns the file from then on, closing it, and removing it
// unless it became the blob.
type spoolWriter struct {
	f       *os.File
	h       hash.Hash
	written atomic.Int64
	keep    func(ctx context.Context, f *os.File, got Digest, size int64) error

	mu   sync.Mutex // guards done against Commit/Cancel racing each other
	done bool
}

func newSpoolWriter(dir string, keep func(ctx context.Context, f *os.File, got Digest, size int64) error) (*spoolWriter, error) {
	f, err := os.CreateTemp(dir, "blob-*")
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return &spoolWriter{f: f, h: sha256.New(), keep: keep}, nil
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.written.Add(int64(n))
	return n, err
}

func (w *spoolWriter) ReadAt(p []byte, off int64) (int, error) { return w.f.ReadAt(p, off) }

func (w *spoolWriter) Written() int64 { return w.written.Load() }

func (w *spoolWriter) Commit(ctx context.Context, expected Digest) (Digest, int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return "", 0, errors.New("blob writer: already committed or cancelled")
	}
	w.done = true
	size := w.written.Load()
	got := Digest(hex.EncodeToString(w.h.Sum(nil)))
	if expected != "" && expected != got {
		w.discard()
		return "", 0, fmt.Errorf("%w: expected sha256 %s, got %s", ErrDigestMismatch, expected, got)
	}
	if err := w.keep(ctx, w.f, got, size); err != nil {
		return "", 0, err
	}
	return got, size, nil
}

func (w *spoolWriter) Cancel() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	return w.discard()
}

func (w *spoolWriter) discard() error {
	w.f.Close()
	return os.Remove(w.f.Name())
}
