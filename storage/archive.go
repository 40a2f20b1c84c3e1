package storage

// An archive carries part of a data folder to another one, possibly on a
// machine with no network (`larder export`, `larder import`). It is a tar
// file; blobs are compressed already, so it is not gzipped:
//
//	manifest.json         the format, the rows (packages, documents, held artifacts)
//	                      and every blob with its digest and size (Manifest)
//	manifest.hmac-sha256  only in a signed archive: HMAC-SHA256 of the manifest
//	                      under the site's key, in hex
//	sha256/<hex>          one entry per blob, named by its digest, in manifest order
//	manifest.sha256       the manifest's SHA-256 in hex: the last entry, the end marker
//
// The manifest comes first so that an import can check every blob against it
// while the archive streams by; the manifest names every blob by digest, so
// its signature covers the whole archive, and comes before any blob so that
// an import with a key stages nothing of an archive not signed with it.
// Import stages every blob through BlobWriter.Commit with the digest the
// manifest expects and writes the rows only once every entry is verified
// (and ImportOptions.Vet has passed them), in one transaction: a corrupt or
// truncated archive imports no row.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// ArchiveFormat is the manifest format Export writes and the newest Import
// reads.
const ArchiveFormat = 1

const (
	manifestEntry = "manifest.json"
	signEntry     = "manifest.hmac-sha256"
	endEntry      = "manifest.sha256"
	blobPrefix    = "sha256/"
)

// Manifest is an archive's table of contents.
type Manifest struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	// What the export was asked for, for the reader's information: the
	// registry ("" for every one) and the --since cut-off (zero for none).
	Registry  string             `json:"registry,omitempty"`
	Since     time.Time          `json:"since,omitzero"`
	Packages  []ArchivedPackage  `json:"packages"`
	Documents []ArchivedDocument `json:"documents"`
	Artifacts []ArchivedArtifact `json:"artifacts"` // held ones only: SHA256 is always set
	Blobs     []ArchivedBlob     `json:"blobs"`     // each digest once, in entry order
}

// ArchivedPackage is a catalog row. Its counters of files and bytes held are
// not carried: the importing side counts what it holds.
type ArchivedPackage struct {
	Registry   string    `json:"registry"`
	Name       string    `json:"name"`
	FirstSeen  time.Time `json:"first_seen_at,omitzero"`
	LastServed time.Time `json:"last_served_at,omitzero"`
	Hits       int64     `json:"hits,omitempty"`
}

