package storage

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestVerifyFindsMissingAndCorruptBlobsAndRepairsTheirRows(t *testing.T) {
	s := seed(t)
	// A lost artifact, a corrupt artifact and a corrupt document body.
	if err := os.Remove(blobFile(s.Store, s.leftPad.SHA256)); err != nil {
		t.Fatal(err)
	}
	corrupt := map[Digest][]byte{}
	for _, d := range []Digest{s.wheel.SHA256, s.lodashAbbrev.Body} {
		b, _ := os.ReadFile(blobFile(s.Store, d))
		b[len(b)/2] ^= 1
		if err := os.WriteFile(blobFile(s.Store, d), b, 0o644); err != nil {
			t.Fatal(err)
		}
		corrupt[d] = b
	}
	filesBefore, bytesBefore := pkgCounts(t, s.Store, "pypi", "requests")

	var done, total int64
	var items, totalItems int
	rep, err := s.Verify(t.Context(), VerifyOptions{Progress: func(p Progress) {
		done, total, items, totalItems = p.Bytes, p.TotalBytes, p.Items, p.TotalItems
	}})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Clean() || rep.Checked != 8 || rep.OK != 5 || rep.Missing != 1 || rep.Corrupt != 2 {
		t.Errorf("report: clean %v, checked %d, ok %d, missing %d, corrupt %d; want 8 checked, 5 ok, 1 missing, 2 corrupt",
			rep.Clean(), rep.Checked, rep.OK, rep.Missing, rep.Corrupt)
	}
	if done == 0 || done != total {
		t.Errorf("progress ended at %d of %d, want all of it", done, total)
	}
	if items != 8 || totalItems != 8 {
		t.Errorf("progress ended at %d of %d blobs, want 8 of 8", items, totalItems)
	}

	problems := map[Digest]BlobProblem{}
	for _, p := range rep.Problems {
		problems[p.Digest] = p
	}
	for _, tt := range []struct {
		name    string
		digest  Digest
		missing bool
		row     string
	}{
		{"the missing artifact", s.leftPad.SHA256, true, "artifact npm/left-pad/-/left-pad-1.3.0.tgz"},
		{"the corrupt artifact", s.wheel.SHA256, false, "artifact pypi/requests/requests-2.32.3-py3-none-any.whl"},
		{"the corrupt document", s.lodashAbbrev.Body, false, "document npm/lodash (abbreviated)"},
	} {
		p, ok := problems[tt.digest]
		if !ok {
			t.Errorf("%s (%s) is not reported", tt.name, tt.digest)
			continue
		}
		if p.Missing != tt.missing || len(p.Rows) != 1 || p.Rows[0].String() != tt.row {
			t.Errorf("%s: missing %v, rows %v; want missing %v, rows [%s]", tt.name, p.Missing, p.Rows, tt.missing, tt.row)
		}
		if tt.missing {
			continue
		}
		// Quarantined, byte for byte, and gone from the store.
		want := filepath.Join(s.Dir, "blobs", "quarantine", string(tt.digest))
		if b, err := os.ReadFile(want); p.Quarantined != want || err != nil || string(b) != string(corrupt[tt.digest]) {
			t.Errorf("%s: quarantined at %q (%v), want its bytes at %s", tt.name, p.Quarantined, err, want)
		}
		if _, err := s.Blobs.Stat(t.Context(), tt.digest); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s is still in the store: %v", tt.name, err)
		}
	}

	// The rows are fixed so that each thing is fetched again on next use.
	for _, a := range []Artifact{s.leftPad, s.wheel} {
		got, err := s.Artifact(t.Context(), a.Registry, a.Path)
		if err != nil || got.Cached() {
			t.Errorf("artifact %s: %+v, %v; want its row kept and its bytes forgotten", a.Path, got, err)
		}
	}
	if _, err := s.Document(t.Context(), "npm", "lodash", "abbreviated"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the corrupt document's row: %v, want it deleted", err)
	}
	if _, err := s.Document(t.Context(), "npm", "lodash", "full"); err != nil {
		t.Errorf("a sound document of the same package: %v, want it kept", err)
	}
	if files, bytes := pkgCounts(t, s.Store, "pypi", "requests"); files != filesBefore-1 || bytes != bytesBefore-s.wheel.Size {
		t.Errorf("requests counts %d files, %d bytes; want %d, %d", files, bytes, filesBefore-1, bytesBefore-s.wheel.Size)
	}

	again, err := s.Verify(t.Context(), VerifyOptions{})
	if err != nil {
		t.Fatalf("second Verify: %v", err)
	}
	if !again.Clean() || again.Checked != 5 || again.OK != 5 || len(again.Problems) != 0 {
		t.Errorf("second Verify = %+v, want 5 checked, all ok", again)
	}
}

