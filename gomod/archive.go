package gomod

import (
	"fmt"
	"strings"

	"golang.org/x/mod/module"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// An archive (larder export, larder import) brings a Go module's files with
// the checksum database's record of it and the tiles that prove the record
// in the database's tree: the import holds the files to the record, as a
// download is held to the database, and keeps the record and tiles so that
// the go command verifies the modules through larder offline too.

// ArtifactURL accepts the URL an archive records for a module's file when
// it is on this registry's upstream: larder fetches it again from there
// after an eviction.
func (g *Registry) ArtifactURL(raw string) (string, error) {
	base := g.up.Options().Upstream.String()
	rel, ok := strings.CutPrefix(raw, base)
	if !ok {
		return "", fmt.Errorf("%q is not on the upstream %s", raw, base)
	}
	rt, err := parseRoute(rel)
	if err != nil || rt.kind != routeFile {
		return "", fmt.Errorf("%q is not a module version's .info, .mod or .zip on the upstream", raw)
	}
	return raw, nil
}

// Declared is DeclaredWith without other documents: a record cannot be
// proven without tiles, so nothing is declared from one.
func (g *Registry) Declared(key, variant string, body []byte) ([]storage.Artifact, error) {
	return g.DeclaredWith(key, variant, body, func(key, variant string) ([]byte, error) {
		return nil, fmt.Errorf("%w: document %s (%s)", storage.ErrNotFound, key, variant)
	})
}

// DeclaredWith checks the checksum database's documents of an archive as a
// fetch checks them (a tree head signed by the database's key, tiles of
// their size), and proves each record in its tree with the tiles read:
// a proven record declares the h1: hashes of its version's zip and go.mod
// (and the version's .info, which the kind's Verify checks by what it
// says). Other documents (lists, @latest) declare nothing. A record that
// cannot be proven refuses the archive: what it vouches for would not be
// verified.
func (g *Registry) DeclaredWith(key, variant string, body []byte, read registries.DocumentReader) ([]storage.Artifact, error) {
	rest, ok := strings.CutPrefix(key, "sumdb/")
	if variant != variantSumDB || !ok {
		return nil, nil
	}
	name, rest, _ := strings.Cut(rest, "/")
	if g.db == nil || name != g.db.name {
		return nil, fmt.Errorf("a document of the checksum database %s, which this registry does not mirror", name)
	}
	p, err := parseSumDBPath(rest)
	if err != nil {
		return nil, err
	}
	if err := g.db.check(p, rest, body); err != nil {
		return nil, err
	}
	if p.kind != "lookup" {
		return nil, nil
	}
	rec, err := openRecord(body, g.db.verifiers)
	if err != nil {
		return nil, fmt.Errorf("the record of %s@%s: %w", p.mod, p.version, err)
	}
	if err := rec.proveIn(rec.tree, &heldTiles{name: name, read: read}); err != nil {
		return nil, fmt.Errorf("the record of %s@%s is not proven in its tree by the tiles of the archive or this folder: %w", p.mod, p.version, err)
	}
	zipHash, modHash, err := rec.hashes(p.mod, p.version)
	if err != nil {
		return nil, err
	}
	escPath, _ := module.EscapePath(p.mod)
	escVersion, _ := module.EscapeVersion(p.version)
	var arts []storage.Artifact
	for ext, h := range map[string]string{"info": "", "mod": modHash, "zip": zipHash} {
		path := filePath(escPath, escVersion, ext)
		arts = append(arts, storage.Artifact{Registry: g.name, Path: path, Package: p.mod, Version: p.version,
			UpstreamURL: g.upstreamURL(path), Integrity: h})
	}
	return arts, nil
}
