// Package storagetest is the conformance suite every storage.Blobs backend
// passes. A backend's whole test is one call:
//
//	func TestFSBlobs(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Blobs {
//			b, err := storage.OpenFSBlobs(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return b
//		})
//	}
//
// Run checks only what the storage.Blobs and storage.BlobWriter contracts
// promise, so that the local folder and an object store behave alike. What a
// backend keeps beside its blobs (a staging folder, multipart uploads) is its
// own business: check it in newBlobs with a t.Cleanup, which runs when each
// subtest ends, after the subtest has cancelled or committed its writers.
package storagetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

// Run runs the conformance suite against the backend newBlobs makes. Every
// subtest calls newBlobs for a store of its own, which must start empty.
func Run(t *testing.T, newBlobs func(t *testing.T) storage.Blobs) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, b storage.Blobs)
	}{
		{"a committed blob reads back byte for byte", testRoundTrip},
		{"an empty blob is a blob", testEmptyBlob},
		{"a large stream in odd-sized chunks keeps its digest and size", testLargeStream},
		{"a blob is not visible until it is committed", testInvisibleUntilCommit},
		{"Commit with the expected digest keeps the blob", testCommitExpected},
		{"Commit with a wrong expected digest keeps nothing", testCommitMismatch},
		{"Cancel keeps nothing", testCancel},
		{"Cancel after Commit changes nothing", testCancelAfterCommit},
		{"a second Commit fails and keeps the first", testDoubleCommit},
		{"committing the same content twice is fine", testSameContentTwice},
		{"a reader open while the same content is committed again keeps reading", testRecommitUnderReader},
		{"ReadAt returns what has been written so far", testReadAt},
		{"ReadAt runs concurrently with Write", testReadAtConcurrent},
		{"a missing or malformed digest is not found", testNotFound},
		{"Stat returns the size of a committed blob", testStat},
		{"Delete removes a blob and deleting a missing one is not an error", testDelete},
		{"Walk lists exactly the committed blobs", testWalk},
		{"Walk returns the error its function returns", testWalkError},
		{"Open returns a reader that seeks", testSeek},
		{"concurrent writers of different content all commit", testConcurrentDifferent},
		{"concurrent writers of the same content agree on one blob", testConcurrentSame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBlobs(t)
			if got := walk(t, b); len(got) != 0 {
				t.Fatalf("a new store is not empty: Walk lists %v", got)
			}
			tt.test(t, b)
		})
	}
}

func testRoundTrip(t *testing.T, b storage.Blobs) {
	content := []byte("hello, larder\n")
	d := put(t, b, content)
	if got := read(t, b, d); !bytes.Equal(got, content) {
		t.Errorf("read back %q, want %q", got, content)
	}
	wantBlobs(t, b, map[storage.Digest]int64{d: int64(len(content))})
}

