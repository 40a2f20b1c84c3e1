package registries

// An archive (larder export, larder import) is not a trusted upstream: its
// rows are held to the rules a registry's own documents are held to. The
// upstream URL an artifact row carries is fetched again after an eviction or
// a quarantine, so it must name a host the registry may contact; the bytes
// an archive brings must be the bytes a document declares.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/larder-mirror/larder/storage"
)

// ArchiveRules is what an ecosystem supplies so that an import can check
// an archive's rows as a fetch of its documents would.
type ArchiveRules interface {
	// ArtifactURL returns the URL larder records for an artifact a
	// document links to as raw, under the registry's host rules (npm: a
	// tarball on one of tarball_hosts is fetched from the upstream at the
	// same path), or an error when the rules refuse it.
	ArtifactURL(raw string) (string, error)
	// Declared lists the artifacts a stored document announces, each with
	// its path and declared integrity, as when the document was fetched;
	// none for a document that announces no artifact.
	Declared(key, variant string, body []byte) ([]storage.Artifact, error)
}

// ArchiveProofRules are the ArchiveRules of an ecosystem whose documents
// are proven by others (Go's checksum-database records, proven in the
// database's tree by its tiles): DeclaredWith is Declared given a reader
// of the archive's other documents and, failing those, the ones held here.
type ArchiveProofRules interface {
	ArchiveRules
	DeclaredWith(key, variant string, body []byte, read DocumentReader) ([]storage.Artifact, error)
}

// DocumentReader reads a stored document's body by key and variant; an
// error wrapping storage.ErrNotFound when there is none.
type DocumentReader func(key, variant string) ([]byte, error)

