package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

// forge rewrites an archive as someone who can write a manifest would: the
// manifest, the blobs and the end marker all agree with each other, so
// that only what the archive claims, not how it is put together, can give
// it away.
func forge(t *testing.T, archive string, edit func(m *storage.Manifest, blobs map[storage.Digest][]byte)) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	var m storage.Manifest
	blobs := map[storage.Digest][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		switch {
		case h.Name == "manifest.json":
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(h.Name, "sha256/"):
			blobs[storage.Digest(strings.TrimPrefix(h.Name, "sha256/"))] = body
		}
	}
	f.Close()
	edit(&m, blobs)

	used := map[storage.Digest]bool{}
	for _, d := range m.Documents {
		used[d.Body] = true
	}
	for _, a := range m.Artifacts {
		used[a.SHA256] = true
	}
	m.Blobs = m.Blobs[:0]
	for d, b := range blobs {
		if used[d] {
			m.Blobs = append(m.Blobs, storage.ArchivedBlob{Digest: d, Size: int64(len(b))})
		}
	}
	slices.SortFunc(m.Blobs, func(a, b storage.ArchivedBlob) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	body, _ := json.Marshal(m)
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	put := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o644})
		tw.Write(b)
	}
	put("manifest.json", body)
	for _, b := range m.Blobs {
		put("sha256/"+string(b.Digest), blobs[b.Digest])
	}
	sum := sha256.Sum256(body)
	put("manifest.sha256", []byte(hex.EncodeToString(sum[:])+"\n"))
	tw.Close()
	if err := os.WriteFile(archive, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// putBlob adds content to a forged archive's blobs.
func putBlob(blobs map[storage.Digest][]byte, content string) (storage.Digest, int64) {
	d := storage.DigestOf([]byte(content))
	blobs[d] = []byte(content)
	return d, int64(len(content))
}

func exported(t *testing.T, src folder) string {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "a.tar")
	if _, _, err := run(t, exportCmd, "--data", src.dir, "--out", archive); err != nil {
		t.Fatalf("export: %v", err)
	}
	return archive
}

// nothingImported fails unless a failed import left dst without a row.
func nothingImported(t *testing.T, dst string, src folder) {
	t.Helper()
	s := open(t, dst)
	defer s.Close()
	if _, err := s.Document(t.Context(), "npm", "lodash", "full"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a document after a refused import: %v", err)
	}
	for _, a := range []storage.Artifact{src.tarball, src.wheel} {
		if _, err := s.Artifact(t.Context(), a.Registry, a.Path); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("artifact %s after a refused import: %v", a.Path, err)
		}
	}
}

func TestImportRefusesAnUpstreamURLOutsideTheRegistrysHosts(t *testing.T) {
	src := newFolder(t)
	for _, tt := range []struct {
		name, path, url string
	}{
		{"a tarball on a host neither the upstream nor in tarball_hosts", src.tarball.Path, "http://127.0.0.1:9/canary.tgz"},
		{"a tarball URL with user info", src.tarball.Path, "https://user:secret@registry.npmjs.org/lodash/-/lodash-4.17.21.tgz"},
		{"a file on a host not in file_hosts", src.wheel.Path, "http://169.254.169.254/latest/meta-data/"},
		{"a file URL of another scheme", src.wheel.Path, "file:///etc/shadow"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			archive := exported(t, src)
			forge(t, archive, func(m *storage.Manifest, _ map[storage.Digest][]byte) {
				for i := range m.Artifacts {
					if m.Artifacts[i].Path == tt.path {
						m.Artifacts[i].UpstreamURL = tt.url
					}
				}
			})
			dst := filepath.Join(t.TempDir(), "dst")
			_, _, err := run(t, importCmd, archive, "--data", dst)
			if err == nil || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), "upstream URL refused") || !strings.Contains(err.Error(), "nothing was imported") {
				t.Errorf("import = %v, want the artifact's upstream URL refused and nothing imported", err)
			}
			nothingImported(t, dst, src)
		})
	}
}