func testEmptyBlob(t *testing.T, b storage.Blobs) {
	const empty = storage.Digest("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	w := create(t, b)
	if n := w.Written(); n != 0 {
		t.Errorf("Written before any Write = %d, want 0", n)
	}
	d, size, err := w.Commit(t.Context(), empty)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if d != empty || size != 0 {
		t.Errorf("Commit = %s, %d; want %s, 0", d, size, empty)
	}
	if got := read(t, b, d); len(got) != 0 {
		t.Errorf("read back %q, want nothing", got)
	}
	wantBlobs(t, b, map[storage.Digest]int64{empty: 0})
}

func testLargeStream(t *testing.T, b storage.Blobs) {
	const total = 20<<20 + 13
	chunks := []int{1, 4093, 65537, 7, 1<<20 + 3, 333, 131071, 2, 8191}
	rng := rand.NewChaCha8([32]byte{'l', 'a', 'r', 'd', 'e', 'r'})
	h := sha256.New()
	w := create(t, b)
	var written int64
	buf := make([]byte, 1<<20+3)
	for i := 0; written < total; i++ {
		p := buf[:min(chunks[i%len(chunks)], total-int(written))]
		rng.Read(p)
		h.Write(p)
		n, err := w.Write(p)
		if err != nil || n != len(p) {
			t.Fatalf("Write of %d bytes at %d = %d, %v", len(p), written, n, err)
		}
		written += int64(n)
		if got := w.Written(); got != written {
			t.Fatalf("Written = %d after writing %d bytes", got, written)
		}
	}
	want := storage.Digest(hex.EncodeToString(h.Sum(nil)))
	d, size, err := w.Commit(t.Context(), want)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if d != want || size != total {
		t.Fatalf("Commit = %s, %d; want %s, %d", d, size, want, total)
	}

	r, size, err := b.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if size != total {
		t.Errorf("Open size = %d, want %d", size, total)
	}
	h.Reset()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	if got := storage.Digest(hex.EncodeToString(h.Sum(nil))); n != total || got != want {
		t.Errorf("read back %d bytes hashing to %s, want %d bytes hashing to %s", n, got, total, want)
	}
}

func testInvisibleUntilCommit(t *testing.T, b storage.Blobs) {
	content := []byte("not yet")
	d := storage.DigestOf(content)
	w := create(t, b)
	write(t, w, content)
	wantNotFound(t, b, d)
	wantBlobs(t, b, nil)
	if _, _, err := w.Commit(t.Context(), ""); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	wantBlobs(t, b, map[storage.Digest]int64{d: int64(len(content))})
}

func testCommitExpected(t *testing.T, b storage.Blobs) {
	content := []byte("expected")
	want := storage.DigestOf(content)
	w := create(t, b)
	write(t, w, content)
	d, size, err := w.Commit(t.Context(), want)
	if err != nil {
		t.Fatalf("Commit(%s): %v", want, err)
	}
	if d != want || size != int64(len(content)) {
		t.Errorf("Commit = %s, %d; want %s, %d", d, size, want, len(content))
	}
	if got := read(t, b, d); !bytes.Equal(got, content) {
		t.Errorf("read back %q, want %q", got, content)
	}
}

func testCommitMismatch(t *testing.T, b storage.Blobs) {
	content := []byte("the upstream sent this")
	expected := storage.DigestOf([]byte("but declared that"))
	w := create(t, b)
	write(t, w, content)
	_, _, err := w.Commit(t.Context(), expected)
	if !errors.Is(err, storage.ErrDigestMismatch) {
		t.Fatalf("Commit with a wrong digest = %v, want an error wrapping ErrDigestMismatch", err)
	}
	if err := w.Cancel(); err != nil {
		t.Errorf("Cancel after a failed Commit = %v, want nil", err)
	}
	wantNotFound(t, b, storage.DigestOf(content))
	wantNotFound(t, b, expected)
	wantBlobs(t, b, nil)
}

func testCancel(t *testing.T, b storage.Blobs) {
	content := []byte("changed my mind")
	w := create(t, b)
	write(t, w, content)
	if err := w.Cancel(); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if err := w.Cancel(); err != nil {
		t.Errorf("a second Cancel = %v, want nil", err)
	}
	if _, _, err := w.Commit(t.Context(), ""); err == nil {
		t.Errorf("Commit after Cancel succeeded, want an error")
	}
	wantNotFound(t, b, storage.DigestOf(content))
	wantBlobs(t, b, nil)
}

func testCancelAfterCommit(t *testing.T, b storage.Blobs) {
	content := []byte("kept")
	w := create(t, b)
	write(t, w, content)
	d, _, err := w.Commit(t.Context(), "")
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := w.Cancel(); err != nil {
		t.Errorf("Cancel after Commit = %v, want nil", err)
	}
	if got := read(t, b, d); !bytes.Equal(got, content) {
		t.Errorf("read back %q, want %q", got, content)
	}
	wantBlobs(t, b, map[storage.Digest]int64{d: int64(len(content))})
}

func testDoubleCommit(t *testing.T, b storage.Blobs) {
	content := []byte("once")
	w := create(t, b)
	write(t, w, content)
	d, _, err := w.Commit(t.Context(), "")
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, _, err := w.Commit(t.Context(), ""); err == nil {
		t.Errorf("a second Commit succeeded, want an error")
	}
	if _, _, err := w.Commit(t.Context(), storage.DigestOf([]byte("other"))); err == nil {
		t.Errorf("a second Commit with another digest succeeded, want an error")
	}
	if got := read(t, b, d); !bytes.Equal(got, content) {
		t.Errorf("read back %q, want %q", got, content)
	}
	wantBlobs(t, b, map[storage.Digest]int64{d: int64(len(content))})
}

func testSameContentTwice(t *testing.T, b storage.Blobs) {
	content := []byte("twice")
	d1 := put(t, b, content)
	d2 := put(t, b, content)
	if d1 != d2 {
		t.Errorf("the same content committed as %s and %s", d1, d2)
	}
	if got := read(t, b, d1); !bytes.Equal(got, content) {
		t.Errorf("read back %q, want %q", got, content)
	}
	wantBlobs(t, b, map[storage.Digest]int64{d1: int64(len(content))})
}

func testRecommitUnderReader(t *testing.T, b storage.Blobs) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	d := put(t, b, content)
	r, _, err := b.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	head := make([]byte, 100)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatalf("reading the head: %v", err)
	}
	put(t, b, content)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading on after the blob was committed again: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, content) {
		t.Errorf("read back %d bytes that differ from the %d committed", len(got), len(content))
	}
}