// mayFetch refuses an artifact URL that is not on the upstream or one of
// the registry's other hosts: rows written by an import, or before a host
// was taken out of the configuration, must not make larder fetch from
// anywhere else.
func (u *Upstream) mayFetch(raw string) error {
	target, err := url.Parse(raw)
	if err == nil && target.User == nil && (target.Scheme == "http" || target.Scheme == "https") {
		if SameHost(target, u.opts.Upstream) {
			return nil
		}
		for _, h := range u.opts.AlsoFrom {
			if SameHost(target, h) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: larder will not fetch %q: not on the upstream %s or another host this registry may fetch from",
		ErrNotCached, raw, u.opts.Upstream.Host)
}

// VetArchive returns the check larder import runs over an archive's rows
// (storage.ImportOptions.Vet), for the registries mounted here. It refuses
// the whole archive when a row names a registry not mounted here, when an
// artifact's upstream URL breaks its registry's host rules, or when an
// artifact's bytes are not what the archive's own documents declare for
// them (a corrupt or tampered archive). It leaves out, with a note:
//
//   - an artifact whose bytes are not what a document held here declares:
//     the archive's conflict with this folder, which keeps what it has;
//   - an artifact for which no document, in the archive or here, declares a
//     digest larder can check;
//   - a document of the archive that declares other digests than those of
//     files held here (the held document stays, as an upstream's would).
//
// A declaration in no SRI algorithm larder computes (Go's h1: hashes) is
// checked by the registry's own Verify hook over the bytes, as a download
// would be; that hook may also vouch for a file no document declares (a Go
// .info is checked by what it says).
//
// An imported artifact keeps the integrity its document declares, so that
// a later upstream document is compared with what was checked.
func VetArchive(regs []Registry) func(context.Context, *storage.Store, *storage.Manifest) ([]storage.ImportNote, error) {
	rules := map[string]ArchiveRules{}
	maxDoc := map[string]int64{}
	verify := map[string]VerifyFunc{}
	for _, r := range regs {
		if ar, ok := r.(ArchiveRules); ok {
			rules[r.Name()] = ar
			maxDoc[r.Name()] = r.Upstream().Options().MaxDocumentSize
			verify[r.Name()] = r.Upstream().Options().Verify
		}
	}
	return func(ctx context.Context, s *storage.Store, m *storage.Manifest) ([]storage.ImportNote, error) {
		v := &vet{rules: rules, maxDoc: maxDoc, verify: verify, s: s, held: map[pkgKey]map[string]Integrity{}, known: map[storage.Digest]Integrity{},
			inArchive: map[archivedDocKey]storage.ArchivedDocument{}}
		for _, d := range m.Documents {
			v.inArchive[archivedDocKey{d.Registry, d.Key, d.Variant}] = d
		}
		return v.run(ctx, m)
	}
}

type archivedDocKey struct{ registry, key, variant string }

type pkgKey struct{ registry, name string }

type pathKey struct{ registry, path string }

type vet struct {
	rules  map[string]ArchiveRules
	maxDoc map[string]int64
	s      *storage.Store
	verify map[string]VerifyFunc
	held   map[pkgKey]map[string]Integrity // what the documents held here declare, by package
	known  map[storage.Digest]Integrity    // what blobs were found to match
	// inArchive are the archive's documents, for ArchiveProofRules.
	inArchive map[archivedDocKey]storage.ArchivedDocument
}

func (v *vet) rulesOf(registry string) (ArchiveRules, error) {
	if r, ok := v.rules[registry]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("registry %q is not mounted here: without its rules the archive's files cannot be checked (name a configuration that mounts it with --config)", registry)
}

func (v *vet) run(ctx context.Context, m *storage.Manifest) ([]storage.ImportNote, error) {
	for i := range m.Artifacts {
		a := &m.Artifacts[i]
		r, err := v.rulesOf(a.Registry)
		if err != nil {
			return nil, fmt.Errorf("artifact %s/%s: %w", a.Registry, a.Path, err)
		}
		if a.UpstreamURL, err = r.ArtifactURL(a.UpstreamURL); err != nil {
			return nil, fmt.Errorf("artifact %s/%s: upstream URL refused: %w", a.Registry, a.Path, err)
		}
	}

	// What the archive's documents declare, by artifact.
	declared := map[pathKey]Integrity{}
	docDecls := make([][]storage.Artifact, len(m.Documents))
	for i, d := range m.Documents {
		r, ok := v.rules[d.Registry]
		if !ok {
			continue // no row of that registry's files is imported (see above)
		}
		arts, err := v.declared(ctx, r, d.Registry, d.Key, d.Variant, d.Body, d.Size)
		if err != nil {
			return nil, fmt.Errorf("document %s/%s (%s): %w", d.Registry, d.Key, d.Variant, err)
		}
		docDecls[i] = arts
		for _, a := range arts {
			k := pathKey{d.Registry, a.Path}
			declared[k] = declared[k].Join(Integrity(a.Integrity))
		}
	}

	var notes []storage.ImportNote
	kept := m.Artifacts[:0]
	for _, a := range m.Artifacts {
		row := "artifact " + a.Registry + "/" + a.Path
		if held, err := v.s.Artifact(ctx, a.Registry, a.Path); err == nil && held.Cached() {
			kept = append(kept, a) // storage compares the digests
			continue
		} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		inArchive := declared[pathKey{a.Registry, a.Path}]
		if sriDeclared(inArchive) {
			if err := v.check(ctx, a.SHA256, inArchive); err != nil {
				return nil, &storage.ArchiveError{Entry: "sha256/" + string(a.SHA256),
					Err: fmt.Errorf("%s: its bytes are not what the archive's own documents declare: %w", row, err)}
			}
		}
		hereDecls, err := v.heldDeclarations(ctx, a.Registry, a.Package)
		if err != nil {
			return nil, err
		}
		here := hereDecls[a.Path]
		if sriDeclared(here) {
			if err := v.check(ctx, a.SHA256, here); err != nil {
				notes = append(notes, storage.ImportNote{Row: row, Conflict: true,
					Detail: fmt.Sprintf("the document this folder holds declares other bytes (%v); not imported", err)})
				continue
			}
		}
		switch {
		case sriDeclared(inArchive):
			a.Integrity = string(inArchive)
		case sriDeclared(here):
			a.Integrity = string(here)
		default:
			integrity, note, err := v.kindCheck(ctx, a, inArchive, here)
			if err != nil {
				return nil, err
			}
			if note != nil {
				notes = append(notes, *note)
				continue
			}
			a.Integrity = string(integrity)
		}
		kept = append(kept, a)
	}
	m.Artifacts = kept

	keptDocs := m.Documents[:0]
	for i, d := range m.Documents {
		if detail, err := v.contradictsPins(ctx, d.Registry, d.Key, docDecls[i]); err != nil {
			return nil, err
		} else if detail != "" {
			notes = append(notes, storage.ImportNote{Row: fmt.Sprintf("document %s/%s (%s)", d.Registry, d.Key, d.Variant), Conflict: true, Detail: detail})
			continue
		}
		keptDocs = append(keptDocs, d)
	}
	m.Documents = keptDocs
	return notes, nil
}

// declared reads a stored document's body and asks its ecosystem what it
// declares.
func (v *vet) declared(ctx context.Context, r ArchiveRules, registry, key, variant string, body storage.Digest, size int64) ([]storage.Artifact, error) {
	if limit := v.maxDoc[registry]; size > limit {
		return nil, fmt.Errorf("%d bytes, over max_document_size (%d)", size, limit)
	}
	rc, _, err := v.s.OpenBody(ctx, body)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, size+1))
	if err != nil {
		return nil, err
	}
	if pr, ok := r.(ArchiveProofRules); ok {
		return pr.DeclaredWith(key, variant, b, v.reader(ctx, registry))
	}
	return r.Declared(key, variant, b)
}