func TestVerifyOfASoundFolderIsCleanAndCountsUnreferencedBlobs(t *testing.T) {
	s := seed(t)
	putBlob(t, s.Store, "a body a replaced document left behind")
	rep, err := s.Verify(t.Context(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() || rep.Checked != 8 || rep.OK != 8 || rep.Unreferenced != 1 {
		t.Errorf("Verify = %+v, want 8 checked, 8 ok, 1 unreferenced", rep)
	}
}

func TestAQuarantinedBlobNeverOverwritesAnEarlierOne(t *testing.T) {
	s := newStore(t)
	d, _ := putBlob(t, s, "corrupt, twice")
	first, err := s.Blobs.(Quarantiner).Quarantine(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	putBlob(t, s, "corrupt, twice")
	second, err := s.Blobs.(Quarantiner).Quarantine(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	if first == second || filepath.Dir(first) != filepath.Dir(second) {
		t.Errorf("quarantined at %s, then at %s; want two files side by side", first, second)
	}
	if _, err := s.Blobs.(Quarantiner).Quarantine(t.Context(), d); !errors.Is(err, ErrNotFound) {
		t.Errorf("quarantining a missing blob = %v, want ErrNotFound", err)
	}
}

// lru is a folder of four artifacts (and one document), sized and served so
// that the order of eviction is clear:
//
//	b  100 bytes  never served, first fetched at 0
//	e  200 bytes  never served, first fetched at 5
//	a  300 bytes  served at 10
//	d  400 bytes  served at 20
//	c  500 bytes  served at 30
//	a document of 50 bytes
type lru struct {
	*Store
	byName map[string]Artifact
	doc    Document
}

func newLRU(t *testing.T) lru {
	t.Helper()
	l := lru{Store: newStore(t), byName: map[string]Artifact{}}
	l.doc = putDoc(t, l.Store, Document{Registry: "npm", Key: "pkg", Variant: "full", FetchedAt: at(0)}, strings.Repeat("d", 50), "pkg")
	for _, x := range []struct {
		name          string
		size          int
		first, served int
	}{
		{"b", 100, 0, -1}, {"e", 200, 5, -1}, {"a", 300, 1, 10}, {"d", 400, 2, 20}, {"c", 500, 3, 30},
	} {
		a := hold(t, l.Store, npmTarball("pkg", x.name), strings.Repeat(x.name, x.size), at(x.first))
		if x.served >= 0 {
			served(t, l.Store, a, 1, at(x.served))
		}
		l.byName[x.name] = a
	}
	return l
}

func evictedNames(l lru, rep GCReport) []string {
	var out []string
	for _, e := range rep.Evicted {
		for n, a := range l.byName {
			if a.Path == e.Path {
				out = append(out, n)
			}
		}
	}
	return out
}

func TestGCEvictsLeastRecentlyServedFirstDownToTheSize(t *testing.T) {
	const total = 50 + 100 + 200 + 300 + 400 + 500
	tests := []struct {
		name        string
		maxSize     int64
		wantEvicted []string
		wantAfter   int64
	}{
		{"a limit above what is held evicts nothing", 10_000, nil, total},
		{"a limit of exactly what is held evicts nothing", total, nil, total},
		{"no limit evicts nothing", 0, nil, total},
		{"one byte over evicts the least recently served", total - 1, []string{"b"}, total - 100},
		{"never served goes first, oldest first, then by last served", total - 301, []string{"b", "e", "a"}, total - 600},
		{"a limit below the documents evicts every artifact and keeps the documents", 1, []string{"b", "e", "a", "d", "c"}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLRU(t)
			rep, err := l.GC(t.Context(), GCOptions{MaxSize: tt.maxSize})
			if err != nil {
				t.Fatalf("GC: %v", err)
			}
			if got := evictedNames(l, rep); !slices.Equal(got, tt.wantEvicted) {
				t.Errorf("evicted %v, want %v", got, tt.wantEvicted)
			}
			if rep.Before != total || rep.After != tt.wantAfter || rep.BytesFreed != total-tt.wantAfter || rep.BlobsDeleted != len(tt.wantEvicted) {
				t.Errorf("report: before %d, after %d, freed %d in %d blobs; want %d, %d, %d in %d",
					rep.Before, rep.After, rep.BytesFreed, rep.BlobsDeleted, total, tt.wantAfter, total-tt.wantAfter, len(tt.wantEvicted))
			}
			for n, a := range l.byName {
				evicted := slices.Contains(tt.wantEvicted, n)
				got, _ := l.Artifact(t.Context(), "npm", a.Path)
				_, statErr := l.Blobs.Stat(t.Context(), a.SHA256)
				if got.Cached() == evicted || errors.Is(statErr, ErrNotFound) != evicted {
					t.Errorf("artifact %s: row held %v, blob present %v; want both %v", n, got.Cached(), statErr == nil, !evicted)
				}
			}
			if _, err := l.Document(t.Context(), "npm", "pkg", "full"); err != nil {
				t.Errorf("the document: %v, want it kept", err)
			}
			if _, err := l.Blobs.Stat(t.Context(), l.doc.Body); err != nil {
				t.Errorf("the document's body: %v, want it kept", err)
			}
			files, bytes := pkgCounts(t, l.Store, "npm", "pkg")
			if want := int64(5 - len(tt.wantEvicted)); files != want || bytes != tt.wantAfter-50 {
				t.Errorf("package counts %d files, %d bytes; want %d, %d", files, bytes, want, tt.wantAfter-50)
			}
		})
	}
}

// A file fetched by `larder warm` is never served until an install asks for
// it; its fetch counts as its use, so it is not the first to go.
func TestGCCountsAFetchNeverServedAsUseFromItsFetch(t *testing.T) {
	l := newLRU(t)
	l.byName["w"] = hold(t, l.Store, npmTarball("pkg", "w"), strings.Repeat("w", 60), at(25))
	const total = 50 + 100 + 200 + 300 + 400 + 500 + 60
	var last Progress
	rep, err := l.GC(t.Context(), GCOptions{MaxSize: total - 1001, Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if last.Items != len(rep.Evicted) || last.Bytes != rep.BytesFreed || last.TotalBytes != 1001 {
		t.Errorf("progress ended at %+v; want %d evicted, %d of 1001 bytes freed", last, len(rep.Evicted), rep.BytesFreed)
	}
	if got, want := evictedNames(l, rep), []string{"b", "e", "a", "d", "w"}; !slices.Equal(got, want) {
		t.Errorf("evicted %v, want %v: the file fetched at 25 goes after those served at 10 and 20, before the one served at 30", got, want)
	}
}

func TestGCKeepsABlobAnotherRowStillPointsAt(t *testing.T) {
	l := newLRU(t)
	// "old" shares its bytes with c (the most recently served) and is the
	// least recently served of all; "doclike" has the document's bytes.
	old := hold(t, l.Store, npmTarball("other", "old"), strings.Repeat("c", 500), at(-10))
	doclike := hold(t, l.Store, npmTarball("other", "doclike"), strings.Repeat("d", 50), at(-5))

	// Evicting old and doclike frees nothing; b then frees 100.
	rep, err := l.GC(t.Context(), GCOptions{MaxSize: 1550 - 1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rep.Evicted {
		got = append(got, e.Path+map[bool]string{true: " deleted", false: " kept"}[e.Deleted])
	}
	want := []string{old.Path + " kept", doclike.Path + " kept", l.byName["b"].Path + " deleted"}
	if !slices.Equal(got, want) {
		t.Errorf("evicted %v, want %v", got, want)
	}
	if _, err := l.Blobs.Stat(t.Context(), old.SHA256); err != nil {
		t.Errorf("the shared blob: %v, want it kept for c", err)
	}
	if a, _ := l.Artifact(t.Context(), "npm", l.byName["c"].Path); !a.Cached() {
		t.Errorf("c lost its bytes")
	}
	if _, err := l.Blobs.Stat(t.Context(), l.doc.Body); err != nil {
		t.Errorf("the document's body: %v, want it kept", err)
	}

	// Once c goes too, nothing points at the blob and it leaves the disk.
	rep, err = l.GC(t.Context(), GCOptions{MaxSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Blobs.Stat(t.Context(), old.SHA256); !errors.Is(err, ErrNotFound) {
		t.Errorf("the blob once no row points at it: %v, want it deleted", err)
	}
	if rep.After != 50 {
		t.Errorf("after = %d, want 50 (the document)", rep.After)
	}
}

func TestGCRemovesOrphanBlobsOlderThanTheAge(t *testing.T) {
	s := seed(t)
	oldOrphan, _ := putBlob(t, s.Store, "an old orphan")
	youngOrphan, _ := putBlob(t, s.Store, "a young orphan, its row still to be written")
	now := time.Now()
	for _, d := range []Digest{oldOrphan, s.leftPad.SHA256, s.lodashFull.Body} {
		if err := os.Chtimes(blobFile(s.Store, d), now.Add(-2*time.Hour), now.Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	before := blobContents(t, s.Store)

	tests := []struct {
		name      string
		age       time.Duration
		wantGone  []Digest
		wantCount int
	}{
		{"a negative age keeps every orphan", -1, nil, 0},
		{"the default age of an hour removes only the old orphan", 0, []Digest{oldOrphan}, 1},
		{"a short age removes the young one too", time.Nanosecond, []Digest{youngOrphan}, 1},
	}
	for _, tt := range tests {
		rep, err := s.GC(t.Context(), GCOptions{OrphanAge: tt.age, Now: now.Add(time.Second)})
		if err != nil {
			t.Fatalf("%s: GC: %v", tt.name, err)
		}
		if rep.Orphans != tt.wantCount || len(rep.Evicted) != 0 {
			t.Errorf("%s: removed %d orphans, evicted %d; want %d, 0", tt.name, rep.Orphans, len(rep.Evicted), tt.wantCount)
		}
		for _, d := range tt.wantGone {
			if _, err := s.Blobs.Stat(t.Context(), d); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %s is still there", tt.name, d)
			}
		}
	}
	// Every blob a row points at is still there, old or not.
	var want []string
	for _, b := range before {
		if !strings.Contains(b, "orphan") {
			want = append(want, b)
		}
	}
	wantSame(t, "blobs", blobContents(t, s.Store), want)
	if rep, _ := s.Verify(t.Context(), VerifyOptions{}); !rep.Clean() || rep.Unreferenced != 0 {
		t.Errorf("Verify after GC = %+v, want clean with nothing unreferenced", rep)
	}
}

// A file evicted and fetched again counts as used at its new fetch: it is
// not the next to go (it was, by its first fetch, and was evicted again
// the moment it was stored).
func TestGCCountsAFetchAgainAsUse(t *testing.T) {
	l := newLRU(t)
	b := l.byName["b"] // first fetched at 0, never served: the first to go
	if err := l.CommitArtifact(t.Context(), b, KeptBlob{Digest: b.SHA256, Size: b.Size}, at(40)); err != nil {
		t.Fatal(err)
	}
	rep, err := l.GC(t.Context(), GCOptions{MaxSize: 50 + 100 + 200 + 300 + 400 + 500 - 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := evictedNames(l, rep), []string{"e"}; !slices.Equal(got, want) {
		t.Errorf("evicted %v, want %v: b was fetched again at 40", got, want)
	}
}