func testReadAt(t *testing.T, b storage.Blobs) {
	w := create(t, b)
	defer w.Cancel()
	write(t, w, []byte("abc"))
	wantReadAt(t, w, 0, 3, "abc")
	write(t, w, []byte("defg"))
	wantReadAt(t, w, 3, 4, "defg")
	wantReadAt(t, w, 1, 5, "bcdef")

	p := make([]byte, 4)
	n, err := w.ReadAt(p, 5)
	if n != 2 || string(p[:n]) != "fg" || err == nil {
		t.Errorf("ReadAt(4 bytes, 5) of 7 written = %d %q, %v; want 2 \"fg\" and an error", n, p[:n], err)
	}
	n, err = w.ReadAt(p, w.Written())
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt at Written() = %d, %v; want 0, io.EOF", n, err)
	}
}

func testReadAtConcurrent(t *testing.T, b storage.Blobs) {
	const total = 4 << 20
	content := make([]byte, total)
	rand.NewChaCha8([32]byte{'r', 'e', 'a', 'd', 'a', 't'}).Read(content)
	w := create(t, b)
	defer w.Cancel()

	var wg sync.WaitGroup
	wg.Go(func() {
		for off := 0; off < total; {
			n := min(off%9973+1, total-off)
			if _, err := w.Write(content[off : off+n]); err != nil {
				t.Errorf("Write at %d: %v", off, err)
				return
			}
			off += n
		}
	})
	for range 3 {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for {
				end := w.Written()
				start := max(0, end-int64(len(buf)))
				p := buf[:end-start]
				if n, err := w.ReadAt(p, start); err != nil || n != len(p) {
					t.Errorf("ReadAt(%d bytes, %d) with %d written = %d, %v", len(p), start, end, n, err)
					return
				}
				if !bytes.Equal(p, content[start:end]) {
					t.Errorf("ReadAt(%d bytes, %d) returned bytes that were not written there", len(p), start)
					return
				}
				if end == total {
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	d, size, err := w.Commit(t.Context(), storage.DigestOf(content))
	if err != nil || size != total {
		t.Fatalf("Commit = %s, %d, %v; want %d bytes", d, size, err, total)
	}
}

func testNotFound(t *testing.T, b storage.Blobs) {
	content := []byte("present")
	present := put(t, b, content)
	h := string(present)
	for _, tt := range []struct {
		name string
		d    storage.Digest
	}{
		{"a well-formed digest that was never committed", storage.DigestOf([]byte("absent"))},
		{"the empty digest", ""},
		{"a relative path", "../../etc/passwd"},
		{"a relative path as long as a digest", storage.Digest("../../../../etc/passwd" + strings.Repeat("/", 64-22))},
		{"an absolute path", "/etc/passwd"},
		{"a committed digest in upper case", storage.Digest(strings.ToUpper(h))},
		{"a committed digest one digit short", storage.Digest(h[:63])},
		{"a committed digest one digit long", storage.Digest(h + "0")},
		{"a committed digest with its algorithm prefix", storage.Digest("sha256:" + h)},
		{"a committed digest with a slash in it", storage.Digest(h[:2] + "/" + h[3:])},
		{"a committed digest with a NUL in it", storage.Digest(h[:63] + "\x00")},
		{"a committed digest with a non-hex digit", storage.Digest(h[:63] + "g")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantNotFound(t, b, tt.d)
			if err := b.Delete(t.Context(), tt.d); err != nil {
				t.Errorf("Delete(%q) = %v, want nil", tt.d, err)
			}
		})
	}
	if got := read(t, b, present); !bytes.Equal(got, content) {
		t.Errorf("after those, the committed blob reads %q, want %q", got, content)
	}
	wantBlobs(t, b, map[storage.Digest]int64{present: int64(len(content))})
}

func testStat(t *testing.T, b storage.Blobs) {
	content := []byte("seven b")
	d := put(t, b, content)
	size, err := b.Stat(t.Context(), d)
	if err != nil || size != int64(len(content)) {
		t.Errorf("Stat = %d, %v; want %d, nil", size, err, len(content))
	}
	if _, err := b.Stat(t.Context(), storage.DigestOf([]byte("absent"))); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat of a missing blob = %v, want an error wrapping ErrNotFound", err)
	}
}

func testDelete(t *testing.T, b storage.Blobs) {
	keep := put(t, b, []byte("keep"))
	gone := put(t, b, []byte("gone"))
	if err := b.Delete(t.Context(), gone); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, b, gone)
	wantBlobs(t, b, map[storage.Digest]int64{keep: 4})
	if err := b.Delete(t.Context(), gone); err != nil {
		t.Errorf("Delete of a deleted blob = %v, want nil", err)
	}
	if err := b.Delete(t.Context(), storage.DigestOf([]byte("never"))); err != nil {
		t.Errorf("Delete of a blob never committed = %v, want nil", err)
	}
	// A deleted blob can be committed again.
	put(t, b, []byte("gone"))
	wantBlobs(t, b, map[storage.Digest]int64{keep: 4, gone: 4})
}

