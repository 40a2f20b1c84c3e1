package storage_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// openOn counts this process's descriptors open on path.
func openOn(t *testing.T, path string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

func blobPath(root string, d storage.Digest) string {
	return filepath.Join(root, "sha256", string(d[:2]), string(d))
}

func readShared(t *testing.T, b *storage.SharedBlob) []byte {
	t.Helper()
	got, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
	if err != nil {
		t.Fatalf("reading a shared blob: %v", err)
	}
	return got
}

func TestSharedBlobsOpenEachBlobOnceAndReadByOffset(t *testing.T) {
	s, root := newFSBlobs(t)
	content := bytes.Repeat([]byte("larder "), 1000)
	d := commit(t, s, content)

	a, kept, err := s.OpenShared(t.Context(), d)
	if kept {
		t.Error("a blob opened for the first time is reported kept")
	}
	if err != nil {
		t.Fatalf("OpenShared: %v", err)
	}
	b, kept, err := s.OpenShared(t.Context(), d)
	if err != nil || !kept {
		t.Fatalf("OpenShared again = kept %v, %v; want the kept one", kept, err)
	}
	if a != b {
		t.Error("a second OpenShared of a blob in use opened it again")
	}
	if n := openOn(t, blobPath(root, d)); n != 1 {
		t.Errorf("%d descriptors open on the blob, want 1", n)
	}
	// Interleaved readers each see the whole blob.
	half := make([]byte, 10)
	if _, err := a.ReadAt(half, 7); err != nil || string(half) != "larder lar" {
		t.Errorf("ReadAt(7) = %q, %v", half, err)
	}
	if got := readShared(t, b); !bytes.Equal(got, content) || b.Size() != int64(len(content)) {
		t.Errorf("read %d bytes (size %d), want the %d committed", len(got), b.Size(), len(content))
	}
	a.Release()
	b.Release()
	// Kept open for the next request.
	if n := openOn(t, blobPath(root, d)); n != 1 {
		t.Errorf("after release: %d descriptors open on the blob, want 1 kept", n)
	}
	c, kept, err := s.OpenShared(t.Context(), d)
	if err != nil || c != a || !kept {
		t.Errorf("OpenShared after release = %p (kept %v), %v; want the kept %p", c, kept, err, a)
	}
	c.Release()
	s.Close()
	if n := openOn(t, blobPath(root, d)); n != 0 {
		t.Errorf("after Close: %d descriptors open on the blob", n)
	}
}

func TestSharedBlobsOfAMissingOrMalformedDigestAreNotFound(t *testing.T) {
	s, _ := newFSBlobs(t)
	for _, d := range []storage.Digest{
		storage.Digest(fmt.Sprintf("%064x", 1)),
		"../../../etc/passwd",
		"",
	} {
		if b, _, err := s.OpenShared(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("OpenShared(%q) = %v, %v; want ErrNotFound", d, b, err)
		}
	}
}

func TestADeletedBlobIsNoLongerServedFromAKeptDescriptor(t *testing.T) {
	for _, remove := range []struct {
		name string
		do   func(*storage.FSBlobs, storage.Digest) error
	}{
		{"Delete", func(s *storage.FSBlobs, d storage.Digest) error { return s.Delete(t.Context(), d) }},
		{"Quarantine", func(s *storage.FSBlobs, d storage.Digest) error { _, err := s.Quarantine(t.Context(), d); return err }},
	} {
		t.Run(remove.name, func(t *testing.T) {
			s, root := newFSBlobs(t)
			content := []byte("soon gone")
			d := commit(t, s, content)
			idle, _, _ := s.OpenShared(t.Context(), d)
			idle.Release()
			inUse, _, _ := s.OpenShared(t.Context(), d)

			if err := remove.do(s, d); err != nil {
				t.Fatalf("%s: %v", remove.name, err)
			}
			if b, _, err := s.OpenShared(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("OpenShared after %s = %v, %v; want ErrNotFound", remove.name, b, err)
			}
			// A request under way finishes with the bytes it started on.
			if got := readShared(t, inUse); !bytes.Equal(got, content) {
				t.Errorf("the request under way read %q", got)
			}
			inUse.Release()
			if n := openDeleted(t, root); n != 0 {
				t.Errorf("%d descriptors still open on the removed blob", n)
			}
		})
	}
}

// openDeleted counts descriptors open on files under root that are gone
// or moved, which /proc names with " (deleted)" or by their new path.
func openDeleted(t *testing.T, root string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && len(target) > len(root) && target[:len(root)] == root {
			n++
		}
	}
	return n
}

func TestSharedBlobsCloseWhatStaysUnusedAndKeepABoundedNumber(t *testing.T) {
	s, root := newFSBlobs(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano())
	storage.SetSharedBlobClock(s, func() time.Time { return time.Unix(0, now.Load()) })

	const blobs = 300 // more than are kept
	digests := make([]storage.Digest, blobs)
	for i := range digests {
		digests[i] = commit(t, s, []byte(fmt.Sprintf("blob %d", i)))
		b, _, err := s.OpenShared(t.Context(), digests[i])
		if err != nil {
			t.Fatal(err)
		}
		now.Add(int64(time.Millisecond))
		b.Release()
	}
	if n := openDeleted(t, root); n > 256 {
		t.Errorf("%d blobs kept open, want at most 256", n)
	}
	// The most recently used are the ones kept.
	if n := openOn(t, blobPath(root, digests[blobs-1])); n != 1 {
		t.Errorf("the last blob used is not kept open")
	}
	if n := openOn(t, blobPath(root, digests[0])); n != 0 {
		t.Errorf("the first blob used is still open")
	}

	inUse, _, _ := s.OpenShared(t.Context(), digests[blobs-1])
	now.Add(int64(2 * time.Minute))
	other, _, _ := s.OpenShared(t.Context(), digests[0]) // any open or release sweeps
	other.Release()
	if n := openDeleted(t, root); n != 2 {
		t.Errorf("after two idle minutes %d blobs are open, want the two in use or just released", n)
	}
	if got := readShared(t, inUse); string(got) != fmt.Sprintf("blob %d", blobs-1) {
		t.Errorf("a blob in use was closed under its reader: read %q", got)
	}
	inUse.Release()
}

func TestSharedBlobsReleasedMoreThanOpenedPanic(t *testing.T) {
	s, _ := newFSBlobs(t)
	b, _, err := s.OpenShared(t.Context(), commit(t, s, []byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	defer func() {
		if recover() == nil {
			t.Error("a second Release did not panic")
		}
	}()
	b.Release()
}

func TestSharedBlobsUnderConcurrentUseAndDeletion(t *testing.T) {
	s, root := newFSBlobs(t)
	contents := [][]byte{bytes.Repeat([]byte("a"), 5000), bytes.Repeat([]byte("b"), 7000)}
	var digests []storage.Digest
	for _, c := range contents {
		digests = append(digests, commit(t, s, c))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(digests)
				b, _, err := s.OpenShared(t.Context(), digests[k])
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if got := readShared(t, b); !bytes.Equal(got, contents[k]) {
					t.Errorf("read %d bytes of the wrong content", len(got))
				}
				b.Release()
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			s.Delete(t.Context(), digests[1])
			w, err := s.Create(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			w.Write(contents[1])
			if _, _, err := w.Commit(t.Context(), digests[1]); err != nil {
				t.Error(err)
			}
			w.Cancel()
		}
	})
	wg.Wait()
	s.Close()
	if n := openDeleted(t, root); n != 0 {
		t.Errorf("%d descriptors left open after Close", n)
	}
}
