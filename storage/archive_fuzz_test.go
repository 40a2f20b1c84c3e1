package storage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzImport feeds Import arbitrary archives: entries of every type and
// size, manifests of any shape. Whatever the bytes, it must not panic,
// must leave nothing in blobs/tmp, and a refused archive must change
// nothing. The data folder
// lives in the fuzzer's temporary folder: open-ended fuzzing writes nothing
// into the source tree but the failing input Go itself saves.
func FuzzImport(f *testing.F) {
	s, err := Open(context.Background(), f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, archive []byte) {
		before := fuzzState(t, s)
		_, err := s.Import(t.Context(), bytes.NewReader(archive), ImportOptions{MaxManifestSize: 1 << 20})
		if entries, _ := os.ReadDir(filepath.Join(s.Dir, "blobs", "tmp")); len(entries) > 0 {
			t.Fatalf("%d files left in blobs/tmp", len(entries))
		}
		if err == nil {
			return
		}
		after := fuzzState(t, s)
		for k := range before {
			if !slices.Equal(before[k], after[k]) {
				t.Fatalf("a refused import (%v) changed the %s:\nbefore %q\nafter  %q", err, k, before[k], after[k])
			}
		}
	})
}

// fuzzState is the rows and the blob names of a folder: what a refused
// import must leave as it was.
func fuzzState(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	var blobs []string
	if err := s.Blobs.Walk(t.Context(), func(d Digest, _ int64) error {
		blobs = append(blobs, string(d))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(blobs)
	return map[string][]string{
		"packages":  rows(t, s, allPackages),
		"documents": rows(t, s, allDocuments),
		"artifacts": rows(t, s, allArtifacts),
		"blobs":     blobs,
	}
}
