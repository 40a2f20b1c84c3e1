package rubygems

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

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
	held, err2 := g.servedGems(ctx, !online, false)
	if err2 != nil {
		return nil, "", err2
	}
	gems := held.gems
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
		b.WriteString(versionsLine(h))
	}
	return []byte(b.String())
}

// versionsLine is a gem's line of /versions, written from its info file as
// /info serves it.
func versionsLine(h heldGem) string {
	return h.name + " " + strings.Join(h.releases, ",") + " " + h.md5 + "\n"
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
	md5      string // of its info file as /info serves it now, in hex
}

// served are the gems whose info file larder holds, with a key that names
// them and their info files as served, for a render cache.
type served struct {
	gems []heldGem
	key  string
}

// servedGems are the gems whose info file larder holds, each with that
// file as /info serves it now (degraded: while the upstream cannot be
// asked), by name; only those with at least one release unless empty.
func (g *Registry) servedGems(ctx context.Context, degraded, empty bool) (served, error) {
	all, err := g.allServedGems(ctx, degraded)
	if err != nil || empty {
		return all, err
	}
	some := served{key: all.key}
	for _, h := range all.gems {
		if len(h.releases) > 0 {
			some.gems = append(some.gems, h)
		}
	}
	return some, nil
}

// servedMemo is what allServedGems wrote last, and what it was written
// from: rendering every held info file on every request for /versions
// (bundler asks for it on each run) would cost a query or more per gem.
type servedMemo struct {
	mu   sync.Mutex
	from string // the info files held (names, bodies) and what else the view depends on
	// made and until: the clock when it was written and when the
	// release-age policy next lets a release through (zero: never); it
	// holds in between (a clock set back holds back more).
	made, until time.Time
	gems        served
}

// allServedGems is servedGems with every gem, with or without releases.
// It is written again only when what it depends on changes: the info files
// held; whether the upstream can be asked; while it can, its /versions (an
// info file it lists another MD5 for is loaded again); while it cannot,
// the .gem files held; under the release-age policy, the moment a release
// held back comes of age. A request through a /@{date}/ view, or a mirror
// that keeps nothing in memory (another node may change what is held),
// writes it each time.
func (g *Registry) allServedGems(ctx context.Context, degraded bool) (served, error) {
	names, err := g.up.Store().DB.PackageNames(ctx, g.name)
	if err != nil {
		return served{}, err
	}
	sort.Strings(names)
	docs := make([]storage.Document, 0, len(names))
	h := sha256.New()
	online := !degraded && g.up.Reachable()
	health := func() string { return fmt.Sprintf("reachable %t gone %t", g.up.Reachable(), g.up.Gone()) }
	before := health()
	fmt.Fprintf(h, "online %t degraded %t %s\n", online, degraded, before)
	if online {
		// Which info files are behind it changes with the upstream's
		// /versions (catchUp).
		f := indexFiles["versions"]
		if v, err := g.up.Cached(ctx, f.key, f.variant); err == nil {
			fmt.Fprintf(h, "versions %s %d\n", v.Body, v.FetchedAt.UnixNano())
		}
	} else {
		// HeldView shows only held .gem files then.
		fmt.Fprintf(h, "held %d\n", g.up.HeldChanges())
	}
	for _, name := range names {
		doc, err := g.up.Cached(ctx, name, variantInfo)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return served{}, err
		}
		docs = append(docs, doc)
		h.Write([]byte(name + "\x00" + string(doc.Body) + "\n"))
	}
	from := hex.EncodeToString(h.Sum(nil))
	_, view := registries.ViewOf(ctx)
	memoise := !view && !g.up.Env().NoMemoryCache
	if memoise {
		g.served.mu.Lock()
		defer g.served.mu.Unlock()
		now := g.up.Options().Now()
		if g.served.from == from && !now.Before(g.served.made) && (g.served.until.IsZero() || now.Before(g.served.until)) {
			return g.served.gems, nil
		}
	}
	made := g.up.Options().Now()
	all := served{gems: make([]heldGem, 0, len(docs))}
	var until time.Time
	k := sha256.New()
	for _, doc := range docs {
		if online {
			newer, ok, err := g.catchUp(ctx, doc)
			switch {
			case errors.Is(err, errInfoBehind):
				return served{}, err
			case ok:
				doc = newer.Document
			}
			// Else the copy held stands, as /info serves it when the
			// upstream fails.
		}
		r, err := g.renderInfo(ctx, doc.Key, doc, degraded)
		if errors.Is(err, registries.ErrNotCached) {
			continue
		}
		if err != nil {
			return served{}, err
		}
		if memoise {
			next, err := g.up.NextAllowed(ctx, doc.Key)
			if err != nil {
				return served{}, err
			}
			if !next.IsZero() && (until.IsZero() || next.Before(until)) {
				until = next
			}
		}
		inf, err := parseInfo(r.Body)
		if err != nil {
			continue
		}
		hg := heldGem{name: doc.Key, md5: md5Hex(r.Body)}
		for _, l := range inf.lines {
			hg.releases = append(hg.releases, l.release)
		}
		all.gems = append(all.gems, hg)
		k.Write([]byte(hg.name + "\x00" + hg.md5 + "\n"))
	}
	all.key = hex.EncodeToString(k.Sum(nil))
	// HeldView asked the upstream's health again as it went: kept only
	// when it did not change meanwhile.
	if memoise && health() == before {
		g.served.from, g.served.made, g.served.until, g.served.gems = from, made, until, all
	}
	return all, nil
}
