package storage

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// keepDoc stores a document as a fetch does.
func keepDoc(t *testing.T, s *Store, key, body string, announces ...Artifact) Document {
	t.Helper()
	doc, err := s.KeepDocument(t.Context(), NewDocument{
		Doc:       Document{Registry: "npm", Key: key, Variant: "abbreviated", ContentType: "application/json", FetchedAt: time.Now()},
		Package:   key,
		Announces: announces,
	}, []byte(body))
	if err != nil {
		t.Fatalf("KeepDocument: %v", err)
	}
	return doc
}

func readBody(t *testing.T, s *Store, d Digest) (string, error) {
	t.Helper()
	rc, size, err := s.OpenBody(t.Context(), d)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err == nil && int64(len(b)) != size {
		t.Errorf("OpenBody(%s) says %d bytes and reads %d", d, size, len(b))
	}
	return string(b), err
}

func blobCount(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.Blobs.Walk(t.Context(), func(Digest, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestASmallDocumentIsKeptWithItsRowAndTheArtifactsItAnnounces(t *testing.T) {
	s := newStore(t)
	const body = `{"name":"lodash","versions":{}}`
	doc := keepDoc(t, s, "lodash", body, npmTarball("lodash", "4.17.21"))
	if doc.Body != DigestOf([]byte(body)) || doc.Size != int64(len(body)) {
		t.Errorf("the document names body %s of %d bytes, want %s of %d", doc.Body, doc.Size, DigestOf([]byte(body)), len(body))
	}
	if n := blobCount(t, s); n != 0 {
		t.Errorf("the blob store holds %d blobs, want none: a small body lives in the database", n)
	}
	if got, err := readBody(t, s, doc.Body); err != nil || got != body {
		t.Errorf("OpenBody = %q, %v; want %q", got, err, body)
	}
	row, err := s.Document(t.Context(), "npm", "lodash", "abbreviated")
	if err != nil || row.Body != doc.Body || row.Size != doc.Size {
		t.Errorf("the row = %+v, %v; want body %s", row, err, doc.Body)
	}
	if _, err := s.Artifact(t.Context(), "npm", npmTarball("lodash", "4.17.21").Path); err != nil {
		t.Errorf("the announced tarball has no row: %v", err)
	}
	if files, _ := pkgCounts(t, s, "npm", "lodash"); files != 0 {
		t.Errorf("lodash counts %d files held, want 0", files)
	}
}

func TestALargeDocumentBodyGoesToTheBlobStore(t *testing.T) {
	s := newStore(t)
	body := `{"name":"big","readme":"` + strings.Repeat("x", MaxInlineBody) + `"}`
	doc := keepDoc(t, s, "big", body)
	if _, err := s.Blobs.Stat(t.Context(), doc.Body); err != nil {
		t.Errorf("a body of %d bytes is not in the blob store: %v", len(body), err)
	}
	if _, err := s.DB.inlineBody(t.Context(), doc.Body); !errors.Is(err, ErrNotFound) {
		t.Errorf("a body of %d bytes is in the database too (%v)", len(body), err)
	}
	if got, err := readBody(t, s, doc.Body); err != nil || got != body {
		t.Errorf("OpenBody of the large body: %d bytes, %v", len(got), err)
	}
}

func TestGCDropsABodyNoDocumentNamesOnceItIsOld(t *testing.T) {
	s := newStore(t)
	old := keepDoc(t, s, "lodash", `{"v":1}`)
	current := keepDoc(t, s, "lodash", `{"v":2}`) // the upstream changed it
	shared := keepDoc(t, s, "other", `{"v":1}`)   // the old bytes, named again
	if shared.Body != old.Body {
		t.Fatal("the same bytes got two digests")
	}
	keepDoc(t, s, "other", `{"v":3}`)

	// Young: a reader may hold the row it read a moment ago.
	rep, err := s.GC(t.Context(), GCOptions{OrphanAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orphans != 0 {
		t.Errorf("gc removed %d young bodies, want none", rep.Orphans)
	}
	rep, err = s.GC(t.Context(), GCOptions{OrphanAge: time.Hour, Now: time.Now().Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orphans != 1 || rep.OrphanBytes != int64(len(`{"v":1}`)) {
		t.Errorf("gc removed %d orphans of %d bytes, want the one body no document names", rep.Orphans, rep.OrphanBytes)
	}
	if _, err := readBody(t, s, old.Body); !errors.Is(err, ErrNotFound) {
		t.Errorf("the replaced body is still there: %v", err)
	}
	if got, err := readBody(t, s, current.Body); err != nil || got != `{"v":2}` {
		t.Errorf("the current body = %q, %v", got, err)
	}
}

func TestVerifyFindsACorruptBodyKeptInTheDatabase(t *testing.T) {
	s := newStore(t)
	doc := keepDoc(t, s, "lodash", `{"name":"lodash"}`)
	sound := keepDoc(t, s, "left-pad", `{"name":"left-pad"}`)
	if _, err := s.DB.sql.ExecContext(t.Context(), `UPDATE document_bodies SET body = ? WHERE sha256 = ?`, []byte(`{"name":"lodasH"}`), string(doc.Body)); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(t.Context(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 2 || rep.OK != 1 || rep.Corrupt != 1 || len(rep.Problems) != 1 || rep.Problems[0].Digest != doc.Body {
		t.Fatalf("verify: %+v, want the one corrupt body found", rep)
	}
	if _, err := s.Document(t.Context(), "npm", "lodash", "abbreviated"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the document of the corrupt body is still there (%v): it must be fetched again", err)
	}
	if _, err := readBody(t, s, doc.Body); !errors.Is(err, ErrNotFound) {
		t.Errorf("the corrupt bytes are still kept: %v", err)
	}
	if got, err := readBody(t, s, sound.Body); err != nil || got != `{"name":"left-pad"}` {
		t.Errorf("the sound body = %q, %v", got, err)
	}
}

func TestAnExportCarriesTheBodiesKeptInTheDatabase(t *testing.T) {
	src := newStore(t)
	const body = `{"name":"lodash"}`
	doc := keepDoc(t, src, "lodash", body)
	var buf bytes.Buffer
	sum, err := src.Export(t.Context(), &buf, ExportOptions{})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if sum.Documents != 1 || sum.Blobs != 1 || sum.Bytes != int64(len(body)) {
		t.Errorf("export summary = %+v, want one document and its body", sum)
	}
	dst := newStore(t)
	importArchive(t, dst, buf.Bytes())
	if got, err := readBody(t, dst, doc.Body); err != nil || got != body {
		t.Errorf("the imported body = %q, %v; want %q", got, err, body)
	}
	wantSame(t, "documents", rows(t, dst, allDocuments), rows(t, src, allDocuments))
}