func TestImportRecordsATarballHostsURLAsTheUpstreamsAndNeedsTheRegistryMounted(t *testing.T) {
	src := newFolder(t)
	archive := exported(t, src)
	// A relay upstream: registry.npmjs.org is one of its tarball_hosts, so
	// the archive's URL is fetched from the relay at the same path.
	cfg := filepath.Join(t.TempDir(), "larder.toml")
	os.WriteFile(cfg, []byte(`
[[registry]]
name = "npm"
kind = "npm"
upstream = "https://npm.relay.example/"
`), 0o644)
	dst := filepath.Join(t.TempDir(), "dst")
	_, _, err := run(t, importCmd, archive, "--config", cfg, "--data", dst)
	if err == nil || !strings.Contains(err.Error(), `registry "pypi" is not mounted here`) {
		t.Fatalf("import with no pypi registry = %v, want it refused for the pypi rows", err)
	}
	nothingImported(t, dst, src)

	os.WriteFile(cfg, []byte(`
[[registry]]
name = "npm"
kind = "npm"
upstream = "https://npm.relay.example/"

[[registry]]
name = "pypi"
kind = "pypi"
`), 0o644)
	if _, _, err := run(t, importCmd, archive, "--config", cfg, "--data", dst); err != nil {
		t.Fatalf("import: %v", err)
	}
	s := open(t, dst)
	if a, _ := s.Artifact(t.Context(), "npm", src.tarball.Path); a.UpstreamURL != "https://npm.relay.example/lodash/-/lodash-4.17.21.tgz" {
		t.Errorf("imported tarball's upstream URL = %q, want the relay's", a.UpstreamURL)
	}
}

func TestImportRefusesBytesTheArchivesOwnDocumentDoesNotDeclare(t *testing.T) {
	src := newFolder(t)
	for _, tt := range []struct {
		name string
		a    storage.Artifact
	}{
		{"an npm tarball (integrity)", src.tarball},
		{"a PyPI file (sha256)", src.wheel},
	} {
		t.Run(tt.name, func(t *testing.T) {
			archive := exported(t, src)
			forge(t, archive, func(m *storage.Manifest, blobs map[storage.Digest][]byte) {
				for i, a := range m.Artifacts {
					if a.Path == tt.a.Path {
						// The row even declares the attacker's bytes.
						m.Artifacts[i].SHA256, m.Artifacts[i].Size = putBlob(blobs, "attacker's bytes")
						m.Artifacts[i].Integrity = sri512("attacker's bytes")
					}
				}
			})
			dst := filepath.Join(t.TempDir(), "dst")
			_, _, err := run(t, importCmd, archive, "--data", dst)
			if err == nil || !strings.Contains(err.Error(), tt.a.Path) || !strings.Contains(err.Error(), "not what the archive's own documents declare") {
				t.Errorf("import = %v, want the artifact's bytes refused", err)
			}
			nothingImported(t, dst, src)
		})
	}
}

func TestImportReportsADisagreementWithTheFolderAsAnArchiveConflict(t *testing.T) {
	src := newFolder(t)
	archive := exported(t, src)
	// A consistent forgery: other bytes for lodash 4.17.21, and a newer
	// packument that declares them.
	evil := "attacker's lodash 4.17.21"
	forge(t, archive, func(m *storage.Manifest, blobs map[storage.Digest][]byte) {
		for i, a := range m.Artifacts {
			if a.Path == src.tarball.Path {
				m.Artifacts[i].SHA256, m.Artifacts[i].Size = putBlob(blobs, evil)
				m.Artifacts[i].Integrity = sri512(evil)
			}
		}
		for i, d := range m.Documents {
			if d.Key == "lodash" {
				m.Documents[i].Body, m.Documents[i].Size = putBlob(blobs, packument("lodash", map[string]string{"4.17.21": sri512(evil)}))
				m.Documents[i].FetchedAt = m.Documents[i].FetchedAt.AddDate(1, 0, 0)
			}
		}
	})

	for _, tt := range []struct {
		name string
		// held sets up the importing folder: what larder knows of lodash.
		held func(t *testing.T, s *storage.Store)
	}{
		{"the folder holds the upstream's packument", func(t *testing.T, s *storage.Store) {
			doc := storage.Document{Registry: "npm", Key: "lodash", Variant: "full", ContentType: "application/json", FetchedAt: src.doc.FetchedAt}
			doc.Body, doc.Size = blob(t, s, packument("lodash", map[string]string{"4.17.21": sri512(src.tarballBytes)}))
			if err := s.PutDocument(t.Context(), doc, "lodash"); err != nil {
				t.Fatal(err)
			}
		}},
		{"the folder holds the upstream's tarball", func(t *testing.T, s *storage.Store) {
			artifact(t, s, src.tarball, src.tarballBytes, src.tarball.FirstFetch)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst")
			s, err := storage.Open(t.Context(), dst)
			if err != nil {
				t.Fatal(err)
			}
			tt.held(t, s)
			s.Close()

			out, _, err := run(t, importCmd, archive, "--data", dst)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			wantContains(t, "import", out, "archive conflict: artifact npm/"+src.tarball.Path, "archive conflict: document npm/lodash (full)")
			if strings.Contains(out, "UPSTREAM") || strings.Contains(out, "upstream changed") {
				t.Errorf("the import blames the upstream:\n%s", out)
			}
			s = open(t, dst)
			if a, err := s.Artifact(t.Context(), "npm", src.tarball.Path); err == nil && a.SHA256 == storage.DigestOf([]byte(evil)) {
				t.Errorf("the forged tarball was imported")
			}
			if doc, err := s.Document(t.Context(), "npm", "lodash", "full"); err == nil {
				rc, _, err := s.Blobs.Open(t.Context(), doc.Body)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(rc)
				rc.Close()
				if strings.Contains(string(body), sri512(evil)) {
					t.Errorf("the forged packument was imported")
				}
			}
			// The rest of the archive is imported.
			if a, _ := s.Artifact(t.Context(), "pypi", src.wheel.Path); a.SHA256 != src.wheel.SHA256 {
				t.Errorf("the wheel was not imported: %+v", a)
			}
		})
	}
}

