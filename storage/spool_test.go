package storage

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func openTestBlobs(t *testing.T) (*FSBlobs, string) {
	t.Helper()
	root := t.TempDir()
	b, err := OpenFSBlobs(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, filepath.Join(root, "tmp")
}

func spooled(t *testing.T, tmp string) int {
	t.Helper()
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestASmallBlobReachesAFileOnlyWhenCommitted(t *testing.T) {
	b, tmp := openTestBlobs(t)
	before := spoolMemoryHeld.Load()
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	body := []byte("a small tarball")
	w.Write(body[:5])
	w.Write(body[5:])
	if n := spooled(t, tmp); n != 0 {
		t.Errorf("%d files spooled for a blob held in memory", n)
	}
	p := make([]byte, len(body))
	if n, err := w.ReadAt(p, 0); n != len(body) || err != nil || !bytes.Equal(p, body) {
		t.Errorf("ReadAt = %d %q, %v", n, p[:n], err)
	}
	d, size, err := w.Commit(t.Context(), DigestOf(body))
	if err != nil || size != int64(len(body)) {
		t.Fatalf("Commit = %d, %v", size, err)
	}
	rc, _, err := b.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("the committed blob: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("the blob holds %q", got)
	}
	if n := spooled(t, tmp); n != 0 {
		t.Errorf("%d files left in the spool folder", n)
	}
	if held := spoolMemoryHeld.Load(); held != before {
		t.Errorf("%d bytes still counted as held in memory", held-before)
	}
}

func TestALargeBlobMovesToItsFileAsItGrows(t *testing.T) {
	b, tmp := openTestBlobs(t)
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	body := bytes.Repeat([]byte("0123456789abcdef"), spoolMemoryMax/16+1000)
	half := spoolMemoryMax - 7
	w.Write(body[:half])
	if n := spooled(t, tmp); n != 0 {
		t.Fatalf("%d files spooled before the blob outgrew memory", n)
	}
	w.Write(body[half:])
	if n := spooled(t, tmp); n != 1 {
		t.Fatalf("%d files spooled for a blob past %d bytes; want 1", n, spoolMemoryMax)
	}
	p := make([]byte, 64)
	if n, err := w.ReadAt(p, int64(half-32)); n != 64 || err != nil || !bytes.Equal(p, body[half-32:half+32]) {
		t.Errorf("ReadAt across where memory ended = %d, %v", n, err)
	}
	if _, _, err := w.Commit(t.Context(), DigestOf(body)); err != nil {
		t.Fatal(err)
	}
}

func TestSpoolWritersShareABoundedAmountOfMemory(t *testing.T) {
	b, tmp := openTestBlobs(t)
	before := spoolMemoryHeld.Load()
	var writers []BlobWriter
	defer func() {
		for _, w := range writers {
			w.Cancel()
		}
	}()
	chunk := bytes.Repeat([]byte{'x'}, spoolMemoryMax)
	for range spoolMemoryBudget/spoolMemoryMax + 2 {
		w, err := b.Create(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		writers = append(writers, w)
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if held := spoolMemoryHeld.Load(); held > spoolMemoryBudget {
		t.Errorf("%d bytes held in memory; the budget is %d", held, spoolMemoryBudget)
	}
	if n := spooled(t, tmp); n < 2 {
		t.Errorf("%d writers spooled to files past the budget; want at least 2", n)
	}
	for _, w := range writers {
		w.Cancel()
	}
	writers = nil
	if held := spoolMemoryHeld.Load(); held != before {
		t.Errorf("%d bytes still counted as held after every writer was cancelled", held-before)
	}
	if n := spooled(t, tmp); n != 0 {
		t.Errorf("%d files left after Cancel", n)
	}
}

func TestCreateFailsAtOnceWithoutItsSpoolFolder(t *testing.T) {
	b, tmp := openTestBlobs(t)
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if w, err := b.Create(t.Context()); err == nil {
		w.Cancel()
		t.Fatal("Create succeeded with its spool folder gone")
	}
}

// On a roomy disk, a Create soon after another does not ask the disk
// again (spoolRoom): one made after its folder went fails on Commit
// instead, and keeps nothing.
func TestAWriterMadeAfterItsFolderWentFailsToCommit(t *testing.T) {
	b, tmp := openTestBlobs(t)
	first, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	first.Cancel()
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	w, err := b.Create(t.Context())
	if err != nil {
		return // the disk was not roomy: Create asked it, and failed at once
	}
	defer w.Cancel()
	body := []byte("bytes with nowhere to go")
	w.Write(body)
	if _, _, err := w.Commit(t.Context(), DigestOf(body)); err == nil {
		t.Fatal("Commit succeeded with its spool folder gone")
	}
	if _, _, err := b.Open(t.Context(), DigestOf(body)); err == nil {
		t.Error("a blob was kept from a writer whose Commit failed")
	}
}

func TestAWriterTakesNoWriteOnceCommitted(t *testing.T) {
	b, _ := openTestBlobs(t)
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("done"))
	if _, _, err := w.Commit(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if n, err := w.ReadAt(make([]byte, 4), 0); err == nil {
		t.Errorf("ReadAt after Commit = %d, nil; want an error sending readers to the blob", n)
	}
}