// ArchivedDocument is a documents row; its body is the blob Body.
type ArchivedDocument struct {
	Registry     string    `json:"registry"`
	Key          string    `json:"key"`
	Variant      string    `json:"variant"`
	Body         Digest    `json:"body_sha256"`
	Size         int64     `json:"body_size"`
	ContentType  string    `json:"content_type"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	Serial       int64     `json:"serial,omitempty"`
	FetchedAt    time.Time `json:"fetched_at,omitzero"`
}

// ArchivedArtifact is a held artifacts row; its bytes are the blob SHA256.
type ArchivedArtifact struct {
	Registry    string    `json:"registry"`
	Path        string    `json:"path"`
	Package     string    `json:"package"`
	Version     string    `json:"version"`
	UpstreamURL string    `json:"upstream_url"`
	Integrity   string    `json:"integrity,omitempty"`
	SHA256      Digest    `json:"sha256"`
	Size        int64     `json:"size"`
	FirstFetch  time.Time `json:"first_fetched_at,omitzero"`
	LastFetch   time.Time `json:"last_fetched_at,omitzero"`
	LastServed  time.Time `json:"last_served_at,omitzero"`
	Hits        int64     `json:"hits,omitempty"`
}

// ArchivedBlob is one blob entry of an archive.
type ArchivedBlob struct {
	Digest Digest `json:"sha256"`
	Size   int64  `json:"size"`
}

// ExportFilter selects what an export carries. The zero value selects
// everything.
type ExportFilter struct {
	// Registry keeps one registry's rows; "" keeps every registry's.
	Registry string
	// Since keeps the documents fetched and the artifacts first fetched at
	// or after it, and the packages first seen at or after it or named by a
	// kept row; the zero time keeps all.
	Since time.Time
	// Paths, when not nil, keeps only the held artifacts whose path (under
	// the registry's mount) is in the set, such as the files a lockfile
	// names, and with them only their packages' rows and the documents keyed
	// by those packages' names. nil keeps every artifact.
	Paths map[string]bool
	// Documents, with Paths, keeps these documents too (every variant):
	// those that verify the kept artifacts without being keyed by their
	// package's name, such as Go's checksum-database records and tiles.
	Documents map[DocumentKey]bool
}

// DocumentKey names a registry's document, in all its variants.
type DocumentKey struct{ Registry, Key string }

// ExportOptions say how to export. The zero value exports everything with
// no progress reports.
type ExportOptions struct {
	Filter ExportFilter
	// Progress, when not nil, is called as blob bytes are written: blobs
	// written of all, bytes written of the total.
	Progress func(Progress)
	// Now is the archive's creation time; zero is time.Now().
	Now time.Time
	// Key, when set, signs the archive (HMAC-SHA256 of the manifest), so
	// that an import given the same key can tell the site's own archives
	// from anyone else's.
	Key []byte
}

// ExportSummary says what an export wrote.
type ExportSummary struct {
	Packages, Documents, Artifacts, Blobs int
	Bytes                                 int64 // of blobs
}

// Export writes an archive of the rows and blobs opts selects to w. It checks
// every blob's size before it writes anything and every blob's digest as it
// writes it: a blob that is missing or corrupt fails the export, naming it.
func (s *Store) Export(ctx context.Context, w io.Writer, opts ExportOptions) (ExportSummary, error) {
	m, err := s.manifest(ctx, opts.Filter)
	if err != nil {
		return ExportSummary{}, fmt.Errorf("export: %w", err)
	}
	m.Created = opts.Now
	if m.Created.IsZero() {
		m.Created = time.Now()
	}
	m.Created = m.Created.UTC()
	sum := ExportSummary{Packages: len(m.Packages), Documents: len(m.Documents), Artifacts: len(m.Artifacts), Blobs: len(m.Blobs)}
	inline, err := s.DB.inlineDigests(ctx)
	if err != nil {
		return ExportSummary{}, fmt.Errorf("export: %w", err)
	}
	for _, b := range m.Blobs {
		size, err := s.statHeld(ctx, b.Digest, inline)
		if err != nil {
			return ExportSummary{}, fmt.Errorf("export: blob %s: %w (larder verify repairs the rows that point at it)", b.Digest, err)
		}
		if size != b.Size {
			return ExportSummary{}, fmt.Errorf("export: blob %s holds %d bytes, the database says %d (run larder verify)", b.Digest, size, b.Size)
		}
		sum.Bytes += size
	}

	body, err := json.Marshal(m)
	if err != nil {
		return ExportSummary{}, fmt.Errorf("export: manifest: %w", err)
	}
	body = append(body, '\n')
	tw := tar.NewWriter(w)
	if err := writeEntry(tw, manifestEntry, int64(len(body)), m.Created, bytes.NewReader(body)); err != nil {
		return ExportSummary{}, fmt.Errorf("export: %w", err)
	}
	if len(opts.Key) > 0 {
		sig := []byte(hex.EncodeToString(signManifest(opts.Key, body)) + "\n")
		if err := writeEntry(tw, signEntry, int64(len(sig)), m.Created, bytes.NewReader(sig)); err != nil {
			return ExportSummary{}, fmt.Errorf("export: %w", err)
		}
	}
	var done int64
	for i, b := range m.Blobs {
		if err := ctx.Err(); err != nil {
			return ExportSummary{}, err
		}
		if err := s.exportBlob(ctx, tw, b, inline, m.Created, func(n int64) {
			done += n
			if opts.Progress != nil {
				opts.Progress(Progress{Items: i, TotalItems: len(m.Blobs), Bytes: done, TotalBytes: sum.Bytes})
			}
		}); err != nil {
			return ExportSummary{}, fmt.Errorf("export: %w", err)
		}
	}
	mh := sha256.Sum256(body)
	end := []byte(hex.EncodeToString(mh[:]) + "\n")
	if err := writeEntry(tw, endEntry, int64(len(end)), m.Created, bytes.NewReader(end)); err != nil {
		return ExportSummary{}, fmt.Errorf("export: %w", err)
	}
	if err := tw.Close(); err != nil {
		return ExportSummary{}, fmt.Errorf("export: %w", err)
	}
	return sum, nil
}

func signManifest(key, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return mac.Sum(nil)
}

// ErrSignature: an archive is not signed with the key an import was given.
var ErrSignature = errors.New("signature check failed")

func writeEntry(tw *tar.Writer, name string, size int64, mod time.Time, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: mod}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := io.CopyN(tw, r, size); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// exportBlob writes one blob entry, hashing it on the way: a blob whose bytes
// no longer match its name fails the export.
func (s *Store) exportBlob(ctx context.Context, tw *tar.Writer, b ArchivedBlob, inline map[Digest]bool, mod time.Time, progress func(int64)) error {
	rc, size, err := s.openHeld(ctx, b.Digest, inline)
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	defer rc.Close()
	if size != b.Size {
		return fmt.Errorf("blob %s holds %d bytes, the manifest says %d", b.Digest, size, b.Size)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: blobPrefix + string(b.Digest), Size: size, Mode: 0o644, ModTime: mod}); err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	h := sha256.New()
	dst := io.MultiWriter(tw, h, progressWriter(progress))
	if _, err := io.CopyN(dst, rc, size); err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	if got := Digest(hex.EncodeToString(h.Sum(nil))); got != b.Digest {
		return fmt.Errorf("blob %s: %w: its bytes hash to %s (run larder verify)", b.Digest, ErrDigestMismatch, got)
	}
	return nil
}

type progressWriter func(int64)

func (p progressWriter) Write(b []byte) (int, error) {
	p(int64(len(b)))
	return len(b), nil
}

// namePackagesOfPaths calls name with the package of each artifact row,
// held or not, whose path is in f.Paths (in f.Registry, or any registry).
func namePackagesOfPaths(ctx context.Context, tx *sql.Tx, f ExportFilter, name func(registry, pkg string)) error {
	regs := []string{f.Registry}
	if f.Registry == "" {
		regs = nil
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT registry FROM packages`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				rows.Close()
				return err
			}
			regs = append(regs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	stmt, err := tx.PrepareContext(ctx, `SELECT package FROM artifacts WHERE registry = ? AND path = ?`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for path := range f.Paths {
		for _, reg := range regs {
			var pkg string
			switch err := stmt.QueryRowContext(ctx, reg, path).Scan(&pkg); {
			case err == nil:
				name(reg, pkg)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
	}
	return nil
}

// manifest reads the rows a filter selects, in one read transaction so that
// they agree with each other, and lists the blobs they point at.
func (s *Store) manifest(ctx context.Context, f ExportFilter) (Manifest, error) {
	m := Manifest{Format: ArchiveFormat, Registry: f.Registry, Documents: []ArchivedDocument{}, Artifacts: []ArchivedArtifact{}, Packages: []ArchivedPackage{}, Blobs: []ArchivedBlob{}}
	if !f.Since.IsZero() {
		m.Since = f.Since.UTC()
	}
	tx, err := s.DB.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Manifest{}, err
	}
	defer tx.Rollback()

	since := millis(f.Since)
	type pkgKey struct{ registry, name string }
	named := map[pkgKey]bool{} // packages a kept row names

	where, args := "sha256 IS NOT NULL AND first_fetched_at >= ?", []any{since}
	if f.Registry != "" {
		where, args = where+" AND registry = ?", append(args, f.Registry)
	}
	rows, err := tx.QueryContext(ctx, `SELECT registry, path, package, version, upstream_url, integrity, sha256, size,
		first_fetched_at, last_fetched_at, last_served_at, hits
		FROM artifacts WHERE `+where+` ORDER BY registry, path`, args...)
	if err != nil {
		return Manifest{}, err
	}
	for rows.Next() {
		var a ArchivedArtifact
		var first, last, served int64
		if err := rows.Scan(&a.Registry, &a.Path, &a.Package, &a.Version, &a.UpstreamURL, &a.Integrity, &a.SHA256, &a.Size,
			&first, &last, &served, &a.Hits); err != nil {
			rows.Close()
			return Manifest{}, err
		}
		if f.Paths != nil && !f.Paths[a.Path] {
			continue
		}
		a.FirstFetch, a.LastFetch, a.LastServed = utcMillis(first), utcMillis(last), utcMillis(served)
		m.Artifacts = append(m.Artifacts, a)
		named[pkgKey{a.Registry, a.Package}] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Manifest{}, err
	}
	if f.Paths != nil {
		// A file the paths name that is not held (a package built for
		// another platform, which the lockfile lists and no install here
		// fetched) still has its package's documents carried: a client
		// across the gap resolves it before it skips it.
		if err := namePackagesOfPaths(ctx, tx, f, func(registry, pkg string) { named[pkgKey{registry, pkg}] = true }); err != nil {
			return Manifest{}, err
		}
	}

	// A kept artifact's documents go with it however old they are: an
	// import checks its bytes against what they declare, and an offline
	// client needs them to find it.
	where, args = "1 = 1", nil
	if f.Registry != "" {
		where, args = "registry = ?", []any{f.Registry}
	}
	rows, err = tx.QueryContext(ctx, `SELECT registry, doc_key, variant, body_sha256, body_size, content_type, etag, last_modified, serial, fetched_at
		FROM documents WHERE `+where+` ORDER BY registry, doc_key, variant`, args...)
	if err != nil {
		return Manifest{}, err
	}
	for rows.Next() {
		var d ArchivedDocument
		var fetched int64
		if err := rows.Scan(&d.Registry, &d.Key, &d.Variant, &d.Body, &d.Size, &d.ContentType, &d.ETag, &d.LastModified, &d.Serial, &fetched); err != nil {
			rows.Close()
			return Manifest{}, err
		}
		if !named[pkgKey{d.Registry, d.Key}] && !f.Documents[DocumentKey{d.Registry, d.Key}] && (f.Paths != nil || fetched < since) {
			continue
		}
		d.FetchedAt = utcMillis(fetched)
		m.Documents = append(m.Documents, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Manifest{}, err
	}
	for _, d := range m.Documents {
		named[pkgKey{d.Registry, d.Key}] = true // a document's key is its package's name, or an endpoint no package is called
	}

	where, args = "1 = 1", nil
	if f.Registry != "" {
		where, args = "registry = ?", []any{f.Registry}
	}
	rows, err = tx.QueryContext(ctx, `SELECT registry, name, first_seen_at, last_served_at, hits
		FROM packages WHERE `+where+` ORDER BY registry, name`, args...)
	if err != nil {
		return Manifest{}, err
	}
	for rows.Next() {
		var p ArchivedPackage
		var first, served int64
		if err := rows.Scan(&p.Registry, &p.Name, &first, &served, &p.Hits); err != nil {
			rows.Close()
			return Manifest{}, err
		}
		if !named[pkgKey{p.Registry, p.Name}] && (f.Paths != nil || first < since) {
			continue
		}
		p.FirstSeen, p.LastServed = utcMillis(first), utcMillis(served)
		m.Packages = append(m.Packages, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Manifest{}, err
	}

	sizes := map[Digest]int64{}
	add := func(d Digest, size int64, row string) error {
		if prev, ok := sizes[d]; ok && prev != size {
			return fmt.Errorf("%s: blob %s is recorded as %d bytes here and %d bytes elsewhere (run larder verify)", row, d, size, prev)
		}
		sizes[d] = size
		return nil
	}
	for _, d := range m.Documents {
		if err := add(d.Body, d.Size, fmt.Sprintf("document %s/%s (%s)", d.Registry, d.Key, d.Variant)); err != nil {
			return Manifest{}, err
		}
	}
	for _, a := range m.Artifacts {
		if err := add(a.SHA256, a.Size, fmt.Sprintf("artifact %s/%s", a.Registry, a.Path)); err != nil {
			return Manifest{}, err
		}
	}
	for d, size := range sizes {
		m.Blobs = append(m.Blobs, ArchivedBlob{Digest: d, Size: size})
	}
	slices.SortFunc(m.Blobs, func(a, b ArchivedBlob) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return m, nil
}

func utcMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// ArchiveError is an import's failure at one entry of the archive.
type ArchiveError struct {
	Entry string // e.g. "manifest.json", "sha256/ab12…"
	Err   error
}

func (e *ArchiveError) Error() string { return "archive entry " + e.Entry + ": " + e.Err.Error() }
func (e *ArchiveError) Unwrap() error { return e.Err }

// MaxManifestSize is the largest manifest Import reads unless told
// otherwise. A manifest is read whole and decoded in memory, at about twice
// its size: 128 MiB holds some 300,000 artifact rows.
const MaxManifestSize = 128 << 20

// ImportOptions say how to import. The zero value reports no progress and
// reads manifests of up to MaxManifestSize.
type ImportOptions struct {
	// MaxManifestSize bounds the manifest; 0 means MaxManifestSize.
	MaxManifestSize int64
	// Key, when set, admits only an archive signed with it (ExportOptions.Key):
	// anything else is refused before a blob is staged.
	Key []byte
	// Vet holds an archive's rows to the rules of the registries they
	// belong to. It is called once every blob entry is verified against the
	// manifest, with the blobs in the store, and before any row is written.
	// It may rewrite an artifact's upstream URL and integrity to what those
	// rules make of them, drop rows (with a note saying why), or refuse the
	// whole archive with an error. storage knows no ecosystem: without Vet,
	// every row the manifest verifies is imported; larder import always
	// passes one.
	Vet func(ctx context.Context, s *Store, m *Manifest) ([]ImportNote, error)
	// Progress, when not nil, is called as blob bytes are verified: blobs
	// verified of those the manifest lists, and bytes of their total.
	Progress func(Progress)
}

// ImportSummary says what an import changed.
type ImportSummary struct {
	Packages         int   // package rows in the archive (new ones added; held ones keep their counters)
	DocumentsWritten int   // documents new here, or fetched later than the copy held
	DocumentsKept    int   // documents whose copy here was fetched as late or later
	ArtifactsWritten int   // artifacts whose bytes are now held
	ArtifactsKept    int   // artifacts held already: first seen wins
	Blobs            int   // blob entries verified
	NewBlobs         int   // of them, not held before
	Bytes            int64 // bytes of blob entries verified
	// Signed: the archive carries a signature. SignatureChecked: it was
	// checked against ImportOptions.Key.
	Signed, SignatureChecked bool
	// Notes name the rows not imported: conflicts with what the folder
	// holds, and rows Vet refused.
	Notes []ImportNote
}

// ImportNote is a row an import left out, and why.
type ImportNote struct {
	Row string // "artifact npm/lodash/-/lodash-4.17.21.tgz", "document npm/lodash (full)"
	// Conflict: the archive disagrees with what the folder holds, which
	// stays (first seen wins). Otherwise the row was refused.
	Conflict bool
	Detail   string
}

func (n ImportNote) String() string {
	if n.Conflict {
		return "archive conflict: " + n.Row + ": " + n.Detail
	}
	return "refused: " + n.Row + ": " + n.Detail
}

// Import reads an archive Export wrote. It checks every blob entry's size and
// SHA-256 against the manifest while it stages the blob, and only once every
// entry is verified writes every row in one transaction. A corrupt or
// truncated archive writes no row, removes the blobs it added that no row
// points at, and returns an *ArchiveError naming the entry.
//
// Importing an archive again changes nothing: an artifact held already keeps
// its row (first seen wins), a document is replaced only by one fetched
// later (and with a serial no older), and a package held already keeps its
// counters.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportSummary, error) {
	var added []Digest // blobs this import created; removed again if it fails
	sum, err := s.importArchive(ctx, r, opts, &added)
	// Blobs of rows left out are as unwanted as those of a failed import.
	s.removeUnreferenced(context.WithoutCancel(ctx), added)
	if err != nil {
		return ImportSummary{}, fmt.Errorf("import: %w", err)
	}
	return sum, nil
}

func (s *Store) importArchive(ctx context.Context, r io.Reader, opts ImportOptions, added *[]Digest) (ImportSummary, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err == io.EOF {
		return ImportSummary{}, errors.New("empty archive")
	}
	if err != nil {
		return ImportSummary{}, fmt.Errorf("not a larder archive: %w", err)
	}
	if hdr.Name != manifestEntry {
		return ImportSummary{}, &ArchiveError{hdr.Name, fmt.Errorf("not a larder archive: the first entry must be %s", manifestEntry)}
	}
	if err := regularEntry(hdr); err != nil {
		return ImportSummary{}, &ArchiveError{hdr.Name, err}
	}
	limit := opts.MaxManifestSize
	if limit <= 0 {
		limit = MaxManifestSize
	}
	if hdr.Size > limit {
		return ImportSummary{}, &ArchiveError{hdr.Name, fmt.Errorf("%d bytes, over the limit of %d (larder import --max-manifest-size raises it)", hdr.Size, limit)}
	}
	body, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
	if err == nil && int64(len(body)) != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return ImportSummary{}, &ArchiveError{manifestEntry, truncated(err)}
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return ImportSummary{}, &ArchiveError{manifestEntry, err}
	}
	want, err := checkManifest(&m)
	if err != nil {
		return ImportSummary{}, &ArchiveError{manifestEntry, err}
	}
	var total int64
	for _, b := range m.Blobs {
		total += b.Size
	}

	sum := ImportSummary{Packages: len(m.Packages)}
	seen := map[Digest]bool{}
	ended := false
	for {
		if err := ctx.Err(); err != nil {
			return ImportSummary{}, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ImportSummary{}, &ArchiveError{"after " + lastEntry(m.Blobs, seen), truncated(err)}
		}
		if ended {
			return ImportSummary{}, &ArchiveError{hdr.Name, fmt.Errorf("an entry after the end marker %s", endEntry)}
		}
		if err := regularEntry(hdr); err != nil {
			return ImportSummary{}, &ArchiveError{hdr.Name, err}
		}
		if len(opts.Key) > 0 && !sum.Signed && hdr.Name != signEntry {
			return ImportSummary{}, &ArchiveError{signEntry, fmt.Errorf("%w: missing, the archive is not signed (it must come right after %s)", ErrSignature, manifestEntry)}
		}
		switch {
		case hdr.Name == signEntry:
			if sum.Signed || len(seen) > 0 {
				return ImportSummary{}, &ArchiveError{hdr.Name, fmt.Errorf("out of place: it comes once, right after %s", manifestEntry)}
			}
			b, err := io.ReadAll(io.LimitReader(tr, 1024))
			if err != nil {
				return ImportSummary{}, &ArchiveError{hdr.Name, truncated(err)}
			}
			sum.Signed = true
			if len(opts.Key) > 0 {
				got, err := hex.DecodeString(strings.TrimSpace(string(b)))
				if err != nil || !hmac.Equal(got, signManifest(opts.Key, body)) {
					return ImportSummary{}, &ArchiveError{hdr.Name, fmt.Errorf("%w: the archive was not signed with this key, or its manifest was changed since", ErrSignature)}
				}
				sum.SignatureChecked = true
			}
		case hdr.Name == endEntry:
			b, err := io.ReadAll(io.LimitReader(tr, 1024))
			if err != nil {
				return ImportSummary{}, &ArchiveError{hdr.Name, truncated(err)}
			}
			mh := sha256.Sum256(body)
			if strings.TrimSpace(string(b)) != hex.EncodeToString(mh[:]) {
				return ImportSummary{}, &ArchiveError{hdr.Name, fmt.Errorf("%w: the manifest does not hash to the digest the archive ends with", ErrDigestMismatch)}
			}
			ended = true
		case strings.HasPrefix(hdr.Name, blobPrefix):
			d := Digest(strings.TrimPrefix(hdr.Name, blobPrefix))
			size, listed := want[d]
			switch {
			case !listed:
				return ImportSummary{}, &ArchiveError{hdr.Name, errors.New("a blob the manifest does not list")}
			case seen[d]:
				return ImportSummary{}, &ArchiveError{hdr.Name, errors.New("the blob appears twice")}
			case hdr.Size != size:
				return ImportSummary{}, &ArchiveError{hdr.Name, fmt.Errorf("%d bytes, the manifest says %d", hdr.Size, size)}
			}
			isNew, err := s.stageBlob(ctx, tr, d, size, func(n int64) {
				sum.Bytes += n
				if opts.Progress != nil {
					opts.Progress(Progress{Items: sum.Blobs, TotalItems: len(m.Blobs), Bytes: sum.Bytes, TotalBytes: total})
				}
			})
			if isNew {
				*added = append(*added, d)
				sum.NewBlobs++
			}
			if err != nil {
				return ImportSummary{}, &ArchiveError{hdr.Name, err}
			}
			seen[d] = true
			sum.Blobs++
		default:
			return ImportSummary{}, &ArchiveError{hdr.Name, errors.New("an entry a larder archive does not have")}
		}
	}
	for _, b := range m.Blobs {
		if !seen[b.Digest] {
			return ImportSummary{}, &ArchiveError{blobPrefix + string(b.Digest), errors.New("missing: the archive is truncated or incomplete")}
		}
	}
	if !ended {
		return ImportSummary{}, &ArchiveError{endEntry, errors.New("missing: the archive is truncated")}
	}
	if opts.Vet != nil {
		notes, err := opts.Vet(ctx, s, &m)
		if err != nil {
			if ae := (*ArchiveError)(nil); errors.As(err, &ae) {
				return ImportSummary{}, err
			}
			return ImportSummary{}, &ArchiveError{manifestEntry, err}
		}
		sum.Notes = append(sum.Notes, notes...)
	}
	if err := s.importRows(ctx, &m, &sum); err != nil {
		return ImportSummary{}, err
	}
	return sum, nil
}

// regularEntry refuses every entry but a plain regular file. Export writes
// nothing else; a link or device means nothing in an archive, and a sparse
// file is how a few bytes of archive read as gigabytes.
func regularEntry(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("not a regular file (type %q)", hdr.Typeflag)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return errors.New("a sparse file, which a larder archive never holds")
		}
	}
	return nil
}

// lastEntry names the last blob entry read, for an error that happens
// between entries.
func lastEntry(blobs []ArchivedBlob, seen map[Digest]bool) string {
	last := manifestEntry
	for _, b := range blobs {
		if seen[b.Digest] {
			last = blobPrefix + string(b.Digest)
		}
	}
	return last
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the archive is truncated: %w", err)
	}
	return err
}