func testWalk(t *testing.T, b storage.Blobs) {
	want := map[storage.Digest]int64{}
	for _, s := range []string{"one", "two two", "three three three"} {
		want[put(t, b, []byte(s))] = int64(len(s))
	}

	pending := create(t, b)
	defer pending.Cancel()
	write(t, pending, []byte("pending"))

	cancelled := create(t, b)
	write(t, cancelled, []byte("cancelled"))
	if err := cancelled.Cancel(); err != nil {
		t.Fatalf("Cancel: %v", err)
	}

	mismatched := create(t, b)
	write(t, mismatched, []byte("mismatched"))
	if _, _, err := mismatched.Commit(t.Context(), storage.DigestOf(nil)); !errors.Is(err, storage.ErrDigestMismatch) {
		t.Fatalf("Commit with a wrong digest = %v, want ErrDigestMismatch", err)
	}

	deleted := put(t, b, []byte("deleted"))
	if err := b.Delete(t.Context(), deleted); err != nil {
		t.Fatalf("Delete: %v", err)
	}

	wantBlobs(t, b, want)
}

func testWalkError(t *testing.T, b storage.Blobs) {
	put(t, b, []byte("a"))
	put(t, b, []byte("b"))
	stop := errors.New("stop here")
	calls := 0
	err := b.Walk(t.Context(), func(storage.Digest, int64) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("Walk = %v, want the error its function returned", err)
	}
	if calls != 1 {
		t.Errorf("Walk called its function %d times, want it to stop after the first error", calls)
	}
}

func testSeek(t *testing.T, b storage.Blobs) {
	content := make([]byte, 1000)
	for i := range content {
		content[i] = byte(i)
	}
	d := put(t, b, content)
	r, size, err := b.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if size != int64(len(content)) {
		t.Errorf("Open size = %d, want %d", size, len(content))
	}

	for _, tt := range []struct {
		offset int64
		whence int
		pos    int64
	}{
		{100, io.SeekStart, 100},
		{50, io.SeekCurrent, 160}, // after reading 10 at 100
		{-5, io.SeekEnd, 995},
		{0, io.SeekStart, 0},
	} {
		pos, err := r.Seek(tt.offset, tt.whence)
		if err != nil || pos != tt.pos {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", tt.offset, tt.whence, pos, err, tt.pos)
		}
		p := make([]byte, 10)
		n, err := io.ReadFull(r, p)
		want := content[pos:min(pos+10, int64(len(content)))]
		if !bytes.Equal(p[:n], want) || (n < 10) != (err != nil) {
			t.Errorf("reading 10 bytes at %d = %v, %v; want %v", pos, p[:n], err, want)
		}
	}
	if pos, err := r.Seek(0, io.SeekEnd); err != nil || pos != int64(len(content)) {
		t.Errorf("Seek(0, io.SeekEnd) = %d, %v; want %d", pos, err, len(content))
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("Read at the end = %d, %v; want 0, io.EOF", n, err)
	}
}

func testConcurrentDifferent(t *testing.T, b storage.Blobs) {
	const writers = 16
	want := map[storage.Digest]int64{}
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte(fmt.Sprintf("writer %d\n", i)), 1000+i)
		want[storage.DigestOf(contents[i])] = int64(len(contents[i]))
	}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			if err := putFrom(t, b, contents[i]); err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	wantBlobs(t, b, want)
	for d := range want {
		if got := read(t, b, d); storage.DigestOf(got) != d {
			t.Errorf("blob %s reads back bytes hashing to %s", d, storage.DigestOf(got))
		}
	}
}

