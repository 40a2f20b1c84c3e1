package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// A blob up to spoolMemoryMax bytes is held in memory until it is
// committed, and reaches its temporary file only then: a cold artifact's
// client, answered once the bytes are verified, no longer waits for a file
// to be made and written first, and the bytes are read back from memory to
// be verified and served. Most npm tarballs, wheels and crates are smaller.
// All writers together hold at most spoolMemoryBudget; past it, or past
// spoolMemoryMax for one blob, a writer spools to its file as it goes.
const (
	spoolMemoryMax    = 1 << 20
	spoolMemoryBudget = 64 << 20
)

// spoolMemoryHeld is what all spool writers hold in memory now.
var spoolMemoryHeld atomic.Int64

// spoolWriter is a blob hashed as it is written and readable while it is:
// the writer of every blob store. It holds the bytes in memory while they
// are few, then in a temporary file in dir. keep makes the checked bytes
// the store's blob (a rename into the folder, an upload): it owns the file
// from then on, closing it, and removing it unless it became the blob.
type spoolWriter struct {
	dir     string
	h       hash.Hash
	written atomic.Int64
	keep    func(ctx context.Context, f *os.File, got Digest, size int64) error

	mu   sync.Mutex // guards mem and f, and done against Commit/Cancel racing each other
	mem  []byte     // the bytes, while f is nil
	held int64      // what mem counts in spoolMemoryHeld
	f    *os.File
	done bool
}

func newSpoolWriter(dir string, keep func(ctx context.Context, f *os.File, got Digest, size int64) error) (*spoolWriter, error) {
	// No file is made yet, but a fault that would stop one (the folder
	// gone, its disk full) fails Create at once, as making it did: before
	// a download begins, not once its bytes are in.
	if err := spoolRoom(dir); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return &spoolWriter{dir: dir, h: sha256.New(), keep: keep}, nil
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, errors.New("blob writer: write after commit or cancel")
	}
	if w.f == nil && !w.holdInMemory(len(p)) {
		f, err := spoolFile(w.dir, w.mem)
		if err != nil {
			return 0, err
		}
		w.f = f
		w.release()
	}
	var n int
	var err error
	if w.f == nil {
		w.mem = append(w.mem, p...)
		n = len(p)
	} else {
		n, err = w.f.Write(p)
	}
	w.h.Write(p[:n])
	w.written.Add(int64(n))
	return n, err
}

// holdInMemory reserves room for k more bytes in memory, when the blob and
// the budget allow it.
func (w *spoolWriter) holdInMemory(k int) bool {
	want := int64(len(w.mem) + k)
	if want > spoolMemoryMax {
		return false
	}
	grow := want - w.held
	if grow <= 0 {
		return true
	}
	if spoolMemoryHeld.Add(grow) > spoolMemoryBudget {
		spoolMemoryHeld.Add(-grow)
		return false
	}
	w.held = want
	return true
}

// spoolFile makes a temporary file in dir holding b.
func spoolFile(dir string, b []byte) (*os.File, error) {
	f, err := os.CreateTemp(dir, "blob-*")
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return f, nil
}

// release gives the memory held back to the budget. The caller holds mu.
func (w *spoolWriter) release() {
	spoolMemoryHeld.Add(-w.held)
	w.mem, w.held = nil, 0
}

// ReadAt reads from memory while the bytes are held there, until Commit
// has made them the store's blob: a fill's clients read them meanwhile.
func (w *spoolWriter) ReadAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	if f := w.f; f != nil {
		w.mu.Unlock()
		return f.ReadAt(p, off)
	}
	defer w.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if w.mem == nil && w.done {
		return 0, os.ErrClosed
	}
	if off >= int64(len(w.mem)) {
		return 0, io.EOF
	}
	n := copy(p, w.mem[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (w *spoolWriter) Written() int64 { return w.written.Load() }

// Commit checks the digest and hands the bytes to keep. Bytes held in
// memory reach their file only now, and stay readable from memory until
// keep is done: a client reading the last of them does not wait for the
// file or its fsync.
func (w *spoolWriter) Commit(ctx context.Context, expected Digest) (Digest, int64, error) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return "", 0, errors.New("blob writer: already committed or cancelled")
	}
	w.done = true
	size := w.written.Load()
	got := Digest(hex.EncodeToString(w.h.Sum(nil)))
	if expected != "" && expected != got {
		w.discard()
		w.mu.Unlock()
		return "", 0, fmt.Errorf("%w: expected sha256 %s, got %s", ErrDigestMismatch, expected, got)
	}
	f, mem := w.f, w.mem
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.release()
		w.mu.Unlock()
	}()
	if f == nil {
		var err error
		if f, err = spoolFile(w.dir, mem); err != nil {
			return "", 0, err
		}
	}
	if err := w.keep(ctx, f, got, size); err != nil {
		return "", 0, err
	}
	return got, size, nil
}

// takeSmall commits bytes still held in memory, of at most max, without
// making them a blob: the caller writes them into the database, and calls
// release once they are there. Until then they stay readable, as after
// Commit. It reports false, having changed nothing, when the bytes are
// not in memory (a file already holds them) or are more than max.
func (w *spoolWriter) takeSmall(max int64) (got Digest, b []byte, release func(), ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.f != nil || int64(len(w.mem)) > max {
		return "", nil, nil, false
	}
	w.done = true
	if w.mem == nil {
		// An empty blob: ReadAt tells a closed writer by mem being nil.
		w.mem = []byte{}
	}
	release = func() {
		w.mu.Lock()
		w.release()
		w.mu.Unlock()
	}
	return Digest(hex.EncodeToString(w.h.Sum(nil))), w.mem, release, true
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

// discard drops what was written. The caller holds mu.
func (w *spoolWriter) discard() error {
	w.release()
	if w.f == nil {
		return nil
	}
	w.f.Close()
	return os.Remove(w.f.Name())
}
