package storage

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestImportVetRewritesAndDropsRowsBeforeAnyIsWritten(t *testing.T) {
	src := seed(t)
	archive := export(t, src.Store, ExportFilter{})
	dst := newStore(t)
	vet := func(ctx context.Context, s *Store, m *Manifest) ([]ImportNote, error) {
		if n := len(rows(t, s, allArtifacts)); n != 0 {
			t.Errorf("Vet was called with %d artifact rows written", n)
		}
		// Every blob is in the store for Vet to read.
		for _, b := range m.Blobs {
			if _, err := s.Blobs.Stat(ctx, b.Digest); err != nil {
				t.Errorf("blob %s is not in the store when Vet runs: %v", b.Digest, err)
			}
		}
		kept := m.Artifacts[:0]
		var notes []ImportNote
		for _, a := range m.Artifacts {
			switch a.Path {
			case src.wheel.Path:
				notes = append(notes, ImportNote{Row: "artifact pypi/" + a.Path, Detail: "no document declares it"})
				continue
			case src.lodash21.Path:
				a.UpstreamURL, a.Integrity = "https://upstream.example/rewritten.tgz", "sha256-declared"
			}
			kept = append(kept, a)
		}
		m.Artifacts = kept
		return notes, nil
	}
	sum, err := dst.Import(t.Context(), bytes.NewReader(archive), ImportOptions{Vet: vet})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if sum.ArtifactsWritten != 3 || len(sum.Notes) != 1 || sum.Notes[0].Conflict || sum.Notes[0].String() != "refused: artifact pypi/"+src.wheel.Path+": no document declares it" {
		t.Errorf("summary = %+v, want 3 artifacts written and the wheel refused", sum)
	}
	if _, err := dst.Artifact(t.Context(), "pypi", src.wheel.Path); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused wheel has a row: %v", err)
	}
	if _, err := dst.Blobs.Stat(t.Context(), src.wheel.SHA256); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused wheel's blob stayed: %v", err)
	}
	if a, _ := dst.Artifact(t.Context(), "npm", src.lodash21.Path); a.UpstreamURL != "https://upstream.example/rewritten.tgz" || a.Integrity != "sha256-declared" {
		t.Errorf("lodash 4.17.21 was imported as %+v, want Vet's URL and integrity", a)
	}
}

func TestImportVetRefusalWritesNothing(t *testing.T) {
	src := seed(t)
	archive := export(t, src.Store, ExportFilter{})
	dst := newStore(t)
	before := state(t, dst)
	refusal := errors.New("artifact npm/x: upstream URL refused")
	_, err := dst.Import(t.Context(), bytes.NewReader(archive), ImportOptions{
		Vet: func(context.Context, *Store, *Manifest) ([]ImportNote, error) { return nil, refusal },
	})
	var ae *ArchiveError
	if !errors.Is(err, refusal) || !errors.As(err, &ae) || ae.Entry != manifestEntry {
		t.Errorf("Import = %v, want Vet's error at %s", err, manifestEntry)
	}
	after := state(t, dst)
	for _, k := range []string{"packages", "documents", "artifacts", "blobs"} {
		wantSame(t, k+" after a refused import", after[k], before[k])
	}
}
