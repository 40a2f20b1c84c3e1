package gomod

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/gomod/gomodtest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// heldGraph is a mirror that fetched two module versions, and so looked
// them up in the checksum database.
func heldGraph(t *testing.T, fake *gomodtest.Server) *mirror {
	t.Helper()
	fake.Publish("example.com/lib", "v1.1.0", map[string]string{"lib.go": "package lib\n"})
	fake.Publish("example.com/dep", "v0.1.0", map[string]string{"dep.go": "package dep\n"})
	m := newMirror(t, newEnv(t), fake, testSumDB(t), registries.Options{})
	for _, p := range []string{"/example.com/lib/@v/v1.1.0.", "/example.com/dep/@v/v0.1.0."} {
		for _, ext := range []string{"info", "mod", "zip"} {
			if w := m.get(p + ext); w.Code != 200 {
				t.Fatalf("GET %s%s: %d %s", p, ext, w.Code, w.Body)
			}
		}
	}
	return m
}

// exported is an archive of what proofs picks for the files of paths.
func exported(t *testing.T, m *mirror, paths ...string) []byte {
	t.Helper()
	ctx := context.Background()
	docs, notes, err := proofs(ctx, m.up.Store(), paths)
	if err != nil || len(notes) != 0 {
		t.Fatalf("proofs: %v, notes %v", err, notes)
	}
	f := storage.ExportFilter{Paths: map[string]bool{}, Documents: map[storage.DocumentKey]bool{}}
	for _, p := range paths {
		f.Paths[p] = true
	}
	for _, d := range docs {
		f.Documents[d] = true
	}
	var buf bytes.Buffer
	if _, err := m.up.Store().Export(ctx, &buf, storage.ExportOptions{Filter: f}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rewritten is an archive whose manifest edit changed, as a forger would
// write it: the blobs no row names left out, the end marker that of the
// new manifest.
func rewritten(t *testing.T, archive []byte, edit func(*storage.Manifest)) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(archive))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	var manifest []byte
	used := map[storage.Digest]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if d, ok := strings.CutPrefix(h.Name, "sha256/"); ok && !used[storage.Digest(d)] {
			continue
		}
		switch h.Name {
		case "manifest.json":
			var m storage.Manifest
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			edit(&m)
			for _, d := range m.Documents {
				used[d.Body] = true
			}
			for _, a := range m.Artifacts {
				used[a.SHA256] = true
			}
			blobs := m.Blobs[:0]
			for _, b := range m.Blobs {
				if used[b.Digest] {
					blobs = append(blobs, b)
				}
			}
			m.Blobs = blobs
			body, _ = json.Marshal(m)
			manifest = body
		case "manifest.sha256":
			sum := sha256.Sum256(manifest)
			body = []byte(hex.EncodeToString(sum[:]))
		}
		h.Size = int64(len(body))
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	return out.Bytes()
}

func importInto(t *testing.T, fake *gomodtest.Server, archive []byte) (*mirror, storage.ImportSummary, error) {
	t.Helper()
	return importWith(t, fake, archive, registries.Options{Offline: true})
}

func importWith(t *testing.T, fake *gomodtest.Server, archive []byte, ro registries.Options) (*mirror, storage.ImportSummary, error) {
	t.Helper()
	m := newMirror(t, newEnv(t), fake, testSumDB(t), ro)
	sum, err := m.up.Store().Import(context.Background(), bytes.NewReader(archive),
		storage.ImportOptions{Vet: registries.VetArchive([]registries.Registry{m.reg})})
	return m, sum, err
}

var libFiles = []string{"example.com/lib/@v/v1.1.0.info", "example.com/lib/@v/v1.1.0.mod", "example.com/lib/@v/v1.1.0.zip"}

func TestAnExportByGoSumCarriesTheRecordsAndTilesThatProveItsModules(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	m := heldGraph(t, fake)
	docs, notes, err := proofs(context.Background(), m.up.Store(), append(libFiles, "example.com/nothing/@v/v1.0.0.zip"))
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0].Error(), "example.com/nothing@v1.0.0") {
		t.Errorf("notes %v: want one, of the version no record of is held", notes)
	}
	var keys []string
	for _, d := range docs {
		keys = append(keys, d.Key)
	}
	got := strings.Join(keys, " ")
	if !strings.Contains(got, "sumdb/"+gomodtest.DBName+"/lookup/example.com/lib@v1.1.0") || !strings.Contains(got, "/tile/8/0/") ||
		strings.Contains(got, "lookup/example.com/dep@") {
		t.Errorf("proofs of lib alone: %s", got)
	}
}