// checkManifest checks that a manifest is one this larder reads and that its
// rows and blobs agree, and returns the size of every listed blob.
func checkManifest(m *Manifest) (map[Digest]int64, error) {
	if m.Format < 1 || m.Format > ArchiveFormat {
		return nil, fmt.Errorf("archive format %d; this larder reads format %d", m.Format, ArchiveFormat)
	}
	want := map[Digest]int64{}
	for _, b := range m.Blobs {
		if d, err := ParseDigest(string(b.Digest)); err != nil || d != b.Digest {
			return nil, fmt.Errorf("blob %q: not a lower-case SHA-256 digest", b.Digest)
		}
		if _, dup := want[b.Digest]; dup {
			return nil, fmt.Errorf("blob %s is listed twice", b.Digest)
		}
		if b.Size < 0 {
			return nil, fmt.Errorf("blob %s: negative size", b.Digest)
		}
		want[b.Digest] = b.Size
	}
	used := map[Digest]bool{}
	blob := func(row string, d Digest, size int64) error {
		listed, ok := want[d]
		if !ok {
			return fmt.Errorf("%s points at blob %q, which the manifest does not list", row, d)
		}
		if listed != size {
			return fmt.Errorf("%s says blob %s is %d bytes, the manifest lists %d", row, d, size, listed)
		}
		used[d] = true
		return nil
	}
	for _, p := range m.Packages {
		if p.Registry == "" || p.Name == "" {
			return nil, fmt.Errorf("a package row without a registry or a name: %+v", p)
		}
	}
	for _, d := range m.Documents {
		row := fmt.Sprintf("document %s/%s (%s)", d.Registry, d.Key, d.Variant)
		if d.Registry == "" || d.Key == "" {
			return nil, fmt.Errorf("%s: no registry or key", row)
		}
		if err := blob(row, d.Body, d.Size); err != nil {
			return nil, err
		}
	}
	for _, a := range m.Artifacts {
		row := fmt.Sprintf("artifact %s/%s", a.Registry, a.Path)
		if a.Registry == "" || a.Path == "" {
			return nil, fmt.Errorf("%s: no registry or path", row)
		}
		if err := blob(row, a.SHA256, a.Size); err != nil {
			return nil, err
		}
	}
	for _, b := range m.Blobs {
		if !used[b.Digest] {
			return nil, fmt.Errorf("blob %s is listed but no row points at it", b.Digest)
		}
	}
	return want, nil
}

