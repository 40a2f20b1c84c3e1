package storage

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// Verify and gc read rows and blobs a page at a time (refPage); here a page
// is two rows, so that one blob's rows straddle several pages and both
// tables, and each batch of the walk is one blob.
func smallPages(t *testing.T) {
	old := refPage
	refPage = 2
	t.Cleanup(func() { refPage = old })
}

func TestVerifyCollectsABlobsRowsAcrossPagesAndTablesAndChecksItOnce(t *testing.T) {
	smallPages(t)
	s := newStore(t)
	var paths []string
	for i := range 5 {
		a := hold(t, s, npmTarball("same", fmt.Sprintf("1.0.%d", i)), "five tarballs and a packument with these bytes", at(i))
		paths = append(paths, a.Path)
	}
	doc := putDoc(t, s, Document{Registry: "npm", Key: "same", Variant: "full", FetchedAt: at(0)}, "five tarballs and a packument with these bytes", "same")
	for i := range 3 {
		hold(t, s, npmTarball("other", fmt.Sprintf("2.0.%d", i)), fmt.Sprintf("bytes of their own, %d", i), at(i))
	}
	orphan, _ := putBlob(t, s, "no row names this one")
	if err := os.Remove(blobFile(s, doc.Body)); err != nil {
		t.Fatal(err)
	}

	var last Progress
	rep, err := s.Verify(t.Context(), VerifyOptions{Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Checked != 4 || rep.OK != 3 || rep.Missing != 1 || rep.Unreferenced != 1 {
		t.Errorf("checked %d, ok %d, missing %d, unreferenced %d; want 4 blobs checked (each once), 3 ok, 1 missing, 1 unreferenced",
			rep.Checked, rep.OK, rep.Missing, rep.Unreferenced)
	}
	if last.Items != 4 || last.TotalItems != 4 {
		t.Errorf("progress ended at %d of %d blobs; want 4 of 4", last.Items, last.TotalItems)
	}
	if len(rep.Problems) != 1 {
		t.Fatalf("problems: %+v; want the missing blob's", rep.Problems)
	}
	var got []string
	for _, r := range rep.Problems[0].Rows {
		got = append(got, r.String())
	}
	var want []string
	for _, p := range paths {
		want = append(want, "artifact npm/"+p)
	}
	want = append(want, "document npm/same (full)")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("rows repaired: %q; want every row of the missing blob, once: %q", got, want)
	}
	if _, err := os.Stat(blobFile(s, orphan)); err != nil {
		t.Errorf("verify touched the unreferenced blob: %v", err)
	}
}

func TestGCCollectsOrphansBatchByBatchAndKeepsEveryBlobARowNames(t *testing.T) {
	smallPages(t)
	s := newStore(t)
	var named []Digest
	for i := range 4 {
		named = append(named, hold(t, s, npmTarball("kept", fmt.Sprintf("1.0.%d", i)), fmt.Sprintf("held bytes %d", i), at(i)).SHA256)
	}
	named = append(named, putDoc(t, s, Document{Registry: "npm", Key: "kept", Variant: "full", FetchedAt: at(0)}, "a packument", "kept").Body)
	var orphans []Digest
	for i := range 5 {
		d, _ := putBlob(t, s, fmt.Sprintf("orphan %d", i))
		orphans = append(orphans, d)
	}

	rep, err := s.GC(t.Context(), GCOptions{OrphanAge: time.Nanosecond, Now: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	if rep.Orphans != len(orphans) {
		t.Errorf("removed %d orphans; want %d", rep.Orphans, len(orphans))
	}
	for _, d := range orphans {
		if _, err := os.Stat(blobFile(s, d)); err == nil {
			t.Errorf("orphan %s is still there", d)
		}
	}
	for _, d := range named {
		if _, err := os.Stat(blobFile(s, d)); err != nil {
			t.Errorf("a blob a row names is gone: %v", err)
		}
	}
}

func TestReferencedAnswersForNeighboursAndForDigestsFarApart(t *testing.T) {
	s := newStore(t)
	var held []Digest
	for i := range 12 {
		held = append(held, hold(t, s, npmTarball("many", fmt.Sprintf("1.0.%d", i)), fmt.Sprintf("bytes %d", i), at(i)).SHA256)
	}
	doc := putDoc(t, s, Document{Registry: "npm", Key: "many", Variant: "full", FetchedAt: at(0)}, "a packument", "many").Body
	held = append(held, doc)
	slices.Sort(held)
	unheld, _ := putBlob(t, s, "no row names this one")
	for _, tt := range []struct {
		name string
		ask  []Digest
	}{
		// Neighbours: one range of each index answers.
		{"neighbours in digest order", []Digest{held[3], held[4], unheld}},
		// The first and last of 13: more rows lie between them than a
		// range read takes for two digests, so each is looked up.
		{"digests far apart", []Digest{held[0], held[len(held)-1], unheld}},
		{"every one", append(slices.Clone(held), unheld)},
	} {
		used, err := s.referenced(t.Context(), tt.ask)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, d := range tt.ask {
			if want := d != unheld; used[d] != want {
				t.Errorf("%s: referenced(%s) = %v; want %v", tt.name, d, used[d], want)
			}
		}
	}
}