func TestAnImportedModuleIsHeldToItsProvenRecord(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	m := heldGraph(t, fake)
	archive := exported(t, m, append(libFiles, "example.com/dep/@v/v0.1.0.zip", "example.com/dep/@v/v0.1.0.mod")...)

	t.Run("as exported", func(t *testing.T) {
		into, sum, err := importInto(t, fake, archive)
		if err != nil || len(sum.Notes) != 0 || sum.ArtifactsWritten != 5 {
			t.Fatalf("import: %v, %+v", err, sum)
		}
		// Offline, the imported mirror serves the module and the
		// database's material go verifies it with.
		for _, p := range []string{"/example.com/lib/@v/v1.1.0.zip", "/sumdb/" + gomodtest.DBName + "/lookup/example.com/lib@v1.1.0"} {
			if w := into.get(p); w.Code != 200 {
				t.Errorf("offline after import, GET %s: %d %s", p, w.Code, w.Body)
			}
		}
		if a := into.row(t, "/example.com/lib/@v/v1.1.0.zip"); a.Integrity != fake.Version("example.com/lib", "v1.1.0").H1Zip {
			t.Errorf("the imported zip's integrity is %q, want the record's h1:", a.Integrity)
		}
	})
	t.Run("a zip that is not the record's", func(t *testing.T) {
		tampered := rewritten(t, archive, func(man *storage.Manifest) {
			var dep storage.ArchivedArtifact
			for _, a := range man.Artifacts {
				if a.Path == "example.com/dep/@v/v0.1.0.zip" {
					dep = a
				}
			}
			for i, a := range man.Artifacts {
				if a.Path == "example.com/lib/@v/v1.1.0.zip" {
					man.Artifacts[i].SHA256, man.Artifacts[i].Size = dep.SHA256, dep.Size
				}
			}
		})
		_, _, err := importInto(t, fake, tampered)
		if err == nil || !strings.Contains(err.Error(), "not what the archive's own documents declare") {
			t.Fatalf("an archive whose zip is another module's imported: %v", err)
		}
	})
	t.Run("an .info that is not the version's", func(t *testing.T) {
		tampered := rewritten(t, archive, func(man *storage.Manifest) {
			var mod storage.ArchivedArtifact
			for _, a := range man.Artifacts {
				if a.Path == "example.com/lib/@v/v1.1.0.mod" {
					mod = a
				}
			}
			for i, a := range man.Artifacts {
				if a.Path == "example.com/lib/@v/v1.1.0.info" {
					man.Artifacts[i].SHA256, man.Artifacts[i].Size = mod.SHA256, mod.Size
				}
			}
		})
		_, _, err := importInto(t, fake, tampered)
		if err == nil || !strings.Contains(err.Error(), "fail its registry's check") {
			t.Fatalf("an archive whose .info is a go.mod imported: %v", err)
		}
	})
	t.Run("a record without the tiles that prove it", func(t *testing.T) {
		tampered := rewritten(t, archive, func(man *storage.Manifest) {
			kept := man.Documents[:0]
			for _, d := range man.Documents {
				if !strings.Contains(d.Key, "/tile/") {
					kept = append(kept, d)
				}
			}
			man.Documents = kept
		})
		_, _, err := importInto(t, fake, tampered)
		if err == nil || !strings.Contains(err.Error(), "not proven") {
			t.Fatalf("an archive of unproven records imported: %v", err)
		}
	})
	t.Run("files no record declares", func(t *testing.T) {
		tampered := rewritten(t, archive, func(man *storage.Manifest) {
			kept := man.Documents[:0]
			for _, d := range man.Documents {
				if !strings.Contains(d.Key, "/lookup/") {
					kept = append(kept, d)
				}
			}
			man.Documents = kept
		})
		_, sum, err := importInto(t, fake, tampered)
		if err != nil {
			t.Fatal(err)
		}
		// lib's .info says what it is; nothing vouches for the
		// zips and go.mod files.
		if sum.ArtifactsWritten != 1 || len(sum.Notes) != 4 {
			t.Errorf("import without records: %+v", sum)
		}
	})
}

// An offline larder under a policy dates what it imported by when the
// exporting larder first fetched it, which the archive carries; a file the
// archive does not date is first seen at its import, and held back (403,
// saying until when) rather than called never cached.
func TestAnImportedModuleIsDatedByItsFirstFetchUnderAPolicy(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	archive := exported(t, heldGraph(t, fake), libFiles...)
	later := func() time.Time { return time.Now().Add(4 * 24 * time.Hour) }
	policy := registries.Options{Offline: true, MinReleaseAge: 3 * 24 * time.Hour, Now: later}

	into, sum, err := importWith(t, fake, archive, policy)
	if err != nil || sum.ArtifactsWritten != 3 {
		t.Fatalf("import: %v, %+v", err, sum)
	}
	for _, p := range []string{"/example.com/lib/@v/list", "/example.com/lib/@v/v1.1.0.zip"} {
		if w := into.get(p); w.Code != http.StatusOK || !strings.Contains(w.Body.String()+p, "v1.1.0") {
			t.Errorf("offline under a 3-day policy, four days after the export's fetch, GET %s: %d %q", p, w.Code, w.Body)
		}
	}

	undated := rewritten(t, archive, func(man *storage.Manifest) {
		for i := range man.Artifacts {
			man.Artifacts[i].FirstFetch = time.Time{}
		}
	})
	into, _, err = importWith(t, fake, undated, policy)
	if err != nil {
		t.Fatal(err)
	}
	if w := into.get("/example.com/lib/@v/v1.1.0.zip"); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "will be served from") {
		t.Errorf("an imported zip with no first fetch, under a policy: %d %s, want 403 saying when", w.Code, w.Body)
	}
	if w := into.get("/example.com/lib/@v/list"); w.Code != http.StatusOK || w.Body.String() != "" {
		t.Errorf("the list of a module imported undated, under a policy: %d %q, want an empty list", w.Code, w.Body)
	}
}
