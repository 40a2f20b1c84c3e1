package storage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// newStore opens a data folder of the test's own. When the test ends it is
// closed, and the test fails if a write was left in blobs/tmp/.
func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenWith(t.Context(), t.TempDir(), testBackends(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		entries, _ := os.ReadDir(filepath.Join(s.Dir, "blobs", "tmp"))
		for _, e := range entries {
			t.Errorf("%s was left behind in blobs/tmp", e.Name())
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func putBlob(t *testing.T, s *Store, content string) (Digest, int64) {
	t.Helper()
	w, err := s.Blobs.Create(t.Context())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Cancel()
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatalf("Write: %v", err)
	}
	d, size, err := w.Commit(t.Context(), "")
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return d, size
}

// putDoc stores a document whose body is body in the blob store, as an
// import or a fetch of a body over MaxInlineBody does.
func putDoc(t *testing.T, s *Store, doc Document, body, pkg string) Document {
	t.Helper()
	doc.Body, doc.Size = putBlob(t, s, body)
	if doc.ContentType == "" {
		doc.ContentType = "application/json"
	}
	if err := s.PutDocument(t.Context(), doc, pkg); err != nil {
		t.Fatalf("PutDocument: %v", err)
	}
	return doc
}

// hold announces an artifact and stores content as its bytes, as a download would.
func hold(t *testing.T, s *Store, a Artifact, content string, when time.Time) Artifact {
	t.Helper()
	if a.UpstreamURL == "" {
		a.UpstreamURL = "https://upstream.example/" + a.Path
	}
	if err := s.AnnounceArtifacts(t.Context(), a.Registry, []Artifact{a}); err != nil {
		t.Fatalf("AnnounceArtifacts: %v", err)
	}
	a.SHA256, a.Size = putBlob(t, s, content)
	if err := s.CommitArtifact(t.Context(), a, KeptBlob{Digest: a.SHA256, Size: a.Size}, when); err != nil {
		t.Fatalf("CommitArtifact: %v", err)
	}
	return a
}

func served(t *testing.T, s *Store, a Artifact, hits int64, when time.Time) {
	t.Helper()
	if err := s.RecordServed(t.Context(), []Served{{Registry: a.Registry, Package: a.Package, Path: a.Path, Hits: hits, At: when}}); err != nil {
		t.Fatalf("RecordServed: %v", err)
	}
}

func npmTarball(name, version string) Artifact {
	return Artifact{Registry: "npm", Path: name + "/-/" + name + "-" + version + ".tgz", Package: name, Version: version,
		Integrity: "sha512-" + name + version}
}

// seeded is a data folder with two registries in it:
//
//	npm   lodash   documents full and abbreviated (at 0); 4.17.20 held (at 0),
//	               4.17.21 held (at 50, served 3 times at 200), 4.17.19 announced only
//	npm   left-pad document full (at 100); 1.3.0 held (at 100)
//	pypi  requests page (at 0); a wheel held (at 100)
type seeded struct {
	*Store
	lodashFull, lodashAbbrev, leftPadDoc, requestsPage Document
	lodash20, lodash21, leftPad, wheel                 Artifact
}

func seed(t *testing.T) seeded {
	t.Helper()
	s := seeded{Store: newStore(t)}
	s.lodashFull = putDoc(t, s.Store, Document{Registry: "npm", Key: "lodash", Variant: "full", ETag: `"v1"`, FetchedAt: at(0)}, `{"name":"lodash"}`, "lodash")
	s.lodashAbbrev = putDoc(t, s.Store, Document{Registry: "npm", Key: "lodash", Variant: "abbreviated", FetchedAt: at(0)}, `{"name":"lodash","abbreviated":true}`, "lodash")
	s.leftPadDoc = putDoc(t, s.Store, Document{Registry: "npm", Key: "left-pad", Variant: "full", LastModified: "Tue, 01 Jan 2030 00:00:00 GMT", FetchedAt: at(100)}, `{"name":"left-pad"}`, "left-pad")
	s.requestsPage = putDoc(t, s.Store, Document{Registry: "pypi", Key: "requests", Variant: "json", ContentType: "application/vnd.pypi.simple.v1+json", Serial: 42, FetchedAt: at(0)}, `{"name":"requests"}`, "requests")
	s.lodash20 = hold(t, s.Store, npmTarball("lodash", "4.17.20"), "lodash 4.17.20 tarball bytes", at(0))
	s.lodash21 = hold(t, s.Store, npmTarball("lodash", "4.17.21"), "lodash 4.17.21 tarball bytes, a little longer", at(50))
	served(t, s.Store, s.lodash21, 3, at(200))
	if err := s.AnnounceArtifacts(t.Context(), "npm", []Artifact{npmTarball("lodash", "4.17.19")}); err != nil {
		t.Fatal(err)
	}
	s.leftPad = hold(t, s.Store, npmTarball("left-pad", "1.3.0"), "left-pad 1.3.0 tarball bytes", at(100))
	s.wheel = hold(t, s.Store, Artifact{Registry: "pypi", Path: "requests/requests-2.32.3-py3-none-any.whl", Package: "requests", Version: "2.32.3",
		Integrity: "sha256=00"}, "requests 2.32.3 wheel bytes", at(100))
	return s
}

// rows reads a table in a stable order, each row as text.
func rows(t *testing.T, s *Store, query string) []string {
	t.Helper()
	r, err := s.DB.sql.QueryContext(t.Context(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	var out []string
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			fmt.Fprintf(&b, "%s=%v ", cols[i], v)
		}
		out = append(out, b.String())
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

const (
	allPackages  = `SELECT * FROM packages ORDER BY registry, name`
	allDocuments = `SELECT * FROM documents ORDER BY registry, doc_key, variant`
	heldArtifact = `SELECT * FROM artifacts WHERE sha256 IS NOT NULL ORDER BY registry, path`
	allArtifacts = `SELECT * FROM artifacts ORDER BY registry, path`
)

// state is every row of a data folder and every blob in it, for comparing.
func state(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	return map[string][]string{
		"packages":  rows(t, s, allPackages),
		"documents": rows(t, s, allDocuments),
		"artifacts": rows(t, s, allArtifacts),
		"blobs":     blobContents(t, s),
	}
}

func blobContents(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	err := s.Blobs.Walk(t.Context(), func(d Digest, _ int64) error {
		rc, _, err := s.Blobs.Open(t.Context(), d)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		out = append(out, string(d)+" "+string(b))
		return err
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	slices.Sort(out)
	return out
}

// pkgCounts reads a package's counters of files and bytes held.
func pkgCounts(t *testing.T, s *Store, registry, name string) (files, bytes int64) {
	t.Helper()
	err := s.DB.sql.QueryRowContext(t.Context(), `SELECT files, bytes FROM packages WHERE registry = ? AND name = ?`, registry, name).Scan(&files, &bytes)
	if err != nil {
		t.Fatalf("package %s/%s: %v", registry, name, err)
	}
	return files, bytes
}

func wantSame(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %s\nwant %s", what, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

func export(t *testing.T, s *Store, f ExportFilter) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.Export(t.Context(), &buf, ExportOptions{Filter: f, Now: at(1000)}); err != nil {
		t.Fatalf("Export: %v", err)
	}
	return buf.Bytes()
}

func importArchive(t *testing.T, s *Store, archive []byte) ImportSummary {
	t.Helper()
	sum, err := s.Import(t.Context(), bytes.NewReader(archive), ImportOptions{})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return sum
}

func readManifest(t *testing.T, archive []byte) Manifest {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(archive))
	hdr, err := tr.Next()
	if err != nil || hdr.Name != manifestEntry {
		t.Fatalf("first entry: %v, %v", hdr, err)
	}
	var m Manifest
	if err := json.NewDecoder(tr).Decode(&m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return m
}

func TestExportThenImportIntoAFreshFolderGivesTheSameRowsAndBlobs(t *testing.T) {
	src := seed(t)
	var progress []int64
	var buf bytes.Buffer
	sum, err := src.Export(t.Context(), &buf, ExportOptions{Progress: func(p Progress) { progress = append(progress, p.Bytes, p.TotalBytes) }})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if sum.Packages != 3 || sum.Documents != 4 || sum.Artifacts != 4 || sum.Blobs != 8 {
		t.Errorf("export summary = %+v, want 3 packages, 4 documents, 4 artifacts, 8 blobs", sum)
	}
	if n := len(progress); n == 0 || progress[n-2] != progress[n-1] || progress[n-1] != sum.Bytes {
		t.Errorf("progress ends at %v, want done = total = %d", progress[max(0, n-2):], sum.Bytes)
	}

	dst := newStore(t)
	isum := importArchive(t, dst, buf.Bytes())
	want := ImportSummary{Packages: 3, DocumentsWritten: 4, ArtifactsWritten: 4, Blobs: 8, NewBlobs: 8, Bytes: sum.Bytes}
	if !reflect.DeepEqual(isum, want) {
		t.Errorf("import summary = %+v\nwant             %+v", isum, want)
	}
	wantSame(t, "packages", rows(t, dst, allPackages), rows(t, src.Store, allPackages))
	wantSame(t, "documents", rows(t, dst, allDocuments), rows(t, src.Store, allDocuments))
	wantSame(t, "held artifacts", rows(t, dst, heldArtifact), rows(t, src.Store, heldArtifact))
	wantSame(t, "blobs", blobContents(t, dst), blobContents(t, src.Store))
	if files, bytes := pkgCounts(t, dst, "npm", "lodash"); files != 2 || bytes != src.lodash20.Size+src.lodash21.Size {
		t.Errorf("lodash counts %d files, %d bytes after import; want 2, %d", files, bytes, src.lodash20.Size+src.lodash21.Size)
	}
}

func TestExportSelects(t *testing.T) {
	src := seed(t)
	tests := []struct {
		name          string
		filter        ExportFilter
		wantDocuments []string // registry/key/variant
		wantArtifacts []string // registry/path
		wantPackages  []string // registry/name
	}{
		{
			name:          "everything held without a filter",
			wantDocuments: []string{"npm/left-pad/full", "npm/lodash/abbreviated", "npm/lodash/full", "pypi/requests/json"},
			wantArtifacts: []string{"npm/left-pad/-/left-pad-1.3.0.tgz", "npm/lodash/-/lodash-4.17.20.tgz", "npm/lodash/-/lodash-4.17.21.tgz", "pypi/requests/requests-2.32.3-py3-none-any.whl"},
			wantPackages:  []string{"npm/left-pad", "npm/lodash", "pypi/requests"},
		},
		{
			name:          "since keeps what was fetched at or after it, the documents of kept artifacts, and the packages those rows name",
			filter:        ExportFilter{Since: at(100)},
			wantDocuments: []string{"npm/left-pad/full", "pypi/requests/json"},
			wantArtifacts: []string{"npm/left-pad/-/left-pad-1.3.0.tgz", "pypi/requests/requests-2.32.3-py3-none-any.whl"},
			wantPackages:  []string{"npm/left-pad", "pypi/requests"},
		},
		{
			name:   "since after everything keeps nothing",
			filter: ExportFilter{Since: at(500)},
		},
		{
			name:          "registry keeps one registry's rows",
			filter:        ExportFilter{Registry: "pypi"},
			wantDocuments: []string{"pypi/requests/json"},
			wantArtifacts: []string{"pypi/requests/requests-2.32.3-py3-none-any.whl"},
			wantPackages:  []string{"pypi/requests"},
		},
		{
			name:          "registry and since together",
			filter:        ExportFilter{Registry: "npm", Since: at(50)},
			wantDocuments: []string{"npm/left-pad/full", "npm/lodash/abbreviated", "npm/lodash/full"},
			wantArtifacts: []string{"npm/left-pad/-/left-pad-1.3.0.tgz", "npm/lodash/-/lodash-4.17.21.tgz"},
			wantPackages:  []string{"npm/left-pad", "npm/lodash"},
		},
		{
			name:          "paths keep the listed files and their packages' documents",
			filter:        ExportFilter{Paths: map[string]bool{"lodash/-/lodash-4.17.21.tgz": true, "lodash/-/lodash-4.17.19.tgz": true}},
			wantDocuments: []string{"npm/lodash/abbreviated", "npm/lodash/full"},
			wantArtifacts: []string{"npm/lodash/-/lodash-4.17.21.tgz"},
			wantPackages:  []string{"npm/lodash"},
		},
		{
			name: "paths with documents keep those documents too, whoever's they are",
			filter: ExportFilter{Paths: map[string]bool{"lodash/-/lodash-4.17.21.tgz": true},
				Documents: map[DocumentKey]bool{{Registry: "pypi", Key: "requests"}: true, {Registry: "npm", Key: "requests"}: true}},
			wantDocuments: []string{"npm/lodash/abbreviated", "npm/lodash/full", "pypi/requests/json"},
			wantArtifacts: []string{"npm/lodash/-/lodash-4.17.21.tgz"},
			wantPackages:  []string{"npm/lodash", "pypi/requests"},
		},
		{
			name:          "a listed file not held still carries its package's documents, for clients that resolve it to skip it",
			filter:        ExportFilter{Paths: map[string]bool{"lodash/-/lodash-4.17.19.tgz": true, "never/-/never-1.0.0.tgz": true}},
			wantDocuments: []string{"npm/lodash/abbreviated", "npm/lodash/full"},
			wantPackages:  []string{"npm/lodash"},
		},
		{
			name:   "a registry that holds nothing gives an empty archive",
			filter: ExportFilter{Registry: "cargo"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			archive := export(t, src.Store, tt.filter)
			m := readManifest(t, archive)
			var docs, arts, pkgs []string
			blobs := map[Digest]bool{}
			for _, d := range m.Documents {
				docs = append(docs, d.Registry+"/"+d.Key+"/"+d.Variant)
				blobs[d.Body] = true
			}
			for _, a := range m.Artifacts {
				arts = append(arts, a.Registry+"/"+a.Path)
				blobs[a.SHA256] = true
			}
			for _, p := range m.Packages {
				pkgs = append(pkgs, p.Registry+"/"+p.Name)
			}
			wantSame(t, "documents", docs, tt.wantDocuments)
			wantSame(t, "artifacts", arts, tt.wantArtifacts)
			wantSame(t, "packages", pkgs, tt.wantPackages)
			var listed []Digest
			for _, b := range m.Blobs {
				listed = append(listed, b.Digest)
			}
			if got, want := listed, slices.Sorted(maps.Keys(blobs)); !slices.Equal(got, want) {
				t.Errorf("blobs listed %v, want the rows' %v", got, want)
			}
			if m.Format != ArchiveFormat || !m.Created.Equal(at(1000)) || m.Registry != tt.filter.Registry || !m.Since.Equal(tt.filter.Since) {
				t.Errorf("manifest header: format %d, created %v, registry %q, since %v", m.Format, m.Created, m.Registry, m.Since)
			}

			// What was exported is what an import into a fresh folder holds.
			dst := newStore(t)
			importArchive(t, dst, archive)
			if got := rows(t, dst, `SELECT registry || '/' || doc_key || '/' || variant FROM documents ORDER BY 1`); len(got)+len(tt.wantDocuments) > 0 {
				wantSame(t, "imported documents", trimCol(got), tt.wantDocuments)
			}
			if got := rows(t, dst, `SELECT registry || '/' || path FROM artifacts ORDER BY 1`); len(got)+len(tt.wantArtifacts) > 0 {
				wantSame(t, "imported artifacts", trimCol(got), tt.wantArtifacts)
			}
		})
	}
}

// trimCol strips the "column=" rows() puts before each value of a one-column query.
func trimCol(rs []string) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		_, v, _ := strings.Cut(strings.TrimSpace(r), "=")
		out[i] = v
	}
	return out
}

func TestExportFailsOnAMissingOrCorruptBlobNamingIt(t *testing.T) {
	for _, tt := range []struct {
		name   string
		break_ func(path string) error
		want   string
	}{
		{"a missing blob", os.Remove, "not found"},
		{"a blob of another size", func(p string) error { return os.WriteFile(p, []byte("short"), 0o644) }, "the database says"},
		{"a blob of the same size but other bytes", func(p string) error {
			b, _ := os.ReadFile(p)
			b[0] ^= 1
			return os.WriteFile(p, b, 0o644)
		}, "digest mismatch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := seed(t)
			if err := tt.break_(blobFile(src.Store, src.leftPad.SHA256)); err != nil {
				t.Fatal(err)
			}
			_, err := src.Export(t.Context(), io.Discard, ExportOptions{})
			if err == nil || !strings.Contains(err.Error(), string(src.leftPad.SHA256)) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Export = %v, want an error naming blob %s and saying %q", err, src.leftPad.SHA256, tt.want)
			}
		})
	}
}

func blobFile(s *Store, d Digest) string {
	return filepath.Join(s.Dir, "blobs", "sha256", string(d[:2]), string(d))
}

func TestImportOfABrokenArchiveWritesNothingAndNamesTheEntry(t *testing.T) {
	src := seed(t)
	archive := export(t, src.Store, ExportFilter{})
	blobAt := func(content string) int {
		i := bytes.Index(archive, []byte(content))
		if i < 0 {
			t.Fatalf("%q not in the archive", content)
		}
		return i
	}
	leftPadEntry := blobPrefix + string(src.leftPad.SHA256)
	tests := []struct {
		name      string
		break_    func(b []byte) []byte
		wantEntry string
		wantErr   error // nil: any
	}{
		{
			name:      "a flipped byte in a blob",
			break_:    func(b []byte) []byte { b[blobAt("left-pad 1.3.0 tarball")+3] ^= 0x20; return b },
			wantEntry: leftPadEntry,
			wantErr:   ErrDigestMismatch,
		},
		{
			name:      "truncated in the middle of a blob",
			break_:    func(b []byte) []byte { return b[:blobAt("left-pad 1.3.0 tarball")+5] },
			wantEntry: leftPadEntry,
			wantErr:   io.ErrUnexpectedEOF,
		},
		{
			name:      "truncated in the middle of the manifest",
			break_:    func(b []byte) []byte { return b[:700] },
			wantEntry: manifestEntry,
			wantErr:   io.ErrUnexpectedEOF,
		},
		{
			name:      "truncated before the end marker",
			break_:    func(b []byte) []byte { return b[:bytes.LastIndex(b, []byte(endEntry))] },
			wantEntry: endEntry,
		},
		{
			name: "a changed row in the manifest",
			break_: func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"version":"4.17.21"`), []byte(`"version":"4.17.99"`), 1)
			},
			wantEntry: endEntry,
			wantErr:   ErrDigestMismatch,
		},
		{
			name: "a blob the manifest does not list",
			break_: func(b []byte) []byte {
				return rewrite(t, b, func(h *tar.Header) {
					if h.Name == leftPadEntry {
						h.Name = blobPrefix + strings.Repeat("0", 64)
					}
				})
			},
			wantEntry: blobPrefix + strings.Repeat("0", 64),
		},
		{
			name: "a blob entry that is not a regular file",
			break_: func(b []byte) []byte {
				return rewrite(t, b, func(h *tar.Header) {
					if h.Name == leftPadEntry {
						h.Typeflag, h.Size, h.Linkname = tar.TypeSymlink, 0, "/etc/passwd"
					}
				})
			},
			wantEntry: leftPadEntry,
		},
		{
			name:      "not an archive at all",
			break_:    func([]byte) []byte { return []byte("hello, this is not a tar file; it is far too short to be one") },
			wantEntry: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := newStore(t)
			// The folder already holds one of the archive's blobs: a failed
			// import must not take it away.
			putDoc(t, dst, Document{Registry: "npm", Key: "left-pad", Variant: "full", FetchedAt: at(0)}, `{"name":"left-pad"}`, "left-pad")
			before := state(t, dst)

			broken := tt.break_(slices.Clone(archive))
			_, err := dst.Import(t.Context(), bytes.NewReader(broken), ImportOptions{})
			if err == nil {
				t.Fatal("Import of a broken archive succeeded")
			}
			var ae *ArchiveError
			if tt.wantEntry != "" && (!errors.As(err, &ae) || ae.Entry != tt.wantEntry) {
				t.Errorf("Import = %v\nwant an error at entry %s", err, tt.wantEntry)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Import = %v, want one wrapping %v", err, tt.wantErr)
			}
			after := state(t, dst)
			for _, k := range []string{"packages", "documents", "artifacts", "blobs"} {
				wantSame(t, k+" after a failed import", after[k], before[k])
			}
		})
	}
}

// rewrite copies an archive entry by entry, letting edit change each header
// (a size set to 0 drops the entry's body).
func rewrite(t *testing.T, archive []byte, edit func(*tar.Header)) []byte {
	t.Helper()
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(archive)), tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		edit(h)
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body[:h.Size])
	}
	tw.Close()
	return out.Bytes()
}

func TestImportingTheSameArchiveTwiceChangesNothing(t *testing.T) {
	src := seed(t)
	archive := export(t, src.Store, ExportFilter{})
	dst := newStore(t)
	importArchive(t, dst, archive)
	// The folder is used between the two imports.
	served(t, dst, src.lodash20, 5, at(300))
	before := state(t, dst)

	sum := importArchive(t, dst, archive)
	want := ImportSummary{Packages: 3, DocumentsKept: 4, ArtifactsKept: 4, Blobs: 8, Bytes: sum.Bytes}
	if !reflect.DeepEqual(sum, want) {
		t.Errorf("second import summary = %+v\nwant                    %+v", sum, want)
	}
	after := state(t, dst)
	for _, k := range []string{"packages", "documents", "artifacts", "blobs"} {
		wantSame(t, k+" after the second import", after[k], before[k])
	}
}

func TestImportMergesWithWhatTheFolderHolds(t *testing.T) {
	src := seed(t)
	archive := export(t, src.Store, ExportFilter{})

	dst := newStore(t)
	// Held here already, with other bytes: first seen wins.
	mine := npmTarball("lodash", "4.17.21")
	mine.UpstreamURL = "https://elsewhere.example/lodash-4.17.21.tgz"
	mine = hold(t, dst, mine, "the lodash 4.17.21 this folder saw first", at(10))
	// Announced here but not held: the archive fills it in.
	if err := dst.AnnounceArtifacts(t.Context(), "npm", []Artifact{npmTarball("lodash", "4.17.20")}); err != nil {
		t.Fatal(err)
	}
	// Fetched here later than the archive's copy: kept. Earlier: replaced.
	newer := putDoc(t, dst, Document{Registry: "npm", Key: "lodash", Variant: "full", FetchedAt: at(900)}, `{"name":"lodash","newer":true}`, "lodash")
	putDoc(t, dst, Document{Registry: "npm", Key: "left-pad", Variant: "full", FetchedAt: at(1)}, `{"name":"left-pad","older":true}`, "left-pad")
	// A later fetch with an older serial (a lagging mirror) never wins.
	putDoc(t, dst, Document{Registry: "pypi", Key: "requests", Variant: "json", Serial: 50, FetchedAt: at(-10)}, `{"serial":50}`, "requests")

	sum := importArchive(t, dst, archive)
	if sum.ArtifactsKept != 0 || sum.ArtifactsWritten != 3 || sum.DocumentsKept != 2 || sum.DocumentsWritten != 2 {
		t.Errorf("summary = %+v, want 0 artifacts kept, 3 written, 2 documents kept, 2 written", sum)
	}
	// Other bytes for a file held here are the archive's conflict with this
	// folder, said as such: nothing is blamed on the upstream.
	if len(sum.Notes) != 1 || !sum.Notes[0].Conflict || sum.Notes[0].Row != "artifact npm/"+mine.Path ||
		!strings.Contains(sum.Notes[0].String(), "archive conflict") || !strings.Contains(sum.Notes[0].Detail, string(mine.SHA256)) {
		t.Errorf("notes = %v, want one archive conflict on %s naming the bytes held", sum.Notes, mine.Path)
	}

	got, _ := dst.Artifact(t.Context(), "npm", mine.Path)
	if got.SHA256 != mine.SHA256 || got.UpstreamURL != mine.UpstreamURL {
		t.Errorf("an artifact held already became %+v, want its own bytes and URL kept", got)
	}
	got, _ = dst.Artifact(t.Context(), "npm", src.lodash20.Path)
	if got.SHA256 != src.lodash20.SHA256 || !got.FirstFetch.Equal(at(0)) {
		t.Errorf("an announced artifact became %+v, want the archive's bytes", got)
	}
	for _, tt := range []struct {
		key, variant string
		want         Digest
	}{
		{"lodash", "full", newer.Body},
		{"left-pad", "full", src.leftPadDoc.Body},
	} {
		doc, _ := dst.Document(t.Context(), "npm", tt.key, tt.variant)
		if doc.Body != tt.want {
			t.Errorf("document %s (%s) has body %s, want %s", tt.key, tt.variant, doc.Body, tt.want)
		}
	}
	if doc, _ := dst.Document(t.Context(), "pypi", "requests", "json"); doc.Serial != 50 {
		t.Errorf("requests page has serial %d, want the held 50 kept", doc.Serial)
	}
	if files, bytes := pkgCounts(t, dst, "npm", "lodash"); files != 2 || bytes != mine.Size+src.lodash20.Size {
		t.Errorf("lodash counts %d files, %d bytes; want 2 files, %d bytes", files, bytes, mine.Size+src.lodash20.Size)
	}
}

func TestImportRefusesAnArchiveOfANewerFormat(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte(`{"format":2,"packages":[],"documents":[],"artifacts":[],"blobs":[]}`)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: manifestEntry, Size: int64(len(body)), Mode: 0o644})
	tw.Write(body)
	tw.Close()
	_, err := newStore(t).Import(t.Context(), &buf, ImportOptions{})
	var ae *ArchiveError
	if !errors.As(err, &ae) || ae.Entry != manifestEntry || !strings.Contains(err.Error(), "format 2") {
		t.Errorf("Import = %v, want an error at %s about format 2", err, manifestEntry)
	}
}

func TestAnEmptyExportImports(t *testing.T) {
	archive := export(t, newStore(t), ExportFilter{})
	sum := importArchive(t, newStore(t), archive)
	if !reflect.DeepEqual(sum, ImportSummary{}) {
		t.Errorf("summary = %+v, want zero", sum)
	}
}