// reader reads a registry's documents: the archive's, else those held here.
func (v *vet) reader(ctx context.Context, registry string) DocumentReader {
	return func(key, variant string) ([]byte, error) {
		var body storage.Digest
		var size int64
		if d, ok := v.inArchive[archivedDocKey{registry, key, variant}]; ok {
			body, size = d.Body, d.Size
		} else {
			d, err := v.s.DB.Document(ctx, registry, key, variant)
			if err != nil {
				return nil, err
			}
			body, size = d.Body, d.Size
		}
		if limit := v.maxDoc[registry]; size > limit {
			return nil, fmt.Errorf("document %s (%s): %d bytes, over max_document_size (%d)", key, variant, size, limit)
		}
		rc, _, err := v.s.OpenBody(ctx, body)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, size+1))
	}
}

// kindCheck checks an artifact no SRI declaration covers with its
// registry's Verify hook, against what the archive's documents declare,
// else what those held here do. A mismatch with the archive's refuses the
// archive; with this folder's, it is a conflict note. A hook with nothing
// to check against gives the note that leaves the artifact out.
func (v *vet) kindCheck(ctx context.Context, a storage.ArchivedArtifact, inArchive, here Integrity) (Integrity, *storage.ImportNote, error) {
	row := "artifact " + a.Registry + "/" + a.Path
	declared := inArchive
	if declared == "" {
		declared = here
	}
	verify := v.verify[a.Registry]
	if verify == nil {
		verify = VerifyDeclared
	}
	ver, err := verify(ctx, storage.Artifact{Registry: a.Registry, Path: a.Path, Package: a.Package, Version: a.Version, Integrity: string(declared)})
	if err == nil && ver.Unchecked() {
		closeVerifier(ver)
		return "", &storage.ImportNote{Row: row, Detail: "no document, in the archive or here, declares a digest larder can check for it"}, nil
	}
	if err == nil {
		err = v.feed(ctx, a.SHA256, ver)
	}
	switch {
	case err == nil:
		if inArchive != "" && here != "" && here != inArchive {
			return "", &storage.ImportNote{Row: row, Conflict: true,
				Detail: fmt.Sprintf("the document this folder holds declares %s, the archive's %s; not imported", here, inArchive)}, nil
		}
		return declared, nil, nil
	case !errors.Is(err, ErrIntegrity):
		return "", nil, err
	case declared == "":
		return "", nil, &storage.ArchiveError{Entry: "sha256/" + string(a.SHA256),
			Err: fmt.Errorf("%s: its bytes fail its registry's check: %w", row, err)}
	case declared == inArchive:
		return "", nil, &storage.ArchiveError{Entry: "sha256/" + string(a.SHA256),
			Err: fmt.Errorf("%s: its bytes are not what the archive's own documents declare: %w", row, err)}
	}
	return "", &storage.ImportNote{Row: row, Conflict: true,
		Detail: fmt.Sprintf("the document this folder holds declares other bytes (%v); not imported", err)}, nil
}

