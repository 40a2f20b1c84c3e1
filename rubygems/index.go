package rubygems

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// indexFile is a file about every gem: the compact index's versions and
// names, and the three files of the full index. Each is the upstream's
// while the upstream can be asked and no release-age cutoff applies; else
// it is written from the gems whose info files larder serves then, so that
// it lists exactly what they list (under a cutoff, /names stays the
// upstream's, and /versions keeps the upstream's lines of gems larder has
// not read yet: see versionsAllowed).
type indexFile struct {
	key, variant string
	contentType  string
	appendOnly   *registries.AppendOnly
	check        func(body []byte) error
	// held writes the file from the gems larder serves releases of.
	held func(gems []heldGem) []byte
}

// indexFiles are the index files by their path below the mount.
var indexFiles = map[string]indexFile{
	"versions": {key: "/versions", variant: "versions", contentType: mediaText, appendOnly: appendOnly, check: checkVersions, held: heldVersions},
	"names":    {key: "/names", variant: "names", contentType: mediaText, appendOnly: appendOnly, check: checkNames, held: heldNames},
	fullIndexAll: {key: keyFullIndex, variant: fullIndexAll, contentType: mediaGzip, check: checkGzip,
		held: func(gems []heldGem) []byte { return marshalSpecs(fullIndexOf(gems, fullIndexAll)) }},
	fullIndexLatest: {key: keyFullIndex, variant: fullIndexLatest, contentType: mediaGzip, check: checkGzip,
		held: func(gems []heldGem) []byte { return marshalSpecs(fullIndexOf(gems, fullIndexLatest)) }},
	fullIndexPrerelease: {key: keyFullIndex, variant: fullIndexPrerelease, contentType: mediaGzip, check: checkGzip,
		held: func(gems []heldGem) []byte { return marshalSpecs(fullIndexOf(gems, fullIndexPrerelease)) }},
}

// indexView serves the index file at path.
func (g *Registry) indexView(ctx context.Context, path string, f indexFile) (*registries.Rendered, registries.CacheStatus, error) {
	doc, err := g.up.Document(ctx, registries.DocRequest{
		Key: f.key, Variant: f.variant, URL: g.upstreamURL(path),
		Prepare: func(body []byte, _ string) (registries.Prepared, error) {
			if err := f.check(body); err != nil {
				return registries.Prepared{}, err
			}
			return registries.Prepared{Body: body, ContentType: f.contentType}, nil
		},
	})
	if err != nil && !errors.Is(err, registries.ErrNotCached) {
		return nil, "", err
	}
	online := err == nil && !doc.Degraded && g.up.Reachable()
	cutoff := g.cutoffActive(ctx)
	switch {
	case online && cutoff && path == "versions":
		r, err := g.versionsAllowed(ctx, doc.Document)
		return r, doc.Status, err
	case online && (!cutoff || path == "names"):
		// A gem's name is served whatever the age of its releases.
		r, err := g.render(ctx, doc.Document)
		return r, doc.Status, err
	}
	gems, err2 := g.servedGems(ctx, !online, false)
	if err2 != nil {
		return nil, "", err2
	}
	if len(gems) == 0 && err != nil {
		return nil, "", err
	}
	status := registries.Stale
	if err == nil {
		status = doc.Status
	}
	return newRenderedAs(f.held(gems), f.contentType), status, nil
}

// heldVersions is /versions for gems: a line per gem, its releases and
// the MD5 of its info file as /info serves it.
func heldVersions(gems []heldGem) []byte {
	var b strings.Builder
	b.WriteString("---\n")
	for _, h := range gems {
		b.WriteString(h.name + " " + strings.Join(h.releases, ",") + " " + md5Hex(h.info.Body) + "\n")
	}
	return []byte(b.String())
}

// heldNames is /names for gems.
func heldNames(gems []heldGem) []byte {
	var b strings.Builder
	b.WriteString("---\n")
	for _, h := range gems {
		b.WriteString(h.name + "\n")
	}
	return []byte(b.String())
}

// heldGem is a gem as the views of what is held show it.
type heldGem struct {
	name     string
	releases []string
	info     *registries.Rendered // as /info serves it now
}

// servedGems are the gems whose info file larder holds, each with that
// file as /info serves it now (degraded: while the upstream cannot be
// asked), by name; only those with at least one release unless empty.
func (g *Registry) servedGems(ctx context.Context, degraded, empty bool) ([]heldGem, error) {
	names, err := g.up.Store().DB.PackageNames(ctx, g.name)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var gems []heldGem
	for _, name := range names {
		doc, err := g.up.Cached(ctx, name, variantInfo)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r, err := g.renderInfo(ctx, name, doc, degraded)
		if errors.Is(err, registries.ErrNotCached) {
			continue
		}
		if err != nil {
			return nil, err
		}
		inf, err := parseInfo(r.Body)
		if err != nil || (len(inf.lines) == 0 && !empty) {
			continue
		}
		h := heldGem{name: name, info: r}
		for _, l := range inf.lines {
			h.releases = append(h.releases, l.release)
		}
		gems = append(gems, h)
	}
	return gems, nil
}