func testConcurrentSame(t *testing.T, b storage.Blobs) {
	const writers = 16
	content := bytes.Repeat([]byte("the same tarball, fetched by everyone at once\n"), 20000)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			if err := putFrom(t, b, content); err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	d := storage.DigestOf(content)
	wantBlobs(t, b, map[storage.Digest]int64{d: int64(len(content))})
	if got := read(t, b, d); !bytes.Equal(got, content) {
		t.Errorf("read back %d bytes that differ from the %d committed", len(got), len(content))
	}
}

// putFrom writes content in a few chunks and commits it with its digest as
// the expectation; it is safe to call from any goroutine.
func putFrom(t *testing.T, b storage.Blobs, content []byte) error {
	w, err := b.Create(t.Context())
	if err != nil {
		return fmt.Errorf("Create: %w", err)
	}
	defer w.Cancel()
	for rest := content; len(rest) > 0; {
		n := min(len(rest), 32<<10+1)
		if _, err := w.Write(rest[:n]); err != nil {
			return fmt.Errorf("Write: %w", err)
		}
		rest = rest[n:]
	}
	want := storage.DigestOf(content)
	d, size, err := w.Commit(t.Context(), want)
	if err != nil {
		return fmt.Errorf("Commit: %w", err)
	}
	if d != want || size != int64(len(content)) {
		return fmt.Errorf("Commit = %s, %d; want %s, %d", d, size, want, len(content))
	}
	return nil
}

func create(t *testing.T, b storage.Blobs) storage.BlobWriter {
	t.Helper()
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return w
}

func write(t *testing.T, w storage.BlobWriter, p []byte) {
	t.Helper()
	before := w.Written()
	if n, err := w.Write(p); err != nil || n != len(p) {
		t.Fatalf("Write of %d bytes = %d, %v", len(p), n, err)
	}
	if got := w.Written(); got != before+int64(len(p)) {
		t.Fatalf("Written = %d after writing %d bytes to %d", got, len(p), before)
	}
}

// put commits content and checks the digest and size Commit reports.
func put(t *testing.T, b storage.Blobs, content []byte) storage.Digest {
	t.Helper()
	w := create(t, b)
	defer w.Cancel()
	write(t, w, content)
	d, size, err := w.Commit(t.Context(), "")
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if want := storage.DigestOf(content); d != want || size != int64(len(content)) {
		t.Fatalf("Commit = %s, %d; want %s, %d", d, size, want, len(content))
	}
	return d
}

// read returns a blob's content, checking the size Open and Stat report.
func read(t *testing.T, b storage.Blobs, d storage.Digest) []byte {
	t.Helper()
	r, size, err := b.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %s: %v", d, err)
	}
	if size != int64(len(got)) {
		t.Errorf("Open(%s) size = %d, but it reads %d bytes", d, size, len(got))
	}
	if s, err := b.Stat(t.Context(), d); err != nil || s != size {
		t.Errorf("Stat(%s) = %d, %v; want %d", d, s, err, size)
	}
	return got
}

func wantNotFound(t *testing.T, b storage.Blobs, d storage.Digest) {
	t.Helper()
	r, _, err := b.Open(t.Context(), d)
	if err == nil {
		r.Close()
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open(%q) = %v, want an error wrapping ErrNotFound", d, err)
	}
	if _, err := b.Stat(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(%q) = %v, want an error wrapping ErrNotFound", d, err)
	}
}

func wantReadAt(t *testing.T, w storage.BlobWriter, off int64, n int, want string) {
	t.Helper()
	p := make([]byte, n)
	got, err := w.ReadAt(p, off)
	if got != n || string(p) != want || (err != nil && !errors.Is(err, io.EOF)) {
		t.Errorf("ReadAt(%d bytes, %d) = %d %q, %v; want %q", n, off, got, p[:got], err, want)
	}
}

func walk(t *testing.T, b storage.Blobs) map[storage.Digest]int64 {
	t.Helper()
	got := map[storage.Digest]int64{}
	err := b.Walk(t.Context(), func(d storage.Digest, size int64) error {
		if _, dup := got[d]; dup {
			t.Errorf("Walk lists %s twice", d)
		}
		got[d] = size
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

// wantBlobs checks that Walk lists exactly want, with their sizes.
func wantBlobs(t *testing.T, b storage.Blobs, want map[storage.Digest]int64) {
	t.Helper()
	got := walk(t, b)
	for d, size := range want {
		if s, ok := got[d]; !ok {
			t.Errorf("Walk does not list %s", d)
		} else if s != size {
			t.Errorf("Walk lists %s with size %d, want %d", d, s, size)
		}
	}
	for d, size := range got {
		if _, ok := want[d]; !ok {
			t.Errorf("Walk lists %s (%d bytes), which was not committed", d, size)
		}
	}
}