// feed runs a blob through a verifier and closes it.
func (v *vet) feed(ctx context.Context, d storage.Digest, ver Verifier) error {
	defer closeVerifier(ver)
	rc, _, err := v.s.OpenArtifact(ctx, d, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(ver, rc); err != nil {
		return err
	}
	return ver.Check()
}

// heldDeclarations is what the documents this folder holds for a package
// declare, by artifact path.
func (v *vet) heldDeclarations(ctx context.Context, registry, pkg string) (map[string]Integrity, error) {
	k := pkgKey{registry, pkg}
	if d, ok := v.held[k]; ok {
		return d, nil
	}
	docs, err := v.s.DocumentsOf(ctx, registry, pkg)
	if err != nil {
		return nil, err
	}
	out := map[string]Integrity{}
	for _, d := range docs {
		arts, err := v.declared(ctx, v.rules[registry], registry, d.Key, d.Variant, d.Body, d.Size)
		if errors.Is(err, storage.ErrNotFound) {
			continue // a lost body declares nothing; larder verify repairs its row
		}
		if err != nil {
			return nil, fmt.Errorf("document %s/%s (%s) held here: %w", registry, d.Key, d.Variant, err)
		}
		for _, a := range arts {
			out[a.Path] = out[a.Path].Join(Integrity(a.Integrity))
		}
	}
	v.held[k] = out
	return out, nil
}

// contradictsPins says how a document of the archive declares other bytes
// for one of its files than this folder holds, or than the documents it
// holds declare (a published version's bytes never change), "" when it
// does not.
func (v *vet) contradictsPins(ctx context.Context, registry, key string, decls []storage.Artifact) (string, error) {
	if len(decls) == 0 {
		return "", nil
	}
	here, err := v.heldDeclarations(ctx, registry, key)
	if err != nil {
		return "", err
	}
	for _, d := range decls {
		if h := here[d.Path]; checkable(h) && compareDigests(h, Integrity(d.Integrity)) == digestsDiffer {
			return fmt.Sprintf("declares %s for %s, the document held here %s; the held document stays", d.Integrity, d.Path, h), nil
		}
	}
	held, err := v.s.HeldArtifacts(ctx, registry, key)
	if err != nil {
		return "", err
	}
	byPath := map[string]storage.Artifact{}
	for _, a := range held {
		byPath[a.Path] = a
	}
	for _, d := range decls {
		h, ok := byPath[d.Path]
		offered := Integrity(d.Integrity)
		if !ok || !checkable(offered) {
			continue
		}
		// The blob's name is the sha256 of the held bytes, whatever the
		// row's declaration says.
		facts := Integrity(h.Integrity).Join(SRIFromHex("sha256", string(h.SHA256)))
		switch compareDigests(facts, offered) {
		case digestsAgree:
			continue
		case digestsDiffer:
			return fmt.Sprintf("declares %s for %s, whose bytes held here are %s; the held document stays", offered, d.Path, facts), nil
		}
		if err := v.check(ctx, h.SHA256, offered); err != nil {
			return fmt.Sprintf("declares other bytes for %s than those held here (%v); the held document stays", d.Path, err), nil
		}
	}
	return "", nil
}

type digestVerdict int

const (
	digestsAgree  digestVerdict = iota // every algorithm offered is known and equal
	digestsDiffer                      // an algorithm both name differs
	digestsOpen                        // what both name agrees; the bytes must answer for the rest
)

// compareDigests compares an offered declaration with what is known of
// some bytes, algorithm by algorithm.
func compareDigests(known, offered Integrity) digestVerdict {
	if _, err := offered.parse(); err != nil {
		return digestsOpen // the bytes cannot answer it either: checking fails
	}
	verdict := digestsAgree
	for _, algo := range []string{"sha1", "sha256", "sha384", "sha512"} {
		o := offered.HexDigest(algo)
		if o == "" {
			continue
		}
		switch k := known.HexDigest(algo); {
		case k == "":
			verdict = digestsOpen
		case k != o:
			return digestsDiffer
		}
	}
	return verdict
}

// check checks a blob against a declaration. The blob is read only when
// what is known of it (its name is its sha256; declarations it matched
// before) cannot answer: a PyPI file is checked by its name alone, and a
// tarball once however many documents declare it.
func (v *vet) check(ctx context.Context, d storage.Digest, i Integrity) error {
	known, ok := v.known[d]
	if !ok {
		known = SRIFromHex("sha256", string(d))
	}
	switch compareDigests(known, i) {
	case digestsAgree:
		return nil
	case digestsDiffer:
		return fmt.Errorf("%w: declared %s, the bytes are %s", ErrIntegrity, i, known)
	}
	rc, _, err := v.s.OpenArtifact(ctx, d, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := i.Check(rc); err != nil {
		return err
	}
	v.known[d] = known.Join(i)
	return nil
}

// sriDeclared reports whether a declaration names a digest larder computes
// in SRI notation. Any other (a notation of the ecosystem's own, such as
// Go's h1:, or a malformed one) is the registry's Verify hook's to check,
// and it refuses what it cannot read.
func sriDeclared(i Integrity) bool {
	ds, err := i.parse()
	return err == nil && len(ds) > 0
}

// checkable reports whether a declaration names a digest larder can
// compute; a malformed one counts, so that checking it fails.
func checkable(i Integrity) bool {
	ds, err := i.parse()
	return err != nil || len(ds) > 0
}