// stageBlob copies one blob entry into the store, committing it only if it
// has the manifest's size and digest. isNew says whether the store did not
// hold the blob before (so that a failed import may remove it again).
func (s *Store) stageBlob(ctx context.Context, r io.Reader, d Digest, size int64, progress func(int64)) (isNew bool, err error) {
	if _, err := s.Blobs.Stat(ctx, d); err != nil {
		if !errors.Is(err, ErrNotFound) {
			return false, err
		}
		isNew = true
	}
	w, err := s.Blobs.Create(ctx)
	if err != nil {
		return false, err
	}
	defer w.Cancel()
	n, err := io.Copy(io.MultiWriter(w, progressWriter(progress)), r)
	if err != nil {
		return false, truncated(err)
	}
	if n != size {
		return false, truncated(fmt.Errorf("%d of %d bytes: %w", n, size, io.ErrUnexpectedEOF))
	}
	if _, _, err := w.Commit(ctx, d); err != nil {
		return false, err // ErrDigestMismatch: the bytes are not what the manifest promised
	}
	return isNew, nil
}

// importRows writes a verified manifest's rows in one transaction.
func (s *Store) importRows(ctx context.Context, m *Manifest, sum *ImportSummary) error {
	return s.DB.txAlone(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// A package held already keeps its counters; an earlier first sight wins.
		pkgs, err := tx.PrepareContext(ctx, `INSERT INTO packages (registry, name, first_seen_at, last_served_at, hits)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (registry, name) DO UPDATE SET
			first_seen_at = CASE WHEN excluded.first_seen_at <> 0 AND excluded.first_seen_at < packages.first_seen_at
				THEN excluded.first_seen_at ELSE packages.first_seen_at END`)
		if err != nil {
			return err
		}
		defer pkgs.Close()
		for _, p := range m.Packages {
			if _, err := pkgs.ExecContext(ctx, p.Registry, p.Name, millis(p.FirstSeen), millis(p.LastServed), p.Hits); err != nil {
				return fmt.Errorf("package %s/%s: %w", p.Registry, p.Name, err)
			}
		}

		// A document replaces the copy held only when it was fetched later,
		// and never moves the upstream's serial back.
		docs, err := tx.PrepareContext(ctx, `INSERT INTO documents
			(registry, doc_key, variant, body_sha256, body_size, content_type, etag, last_modified, serial, fetched_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (registry, doc_key, variant) DO UPDATE SET
			body_sha256 = excluded.body_sha256, body_size = excluded.body_size,
			content_type = excluded.content_type, etag = excluded.etag,
			last_modified = excluded.last_modified, serial = excluded.serial,
			fetched_at = excluded.fetched_at
			WHERE excluded.fetched_at > documents.fetched_at AND excluded.serial >= documents.serial`)
		if err != nil {
			return err
		}
		defer docs.Close()
		for _, d := range m.Documents {
			res, err := docs.ExecContext(ctx, d.Registry, d.Key, d.Variant, string(d.Body), d.Size, d.ContentType,
				d.ETag, d.LastModified, d.Serial, millis(d.FetchedAt))
			if err != nil {
				return fmt.Errorf("document %s/%s (%s): %w", d.Registry, d.Key, d.Variant, err)
			}
			if n, err := res.RowsAffected(); err == nil && n == 0 {
				sum.DocumentsKept++
			} else {
				sum.DocumentsWritten++
			}
		}

		// An artifact held already keeps its row: first seen wins. One only
		// announced here takes the archive's bytes and keeps its counters.
		arts, err := tx.PrepareContext(ctx, `INSERT INTO artifacts
			(registry, path, package, version, upstream_url, integrity, sha256, size,
			 first_fetched_at, last_fetched_at, last_served_at, hits)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (registry, path) DO UPDATE SET
			sha256 = excluded.sha256, size = excluded.size,
			upstream_url = excluded.upstream_url, integrity = excluded.integrity,
			first_fetched_at = excluded.first_fetched_at, last_fetched_at = excluded.last_fetched_at
			WHERE artifacts.sha256 IS NULL`)
		if err != nil {
			return err
		}
		defer arts.Close()
		for _, a := range m.Artifacts {
			pkg, held, _, err := heldState(ctx, tx, a.Registry, a.Path)
			if err != nil {
				return fmt.Errorf("artifact %s/%s: %w", a.Registry, a.Path, err)
			}
			if held {
				var digest Digest
				if err := tx.QueryRowContext(ctx, `SELECT sha256 FROM artifacts WHERE registry = ? AND path = ?`, a.Registry, a.Path).Scan(&digest); err != nil {
					return fmt.Errorf("artifact %s/%s: %w", a.Registry, a.Path, err)
				}
				if digest == a.SHA256 {
					sum.ArtifactsKept++
					continue
				}
				// The upstream did not change these bytes: the archive
				// disagrees with this folder, which saw the file first.
				sum.Notes = append(sum.Notes, ImportNote{Row: "artifact " + a.Registry + "/" + a.Path, Conflict: true,
					Detail: fmt.Sprintf("the archive has bytes with sha256 %s, this folder holds %s (kept: first seen wins)", a.SHA256, digest)})
				continue
			}
			if pkg == "" {
				pkg = a.Package
			}
			if _, err := arts.ExecContext(ctx, a.Registry, a.Path, a.Package, a.Version, a.UpstreamURL, a.Integrity,
				string(a.SHA256), a.Size, millis(a.FirstFetch), millis(a.LastFetch), millis(a.LastServed), a.Hits); err != nil {
				return fmt.Errorf("artifact %s/%s: %w", a.Registry, a.Path, err)
			}
			if err := adjustPackageCounts(ctx, tx, a.Registry, pkg, 1, a.Size, a.FirstFetch); err != nil {
				return fmt.Errorf("artifact %s/%s: %w", a.Registry, a.Path, err)
			}
			sum.ArtifactsWritten++
		}
		return nil
	})
}