func TestImportRefusesAnArtifactNoDocumentDeclares(t *testing.T) {
	src := newFolder(t)
	archive := exported(t, src)
	forge(t, archive, func(m *storage.Manifest, _ map[storage.Digest][]byte) {
		m.Documents = slices.DeleteFunc(m.Documents, func(d storage.ArchivedDocument) bool { return d.Registry == "pypi" })
	})
	dst := filepath.Join(t.TempDir(), "dst")
	out, _, err := run(t, importCmd, archive, "--data", dst)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	wantContains(t, "import", out, "1 row refused", "refused: artifact pypi/"+src.wheel.Path+": no document")
	s := open(t, dst)
	if _, err := s.Artifact(t.Context(), "pypi", src.wheel.Path); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the undeclared wheel has a row: %v", err)
	}
	if _, err := s.Blobs.Stat(t.Context(), src.wheel.SHA256); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the undeclared wheel's blob stayed: %v", err)
	}
	if a, _ := s.Artifact(t.Context(), "npm", src.tarball.Path); a.SHA256 != src.tarball.SHA256 {
		t.Errorf("the declared tarball was not imported: %+v", a)
	}
}

func TestExportAndImportWithAKeyTellTheSitesOwnArchives(t *testing.T) {
	src := newFolder(t)
	dir := t.TempDir()
	key, other, short := filepath.Join(dir, "larder.key"), filepath.Join(dir, "other.key"), filepath.Join(dir, "short.key")
	os.WriteFile(key, []byte("c2l0ZSBrZXksIGF0IGxlYXN0IDE2IGJ5dGVz\n"), 0o600)
	os.WriteFile(other, []byte("YW5vdGhlciBzaXRlJ3Mga2V5LCBhcyBsb25n\n"), 0o600)
	os.WriteFile(short, []byte("short\n"), 0o600)
	archive := filepath.Join(dir, "a.tar")
	if _, _, err := run(t, exportCmd, "--data", src.dir, "--out", archive, "--key", key); err != nil {
		t.Fatalf("export --key: %v", err)
	}

	dst := filepath.Join(t.TempDir(), "dst")
	if _, _, err := run(t, importCmd, archive, "--data", dst, "--key", other); err == nil || !strings.Contains(err.Error(), "manifest.hmac-sha256") || !strings.Contains(err.Error(), "signature") {
		t.Errorf("import with another key = %v, want a signature failure", err)
	}
	nothingImported(t, dst, src)
	if _, _, err := run(t, importCmd, archive, "--data", dst, "--key", short); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("import with a short key = %v, want it refused", err)
	}
	unsigned := exported(t, src)
	if _, _, err := run(t, importCmd, unsigned, "--data", dst, "--key", key); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("import --key of an unsigned archive = %v, want it refused", err)
	}
	out, _, err := run(t, importCmd, archive, "--data", dst, "--key", key)
	if err != nil {
		t.Fatalf("import with the key: %v", err)
	}
	wantContains(t, "import", out, "signature: checked with the key in "+key, "artifacts: 2 written")
	out, _, err = run(t, importCmd, archive, "--data", filepath.Join(t.TempDir(), "dst2"))
	if err != nil {
		t.Fatalf("import without a key: %v", err)
	}
	wantContains(t, "import without a key", out, "signature: present, not checked")
}
