package storage

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// keepArtifact downloads body into a blob writer as a fill does, keeps it,
// and writes a's row; it returns the writer, released.
func keepArtifact(t *testing.T, s *Store, a Artifact, body []byte) BlobWriter {
	t.Helper()
	w, err := s.Blobs.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Cancel() })
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	kept, err := s.KeepBlob(t.Context(), w)
	if err != nil {
		t.Fatalf("KeepBlob: %v", err)
	}
	defer kept.Release()
	if kept.Digest != DigestOf(body) || kept.Size != int64(len(body)) {
		t.Fatalf("KeepBlob = %s, %d bytes; want %s, %d", kept.Digest, kept.Size, DigestOf(body), len(body))
	}
	if err := s.CommitArtifact(t.Context(), a, kept, time.Now()); err != nil {
		t.Fatalf("CommitArtifact: %v", err)
	}
	return w
}

func readArtifact(t *testing.T, s *Store, d Digest, size int64) ([]byte, error) {
	t.Helper()
	rc, n, err := s.OpenArtifact(t.Context(), d, size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err == nil && int64(len(b)) != n {
		t.Errorf("OpenArtifact(%s) says %d bytes and reads %d", d, n, len(b))
	}
	return b, err
}

func inFolder(s *Store) bool {
	_, ok := s.Blobs.(*FSBlobs)
	return ok
}

// newFolderStore is newStore for a test of bytes kept in the database,
// which only a store with a blob folder keeps.
func newFolderStore(t *testing.T) *Store {
	t.Helper()
	s := newStore(t)
	if !inFolder(s) {
		t.Skip("bytes are kept in the database only beside a blob folder")
	}
	return s
}

func TestASmallArtifactIsKeptInTheDatabaseInItsRowsTransaction(t *testing.T) {
	s := newStore(t)
	small := bytes.Repeat([]byte("tarball "), MaxInlineArtifact/8)
	a := npmTarball("lodash", "4.17.21")

	w, err := s.Blobs.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	w.Write(small)
	kept, err := s.KeepBlob(t.Context(), w)
	if err != nil {
		t.Fatal(err)
	}
	// Kept, not yet written: the bytes are nowhere a reader looks, and
	// the fill's clients still read them from the writer.
	if _, err := readArtifact(t, s, kept.Digest, kept.Size); !errors.Is(err, ErrNotFound) {
		t.Errorf("before the row: OpenArtifact = %v, want ErrNotFound", err)
	}
	buf := make([]byte, len(small))
	if n, err := w.ReadAt(buf, 0); n != len(small) || !bytes.Equal(buf, small) {
		t.Errorf("before the row, the writer reads %d bytes (%v), want all %d", n, err, len(small))
	}
	if err := s.CommitArtifact(t.Context(), a, kept, time.Now()); err != nil {
		t.Fatal(err)
	}
	kept.Release()
	if n, err := w.ReadAt(buf, 0); n != 0 || err == nil {
		t.Errorf("once released, the writer reads %d bytes (%v), want an error: its readers go to the row", n, err)
	}
	if got, err := readArtifact(t, s, DigestOf(small), int64(len(small))); err != nil || !bytes.Equal(got, small) {
		t.Errorf("OpenArtifact = %d bytes, %v; want the %d kept", len(got), err, len(small))
	}
	if got, err := readArtifact(t, s, DigestOf(small), -1); err != nil || !bytes.Equal(got, small) {
		t.Errorf("OpenArtifact of an unknown size = %d bytes, %v; want the %d kept", len(got), err, len(small))
	}
	want := 1
	if inFolder(s) {
		want = 0
	}
	if n := blobCount(t, s); n != want {
		t.Errorf("the blob store holds %d blobs, want %d: beside a blob folder small bytes live in the database, beside an object store in it", n, want)
	}

	large := bytes.Repeat([]byte("x"), MaxInlineArtifact+1)
	keepArtifact(t, s, npmTarball("lodash", "4.17.20"), large)
	if n := blobCount(t, s); n != want+1 {
		t.Errorf("after a large artifact the blob store holds %d blobs, want %d", n, want+1)
	}
	if got, err := readArtifact(t, s, DigestOf(large), int64(len(large))); err != nil || !bytes.Equal(got, large) {
		t.Errorf("OpenArtifact of the large one = %d bytes, %v", len(got), err)
	}
}

// Bytes kept in the database live as long as a row names them: gc's
// orphan pass spares them while the artifact is held, and takes them once
// it was evicted.
func TestBytesKeptInTheDatabaseGoWithTheirLastRow(t *testing.T) {
	s := newFolderStore(t)
	body := []byte("a small tarball")
	a := npmTarball("left-pad", "1.3.0")
	keepArtifact(t, s, a, body)
	later := time.Now().Add(time.Hour)
	if _, err := s.GC(t.Context(), GCOptions{OrphanAge: time.Nanosecond, Now: later}); err != nil {
		t.Fatal(err)
	}
	if _, err := readArtifact(t, s, DigestOf(body), int64(len(body))); err != nil {
		t.Fatalf("after gc's orphan pass, the held artifact's bytes: %v", err)
	}
	rep, err := s.GC(t.Context(), GCOptions{MaxSize: 1, OrphanAge: time.Nanosecond, Now: later})
	if err != nil || len(rep.Evicted) != 1 {
		t.Fatalf("gc evicted %d (%v), want the artifact", len(rep.Evicted), err)
	}
	if _, err := readArtifact(t, s, DigestOf(body), int64(len(body))); !errors.Is(err, ErrNotFound) {
		t.Errorf("after the eviction, OpenArtifact = %v; want ErrNotFound", err)
	}
}

// Verify checks bytes kept in the database as it checks files, and drops
// damaged ones with the row, so that the artifact is fetched again.
func TestVerifyDropsDamagedBytesKeptInTheDatabase(t *testing.T) {
	s := newFolderStore(t)
	body := []byte("the bytes as fetched")
	a := npmTarball("left-pad", "1.3.0")
	keepArtifact(t, s, a, body)
	if _, err := s.DB.sql.ExecContext(t.Context(), `UPDATE document_bodies SET body = ? WHERE sha256 = ?`,
		[]byte("the bytes, damaged"), string(DigestOf(body))); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(t.Context(), VerifyOptions{})
	if err != nil || rep.Corrupt != 1 {
		t.Fatalf("Verify: %d corrupt (%v), want 1: %+v", rep.Corrupt, err, rep)
	}
	row, err := s.DB.Artifact(t.Context(), a.Registry, a.Path)
	if err != nil || row.Cached() {
		t.Errorf("after Verify the row says held (%v): %+v", err, row)
	}
	if _, err := readArtifact(t, s, DigestOf(body), -1); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Verify, OpenArtifact = %v; want ErrNotFound", err)
	}
}

// The check that a blob store is its database's looks only at blobs the
// store should hold: bytes kept in the database say nothing of it.
func TestTheStoreIdentitySampleLeavesOutBytesKeptInTheDatabase(t *testing.T) {
	s := newFolderStore(t)
	keepArtifact(t, s, npmTarball("left-pad", "1.3.0"), []byte("small"))
	large := []byte(strings.Repeat("large ", MaxInlineArtifact/5))
	keepArtifact(t, s, npmTarball("lodash", "4.17.21"), large)
	sample, err := s.DB.identitySample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(sample) != 1 || sample[0] != DigestOf(large) {
		t.Errorf("identity sample = %v, want only the large artifact's blob %s", sample, DigestOf(large))
	}
}

// An empty artifact (an empty checksum file, say) is kept as any other.
func TestAnEmptyArtifactIsKept(t *testing.T) {
	s := newStore(t)
	keepArtifact(t, s, npmTarball("empty", "1.0.0"), nil)
	if got, err := readArtifact(t, s, DigestOf(nil), 0); err != nil || len(got) != 0 {
		t.Errorf("OpenArtifact of the empty artifact = %d bytes, %v; want none, no error", len(got), err)
	}
}
