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

// fakeSharedClock has s's shared blobs read a clock that moves only when
// the returned function moves it.
func fakeSharedClock(s *storage.FSBlobs) (advance func(time.Duration)) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC).UnixNano())
	storage.SetSharedBlobClock(s, func() time.Time { return time.Unix(0, now.Load()) })
	return func(d time.Duration) { now.Add(int64(d)) }
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

	a, err := s.OpenShared(t.Context(), d)
	if err != nil {
		t.Fatalf("OpenShared: %v", err)
	}
	b, err := s.OpenShared(t.Context(), d)
	if err != nil {
		t.Fatalf("OpenShared again: %v", err)
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
	if n := s.OpenFiles(); n != 1 {
		t.Errorf("OpenFiles = %d, want the 1 kept", n)
	}
	c, err := s.OpenShared(t.Context(), d)
	if err != nil || c != a {
		t.Errorf("OpenShared after release = %p, %v; want the kept %p", c, err, a)
	}
	c.Release()
	s.Close()
	if n := openOn(t, blobPath(root, d)); n != 0 || s.OpenFiles() != 0 {
		t.Errorf("after Close: %d descriptors open on the blob, OpenFiles = %d", n, s.OpenFiles())
	}
}

func TestSharedBlobsOfAMissingOrMalformedDigestAreNotFound(t *testing.T) {
	s, _ := newFSBlobs(t)
	for _, d := range []storage.Digest{
		storage.Digest(fmt.Sprintf("%064x", 1)),
		"../../../etc/passwd",
		"",
	} {
		if b, err := s.OpenShared(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
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
			idle, _ := s.OpenShared(t.Context(), d)
			idle.Release()
			inUse, _ := s.OpenShared(t.Context(), d)

			if err := remove.do(s, d); err != nil {
				t.Fatalf("%s: %v", remove.name, err)
			}
			if b, err := s.OpenShared(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
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
	advance := fakeSharedClock(s)

	const blobs = 300 // more than are kept
	digests := make([]storage.Digest, blobs)
	for i := range digests {
		digests[i] = commit(t, s, []byte(fmt.Sprintf("blob %d", i)))
		b, err := s.OpenShared(t.Context(), digests[i])
		if err != nil {
			t.Fatal(err)
		}
		advance(time.Millisecond)
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

	inUse, _ := s.OpenShared(t.Context(), digests[blobs-1])
	advance(2 * time.Minute)
	other, _ := s.OpenShared(t.Context(), digests[0]) // any open or release sweeps
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
	b, err := s.OpenShared(t.Context(), commit(t, s, []byte("x")))
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
				b, err := s.OpenShared(t.Context(), digests[k])
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
	if n := s.OpenFiles(); n > len(digests) {
		t.Errorf("OpenFiles = %d with nothing in use, more than the %d blobs", n, len(digests))
	}
	s.Close()
	if n := openDeleted(t, root); n != 0 {
		t.Errorf("%d descriptors left open after Close", n)
	}
	if n := s.OpenFiles(); n != 0 {
		t.Errorf("OpenFiles = %d after Close", n)
	}
}

// Delete may remove a blob between another request's open and its entry
// in the set: that descriptor must not be kept and handed out after the
// Delete has returned.
func TestABlobOpenedWhileItIsDeletedIsNotKept(t *testing.T) {
	s, root := newFSBlobs(t)
	deadline := time.Now().Add(5 * time.Second)
	for round := 0; round < 1000 && time.Now().Before(deadline); round++ {
		d := commit(t, s, []byte(fmt.Sprintf("round %d", round)))
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if b, err := s.OpenShared(t.Context(), d); err == nil {
					b.Release()
				}
			})
		}
		wg.Go(func() {
			if err := s.Delete(t.Context(), d); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		if b, err := s.OpenShared(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("round %d: OpenShared after Delete = %v, %v; want ErrNotFound", round, b, err)
		}
	}
	if n := openDeleted(t, root); n != 0 {
		t.Errorf("%d descriptors still open on deleted blobs", n)
	}
}

// A blob kept open but removed or replaced by other means than Delete (by
// hand, a restore) is checked against its path, as nginx's
// open_file_cache_valid does, and dropped.
func TestAKeptBlobRemovedOrReplacedByHandIsDropped(t *testing.T) {
	s, root := newFSBlobs(t)
	advance := fakeSharedClock(s)

	gone := commit(t, s, []byte("removed by hand"))
	replaced := commit(t, s, []byte("restored from a backup"))
	kept := map[storage.Digest]*storage.SharedBlob{}
	for _, d := range []storage.Digest{gone, replaced} {
		b, err := s.OpenShared(t.Context(), d)
		if err != nil {
			t.Fatal(err)
		}
		b.Release()
		kept[d] = b
	}
	if err := os.Remove(blobPath(root, gone)); err != nil {
		t.Fatal(err)
	}
	copyPath := blobPath(root, replaced) + ".restored"
	if err := os.WriteFile(copyPath, []byte("restored from a backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(copyPath, blobPath(root, replaced)); err != nil {
		t.Fatal(err)
	}

	advance(11 * time.Second)
	if b, err := s.OpenShared(t.Context(), gone); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("OpenShared of a blob removed by hand = %v, %v; want ErrNotFound", b, err)
	}
	b, err := s.OpenShared(t.Context(), replaced)
	if err != nil || b == kept[replaced] {
		t.Fatalf("OpenShared of a blob replaced by hand = %p, %v; want it opened afresh", b, err)
	}
	b.Release()
	if n := openDeleted(t, root); n != 1 {
		t.Errorf("%d descriptors open under the blob folder, want only the restored blob's", n)
	}
}

// Idle blobs are closed even when no request comes to sweep them.
func TestSharedBlobsAreSweptWithoutRequests(t *testing.T) {
	s, root := newFSBlobs(t)
	advance := fakeSharedClock(s)
	d := commit(t, s, []byte("idle"))
	b, err := s.OpenShared(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	if !storage.SharedSweepPending(s) {
		t.Fatal("no sweep waits for a blob released and kept open")
	}
	advance(30 * time.Second)
	storage.SweepSharedBlobs(s)
	if openOn(t, blobPath(root, d)) != 1 || !storage.SharedSweepPending(s) {
		t.Error("a blob idle for less than a minute was closed, or no sweep waits for it")
	}
	advance(time.Minute)
	storage.SweepSharedBlobs(s)
	if n := openOn(t, blobPath(root, d)); n != 0 {
		t.Errorf("%d descriptors open on a blob idle for 90 s", n)
	}
	if storage.SharedSweepPending(s) {
		t.Error("a sweep still waits with nothing open")
	}
}

// A blob found not to be what it was opened as is opened afresh next
// time; a request under way keeps reading the one it has.
func TestAnInvalidatedBlobIsOpenedAfresh(t *testing.T) {
	s, root := newFSBlobs(t)
	d := commit(t, s, []byte("suspect"))
	a, err := s.OpenShared(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	a.Invalidate()
	b, err := s.OpenShared(t.Context(), d)
	if err != nil || b == a {
		t.Fatalf("OpenShared after Invalidate = %p, %v; want a new one", b, err)
	}
	if got := readShared(t, a); string(got) != "suspect" {
		t.Errorf("the request under way read %q", got)
	}
	a.Release()
	if n := openOn(t, blobPath(root, d)); n != 1 {
		t.Errorf("%d descriptors open on the blob, want the new one only", n)
	}
	b.Release()
}

// Resident tells whether a range is in the page cache: after the kernel is
// told to drop the blob's pages it is not, after a read it is.
func TestSharedBlobResidentFollowsThePageCache(t *testing.T) {
	s, root := newFSBlobs(t)
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	d := commit(t, s, content)
	b, err := s.OpenShared(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	size := b.Size()
	for _, r := range [][2]int64{{0, 0}, {-1, 10}, {size - 10, 11}, {0, size + 1}} {
		if b.Resident(r[0], r[1]) {
			t.Errorf("Resident(%d, %d) of a %d-byte blob = true", r[0], r[1], size)
		}
	}
	if err := storage.CachestatRefused(b); err != nil {
		t.Skipf("cachestat(2) is refused here (%v: a kernel before 6.5, or a seccomp filter): Resident always says false", err)
	}
	if err := dropPages(blobPath(root, d)); err != nil {
		t.Skipf("cannot drop the blob's pages here: %v", err)
	}
	if b.Resident(0, size) {
		t.Error("Resident right after the blob's pages were dropped")
	}
	// Its last bytes read, not its start (reading ahead goes forwards).
	tail := int64(16 << 10)
	if _, err := b.ReadAt(make([]byte, tail), size-tail); err != nil {
		t.Fatal(err)
	}
	if !b.Resident(size-tail, tail) || !b.Resident(size-100, 100) || b.Resident(0, 100) || b.Resident(0, size) {
		t.Errorf("after reading the last 16 KiB: Resident of them %v, of the last 100 bytes %v, of the first %v, of all %v; want true, true, false, false",
			b.Resident(size-tail, tail), b.Resident(size-100, 100), b.Resident(0, 100), b.Resident(0, size))
	}
	// The kernel may take pages back at any moment; on a machine busy
	// with the whole suite it once did between a read and the look: a
	// blob read in full must be found resident on one of a few tries.
	resident := false
	for try := 0; try < 5 && !resident; try++ {
		if got := readShared(t, b); !bytes.Equal(got, content) {
			t.Fatal("read the wrong content")
		}
		resident = b.Resident(0, size) && b.Resident(5000, 300_000)
	}
	if !resident {
		t.Error("a blob just read in full is not resident")
	}
}