// DocumentsOf returns every stored variant of a document, for checking an
// archive against what the folder holds.
func (s *Store) DocumentsOf(ctx context.Context, registry, key string) ([]Document, error) {
	rows, err := s.DB.sql.QueryContext(ctx, `SELECT variant, body_sha256, body_size, content_type, etag, last_modified, serial, fetched_at
		FROM documents WHERE registry = ? AND doc_key = ? ORDER BY variant`, registry, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Document
	for rows.Next() {
		d := Document{Registry: registry, Key: key}
		var fetched int64
		if err := rows.Scan(&d.Variant, &d.Body, &d.Size, &d.ContentType, &d.ETag, &d.LastModified, &d.Serial, &fetched); err != nil {
			return nil, err
		}
		d.FetchedAt = fromMillis(fetched)
		out = append(out, d)
	}
	return out, rows.Err()
}

// removeUnreferenced deletes those of the given blobs that no row points at.
// Errors are ignored: what is left is an orphan, which gc collects.
func (s *Store) removeUnreferenced(ctx context.Context, digests []Digest) {
	for _, d := range digests {
		if used, err := s.DB.blobUsed(ctx, d); err == nil && !used {
			s.deleteBlob(ctx, d)
		}
	}
}

// blobUsed reports whether any row points at a blob.
func (d *DB) blobUsed(ctx context.Context, digest Digest) (bool, error) {
	var n int
	err := d.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM (
		SELECT 1 AS one FROM artifacts WHERE sha256 = ?
		UNION ALL SELECT 1 FROM documents WHERE body_sha256 = ?) AS used`, string(digest), string(digest)).Scan(&n)
	return n > 0, err
}
