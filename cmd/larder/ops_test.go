package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// folder is a data folder filled through the storage API, closed again:
// an npm packument and a PyPI project page, each with the file it declares
// held.
type folder struct {
	dir          string
	doc          storage.Document // the packument
	page         storage.Document // the project page
	tarball      storage.Artifact // npm, fetched 2024-01-01
	wheel        storage.Artifact // pypi, fetched 2024-06-01
	tarballBytes string
	wheelBytes   string
}

func sri512(content string) string {
	sum := sha512.Sum512([]byte(content))
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

func hex256(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// packument is a stored npm packument of one package declaring tarballs, by
// version, with the integrity given.
func packument(name string, integrity map[string]string) string {
	versions := map[string]any{}
	for v, i := range integrity {
		versions[v] = map[string]any{"name": name, "version": v, "dist": map[string]any{
			"tarball": "https://registry.npmjs.org/" + name + "/-/" + name + "-" + v + ".tgz", "integrity": i}}
	}
	b, _ := json.Marshal(map[string]any{"name": name, "versions": versions})
	return string(b)
}

// projectPage is a stored PyPI project page (larder's model) declaring one
// file with its sha256.
func projectPage(project, filename, sha256hex string) string {
	b, _ := json.Marshal(map[string]any{"name": project, "files": []any{map[string]any{
		"filename": filename, "url": "https://files.pythonhosted.org/packages/" + filename, "hashes": map[string]string{"sha256": sha256hex}}}})
	return string(b)
}

func newFolder(t *testing.T) folder {
	t.Helper()
	f := folder{dir: filepath.Join(t.TempDir(), "data"), tarballBytes: strings.Repeat("lodash tarball ", 200), wheelBytes: strings.Repeat("wheel ", 100)}
	s, err := storage.Open(t.Context(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jan, jun := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

	f.doc = storage.Document{Registry: "npm", Key: "lodash", Variant: "full", ContentType: "application/json", FetchedAt: jan}
	f.doc.Body, f.doc.Size = blob(t, s, packument("lodash", map[string]string{"4.17.21": sri512(f.tarballBytes)}))
	if err := s.PutDocument(t.Context(), f.doc, "lodash"); err != nil {
		t.Fatal(err)
	}
	f.page = storage.Document{Registry: "pypi", Key: "requests", Variant: "page", ContentType: "application/json", FetchedAt: jun}
	f.page.Body, f.page.Size = blob(t, s, projectPage("requests", "requests-2.32.3-py3-none-any.whl", hex256(f.wheelBytes)))
	if err := s.PutDocument(t.Context(), f.page, "requests"); err != nil {
		t.Fatal(err)
	}
	f.tarball = artifact(t, s, storage.Artifact{Registry: "npm", Path: "lodash/-/lodash-4.17.21.tgz", Package: "lodash", Version: "4.17.21",
		UpstreamURL: "https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz", Integrity: sri512(f.tarballBytes)}, f.tarballBytes, jan)
	f.wheel = artifact(t, s, storage.Artifact{Registry: "pypi", Path: "files/requests/requests-2.32.3-py3-none-any.whl", Package: "requests", Version: "2.32.3",
		UpstreamURL: "https://files.pythonhosted.org/packages/requests-2.32.3-py3-none-any.whl", Integrity: "sha256-" + base64.StdEncoding.EncodeToString(mustHex(hex256(f.wheelBytes)))}, f.wheelBytes, jun)
	return f
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func blob(t *testing.T, s *storage.Store, content string) (storage.Digest, int64) {
	t.Helper()
	w, err := s.Blobs.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	io.WriteString(w, content)
	d, n, err := w.Commit(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return d, n
}

func artifact(t *testing.T, s *storage.Store, a storage.Artifact, content string, at time.Time) storage.Artifact {
	t.Helper()
	if err := s.AnnounceArtifacts(t.Context(), a.Registry, []storage.Artifact{a}); err != nil {
		t.Fatal(err)
	}
	a.SHA256, a.Size = blob(t, s, content)
	if err := s.CommitArtifact(t.Context(), a, storage.KeptBlob{Digest: a.SHA256, Size: a.Size}, at); err != nil {
		t.Fatal(err)
	}
	return a
}

func (f folder) blobPath(d storage.Digest) string {
	return filepath.Join(f.dir, "blobs", "sha256", string(d[:2]), string(d))
}

// run calls a subcommand as main would, capturing what it writes.
func run(t *testing.T, cmd func(context.Context, []string, console) error, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = cmd(t.Context(), args, console{out: &out, err: &errOut})
	return out.String(), errOut.String(), err
}

// open opens a data folder for a look after a subcommand ran.
func open(t *testing.T, dir string) *storage.Store {
	t.Helper()
	s, err := storage.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantContains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not say %q:\n%s", what, w, got)
		}
	}
}

func TestExportThenImportCopiesADataFolder(t *testing.T) {
	src := newFolder(t)
	archive := filepath.Join(t.TempDir(), "larder.tar")
	out, _, err := run(t, exportCmd, "--out", archive, "--data", src.dir)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	wantContains(t, "export", out, "2 packages, 2 documents, 2 artifacts; 4 blobs")

	dst := filepath.Join(t.TempDir(), "air-gapped")
	out, _, err = run(t, importCmd, archive, "--data", dst) // flags after the file work too
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	wantContains(t, "import", out, "2 packages", "documents: 2 written", "artifacts: 2 written, 0 kept", "blobs: 4 verified", "4 new")

	s := open(t, dst)
	a, err := s.Artifact(t.Context(), "npm", src.tarball.Path)
	if err != nil || a.SHA256 != src.tarball.SHA256 {
		t.Fatalf("imported tarball row: %+v, %v", a, err)
	}
	rc, _, err := s.Blobs.Open(t.Context(), a.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != src.tarballBytes {
		t.Errorf("imported tarball bytes differ")
	}
	if doc, err := s.Document(t.Context(), "npm", "lodash", "full"); err != nil || doc.Body != src.doc.Body {
		t.Errorf("imported document: %+v, %v", doc, err)
	}
	s.Close()

	out, _, err = run(t, importCmd, "--data", dst, archive)
	if err != nil {
		t.Fatalf("second import: %v", err)
	}
	wantContains(t, "second import", out, "documents: 0 written, 2 kept", "artifacts: 0 written, 2 kept", "0 new")
}

func TestExportSelectsByRegistryAndDate(t *testing.T) {
	src := newFolder(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a registry", []string{"--registry", "pypi"}, "1 package, 1 document, 1 artifact; 2 blobs"},
		{"a date", []string{"--since", "2024-03-01"}, "1 package, 1 document, 1 artifact; 2 blobs"},
		{"an RFC 3339 time", []string{"--since", "2024-01-01T11:00:00Z"}, "2 packages, 2 documents, 2 artifacts; 4 blobs"},
		{"a registry and a date", []string{"--registry", "npm", "--since", "2024-03-01"}, "0 packages, 0 documents, 0 artifacts; 0 blobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "a.tar")
			out, _, err := run(t, exportCmd, append([]string{"--data", src.dir, "--out", archive}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			wantContains(t, "export", out, tt.want)
			if _, err := os.Stat(archive); err != nil {
				t.Errorf("archive: %v", err)
			}
		})
	}
}

func TestExportFindsTheDataFolderThroughTheConfigFile(t *testing.T) {
	src := newFolder(t)
	cfg := filepath.Join(t.TempDir(), "larder.toml")
	if err := os.WriteFile(cfg, []byte("data = "+quote(src.dir)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "a.tar")
	if _, _, err := run(t, exportCmd, "--config", cfg, "--out", archive); err != nil {
		t.Errorf("export with --config: %v", err)
	}
	// --data wins over the file's data.
	_, _, err := run(t, exportCmd, "--config", cfg, "--data", filepath.Join(t.TempDir(), "nothing"), "--out", archive)
	if err == nil || !strings.Contains(err.Error(), "not a larder data folder") {
		t.Errorf("export with --data of an empty folder = %v, want it to say so", err)
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"` }

func TestSubcommandsRefuseBadFlags(t *testing.T) {
	src := newFolder(t)
	missing := filepath.Join(t.TempDir(), "typo")
	tests := []struct {
		name string
		cmd  func(context.Context, []string, console) error
		args []string
		want string
	}{
		{"export without --out", exportCmd, []string{"--data", src.dir}, "--out FILE is required"},
		{"export with a bad date", exportCmd, []string{"--data", src.dir, "--out", "x.tar", "--since", "yesterday"}, `--since "yesterday"`},
		{"export of a folder that is not one", exportCmd, []string{"--data", missing, "--out", "x.tar"}, "not a larder data folder"},
		{"import without a file", importCmd, []string{"--data", src.dir}, "name one archive"},
		{"import of a file that is not there", importCmd, []string{"--data", src.dir, filepath.Join(missing, "a.tar")}, "no such file"},
		{"verify of a folder that is not one", verifyCmd, []string{"--data", missing}, "not a larder data folder"},
		{"gc without --max-size", gcCmd, []string{"--data", src.dir}, "--max-size SIZE is required"},
		{"gc with a size of nothing", gcCmd, []string{"--data", src.dir, "--max-size", "0"}, "want more than 0"},
		{"gc with a size that is not one", gcCmd, []string{"--data", src.dir, "--max-size", "lots"}, "not a size"},
		{"gc with a bad orphan age", gcCmd, []string{"--data", src.dir, "--max-size", "1GB", "--orphan-age", "-1h"}, "--orphan-age"},
		{"a flag no subcommand has", verifyCmd, []string{"--data", src.dir, "--fast"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, tt.cmd, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a mistyped --data made a folder: %v", err)
	}
	if _, _, err := run(t, verifyCmd, "-h"); err != nil {
		t.Errorf("verify -h = %v, want the usage and no error", err)
	}
}

func TestAFailedExportLeavesNoArchive(t *testing.T) {
	src := newFolder(t)
	if err := os.Remove(src.blobPath(src.wheel.SHA256)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, _, err := run(t, exportCmd, "--data", src.dir, "--out", filepath.Join(dir, "a.tar"))
	if err == nil || !strings.Contains(err.Error(), string(src.wheel.SHA256)) {
		t.Errorf("export = %v, want an error naming the missing blob", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed export left %v", entries)
	}
}

func TestImportOfACorruptArchiveNamesTheEntryAndImportsNothing(t *testing.T) {
	src := newFolder(t)
	archive := filepath.Join(t.TempDir(), "a.tar")
	if _, _, err := run(t, exportCmd, "--data", src.dir, "--out", archive); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(archive)
	i := bytes.Index(b, []byte(src.tarballBytes))
	b[i+100] ^= 0x01
	os.WriteFile(archive, b, 0o644)

	dst := filepath.Join(t.TempDir(), "dst")
	_, _, err := run(t, importCmd, archive, "--data", dst)
	if err == nil || !strings.Contains(err.Error(), "sha256/"+string(src.tarball.SHA256)) || !strings.Contains(err.Error(), "nothing was imported") {
		t.Errorf("import = %v, want an error naming entry sha256/%s", err, src.tarball.SHA256)
	}
	s := open(t, dst)
	if _, err := s.Document(t.Context(), "npm", "lodash", "full"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("document after a failed import: %v, want none", err)
	}
	if _, err := s.Artifact(t.Context(), "pypi", src.wheel.Path); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a sound artifact after a failed import: %v, want none", err)
	}
}

func TestVerifyReportsARepairedFolderAndFailsUntilItIsClean(t *testing.T) {
	f := newFolder(t)
	p := f.blobPath(f.tarball.SHA256)
	b, _ := os.ReadFile(p)
	b[0] ^= 0x01
	os.WriteFile(p, b, 0o644)
	if err := os.Remove(f.blobPath(f.doc.Body)); err != nil {
		t.Fatal(err)
	}

	out, _, err := run(t, verifyCmd, "--data", f.dir)
	if err == nil || !strings.Contains(err.Error(), "1 missing and 1 corrupt") {
		t.Errorf("verify = %v, want a failure counting 1 missing and 1 corrupt", err)
	}
	wantContains(t, "verify", out,
		"missing blob "+string(f.doc.Body),
		"document npm/lodash (full): deleted, fetched again on next use",
		"corrupt blob "+string(f.tarball.SHA256),
		"moved to "+filepath.Join(f.dir, "blobs", "quarantine", string(f.tarball.SHA256)),
		"artifact npm/lodash/-/lodash-4.17.21.tgz: its bytes forgotten",
		"checked 4 blobs", "2 ok, 1 missing, 1 corrupt")

	out, _, err = run(t, verifyCmd, "--data", f.dir)
	if err != nil {
		t.Errorf("second verify = %v, want success", err)
	}
	wantContains(t, "second verify", out, "checked 2 blobs", "2 ok, 0 missing, 0 corrupt")
}

func TestGCEvictsDownToTheSizeAndSaysWhatItFreed(t *testing.T) {
	f := newFolder(t)
	// An orphan an hour and more old: a body a replaced document left.
	s := open(t, f.dir)
	orphan, _ := blob(t, s, "an old body")
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(f.blobPath(orphan), old, old)
	s.Close() // one process holds a data folder at a time

	// The tarball (3000 bytes, fetched first, never served) goes; the wheel
	// (600 bytes) and the documents stay.
	out, _, err := run(t, gcCmd, "--data", f.dir, "--max-size", "2KiB", "-v")
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	wantContains(t, "gc", out,
		"evicted npm/lodash/-/lodash-4.17.21.tgz (2.9 KiB, never served)",
		"evicted 1 artifact, deleting 1 blob: freed 2.9 KiB",
		"removed 1 orphan blob no row pointed at: freed 11 B",
		"before, 1.1 KiB after (limit 2.0 KiB)")
	s = open(t, f.dir)
	if a, _ := s.Artifact(t.Context(), "npm", f.tarball.Path); a.Cached() {
		t.Errorf("the tarball is still held")
	}
	if a, _ := s.Artifact(t.Context(), "pypi", f.wheel.Path); !a.Cached() {
		t.Errorf("the wheel was evicted")
	}
	if _, err := s.Document(t.Context(), "npm", "lodash", "full"); err != nil {
		t.Errorf("the document: %v", err)
	}
	s.Close()

	out, _, err = run(t, gcCmd, "--data", f.dir, "--max-size", "2KiB")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "second gc", out, "evicted 0 artifacts, deleting 0 blobs: freed 0 B")
}

func TestParseSince(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-05-01", time.Date(2024, 5, 1, 0, 0, 0, 0, time.Local), true},
		{"2024-05-01T12:30:00Z", time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC), true},
		{"2024-05-01T12:30:00+02:00", time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC), true},
		{"01/05/2024", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 20 << 30: "20.0 GiB"} {
		if got := formatBytes(in); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestImportRefusesAManifestOverMaxManifestSize(t *testing.T) {
	src := newFolder(t)
	archive := filepath.Join(t.TempDir(), "a.tar")
	if _, _, err := run(t, exportCmd, "--data", src.dir, "--out", archive); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "dst")
	_, _, err := run(t, importCmd, "--max-manifest-size", "100B", "--data", dst, archive)
	if err == nil || !strings.Contains(err.Error(), "manifest.json") || !strings.Contains(err.Error(), "over the limit of 100") {
		t.Errorf("import = %v, want an error naming manifest.json and the limit", err)
	}
	if _, _, err := run(t, importCmd, "--max-manifest-size", "lots", "--data", dst, archive); err == nil || !strings.Contains(err.Error(), "--max-manifest-size") {
		t.Errorf("import with a bad --max-manifest-size = %v, want an error naming the flag", err)
	}
}
