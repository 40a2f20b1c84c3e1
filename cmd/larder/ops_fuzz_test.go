package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// FuzzImportVetted feeds larder import's whole path (the archive, its
// manifest, and the documents the registries' rules parse out of it)
// arbitrary archives under the default registries. Whatever the bytes, it
// must not panic, and every artifact an import accepts must have an
// upstream URL on its registry's hosts and bytes that match the integrity
// it was recorded with. The data folder is in the fuzzer's temporary
// folder, never in the source tree.
func FuzzImportVetted(f *testing.F) {
	cfg, err := loadConfig("")
	if err != nil {
		f.Fatal(err)
	}
	cfg.Data = f.TempDir()
	store, err := storage.Open(context.Background(), cfg.Data)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	vet, closeVet, err := archiveVet(cfg, store, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(closeVet)
	hosts := map[string][]string{
		"npm":  {"https://registry.npmjs.org/"},
		"pypi": {"https://pypi.org/", "https://files.pythonhosted.org/"},
	}

	f.Fuzz(func(t *testing.T, archive []byte) {
		if _, err := store.Import(t.Context(), bytes.NewReader(archive), storage.ImportOptions{MaxManifestSize: 1 << 20, Vet: vet}); err != nil {
			return
		}
		for _, a := range manifestOf(archive).Artifacts {
			held, err := store.Artifact(t.Context(), a.Registry, a.Path)
			if err != nil || !held.Cached() {
				continue // left out, with a note
			}
			u, err := url.Parse(held.UpstreamURL)
			onHost := false
			for _, h := range hosts[a.Registry] {
				onHost = onHost || strings.HasPrefix(held.UpstreamURL, h)
			}
			if err != nil || u.User != nil || !onHost {
				t.Fatalf("artifact %s/%s was imported with upstream URL %q", a.Registry, a.Path, held.UpstreamURL)
			}
			rc, _, err := store.Blobs.Open(t.Context(), held.SHA256)
			if err != nil {
				t.Fatalf("artifact %s/%s: %v", a.Registry, a.Path, err)
			}
			_, err = registries.Integrity(held.Integrity).Check(rc)
			rc.Close()
			if held.Integrity == "" || err != nil {
				t.Fatalf("artifact %s/%s was imported with integrity %q: %v", a.Registry, a.Path, held.Integrity, err)
			}
		}
	})
}

// manifestOf reads an archive's manifest, or none.
func manifestOf(archive []byte) storage.Manifest {
	var m storage.Manifest
	tr := tar.NewReader(bytes.NewReader(archive))
	if h, err := tr.Next(); err == nil && h.Name == "manifest.json" {
		body, _ := io.ReadAll(io.LimitReader(tr, 1<<20))
		json.Unmarshal(body, &m)
	}
	return m
}
