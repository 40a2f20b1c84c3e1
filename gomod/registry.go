package gomod

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Registry is a Go module proxy mounted under /{name}/.
type Registry struct {
	up        *registries.Upstream
	name      string
	publicURL string
	private   string      // GONOSUMDB-style patterns
	exclude   string      // GONOPROXY-style patterns
	db        *checksumDB // nil: sumdb = "off"
}

// New mounts a Go module proxy on up; o is what Decode read of the
// registry's own keys.
func New(up *registries.Upstream, publicURL string, o Options) *Registry {
	g := &Registry{up: up, name: up.Options().Name, publicURL: publicURL, private: o.Private, exclude: o.Exclude}
	if !o.Off {
		cfg := SumDBConfig{Key: SumGolangOrg, Name: "sum.golang.org"}
		if o.SumDB != nil {
			cfg = *o.SumDB
		}
		base := up.Options().Upstream.String() + "sumdb/" + cfg.Name + "/"
		if cfg.URL != nil {
			base = cfg.URL.String()
		}
		g.db = newChecksumDB(g, cfg, base)
	}
	return g
}

func (g *Registry) Kind() string                   { return "go" }
func (g *Registry) Name() string                   { return g.name }
func (g *Registry) Upstream() *registries.Upstream { return g.up }

// Document variants, under the module path as key.
const (
	variantList   = "list"
	variantLatest = "latest"
	variantQuery  = "query:" // + the query
)

const (
	mediaText = "text/plain; charset=utf-8"
	mediaJSON = "application/json"
	vary      = "Accept-Encoding"
)

var fileOptions = map[string]registries.ArtifactOptions{
	"info": {ContentType: mediaJSON, CacheControl: "public, max-age=31536000, immutable"},
	"mod":  {ContentType: mediaText, CacheControl: "public, max-age=31536000, immutable"},
	"zip":  {ContentType: "application/zip", CacheControl: "public, max-age=31536000, immutable"},
}

type view func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error)

func documentTarget(key, variant string, v view) registries.Target {
	return registries.Target{Document: &registries.DocumentTarget{Key: key, Variant: variant, Vary: vary,
		View: func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
			r, status, err := v(ctx)
			return r, status, nil, err
		}}}
}

// Resolve names the document or file a GET or HEAD asks for.
func (g *Registry) Resolve(r registries.Request) (registries.Target, error) {
	rt, err := g.route(r.Path)
	if err != nil {
		return registries.Target{}, err
	}
	switch rt.kind {
	case routeList:
		return documentTarget(rt.module, variantList, func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
			return g.listView(ctx, rt)
		}), nil
	case routeLatest:
		return documentTarget(rt.module, variantLatest, func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
			return g.latestView(ctx, rt)
		}), nil
	case routeQuery:
		return documentTarget(rt.module, variantQuery+rt.version, func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
			return g.queryView(ctx, rt)
		}), nil
	case routeFile:
		// A version's files live upstream at their own paths: a cold one is
		// fetched at the same time as its checksum-database look-up, and
		// checked once both are in.
		return registries.Target{Artifact: &registries.ArtifactTarget{Path: rt.artifactPath(), Package: rt.module, Options: fileOptions[rt.ext],
			Upstream: g.upstreamURL(rt.artifactPath()),
			Announce: func(ctx context.Context) error { return g.announce(ctx, rt) },
			Version:  rt.version, Release: rt.version,
			Learn: func(ctx context.Context) error { return g.learnVersion(ctx, rt, rt.version) }}}, nil
	}
	// The checksum database.
	if g.db == nil || rt.db != g.db.name || rt.rest == "supported" {
		return registries.Target{}, registries.ErrOwnRoute
	}
	p, err := parseSumDBPath(rt.rest)
	if err != nil {
		return registries.Target{}, err
	}
	if p.kind == "lookup" && g.excluded(p.mod) {
		return registries.Target{}, registries.Refuse("%s is excluded by this registry's exclude patterns: its record is not looked up here", p.mod)
	}
	return documentTarget(g.db.docKey(rt.rest), variantSumDB, func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
		if body, ok := g.db.widerHeld(ctx, rt.rest, p); ok {
			return registries.NewRendered(body, contentTypeOf(p)), registries.Hit, nil
		}
		doc, err := g.db.document(ctx, rt.rest, p)
		if err != nil {
			return nil, "", err
		}
		r, err := g.up.RenderStored(ctx, doc.Document, contentTypeOf(p))
		return r, doc.Status, err
	}), nil
}

// route reads a request path, and refuses a module the exclude patterns
// match.
func (g *Registry) route(raw string) (route, error) {
	rt, err := parseRoute(raw)
	if err == nil && rt.kind != routeSumDB && g.excluded(rt.module) {
		return route{}, registries.Refuse("%s is excluded by this registry's exclude patterns: larder neither serves it nor asks the upstream for it", rt.module)
	}
	return rt, err
}

func (g *Registry) excluded(mod string) bool {
	return g.exclude != "" && module.MatchPrefixPatterns(g.exclude, mod)
}

// ServeOwn answers what is neither a document nor a file: the checksum
// database's "supported" (larder mirrors the configured one), and other
// methods, which a read-only mirror refuses.
func (g *Registry) ServeOwn(w http.ResponseWriter, r *http.Request) {
	if registries.RefusedWrite(w, r, "") {
		return
	}
	rt, err := g.route(r.URL.EscapedPath())
	switch {
	case err != nil:
		g.WriteError(w, err)
	case rt.kind == routeSumDB && g.db != nil && rt.db == g.db.name && rt.rest == "supported":
		w.Header().Set("Content-Type", mediaText)
		w.WriteHeader(http.StatusOK)
	case rt.kind == routeSumDB && g.db == nil:
		registries.WriteTextError(w, http.StatusNotFound, "not found: this registry mirrors no checksum database (sumdb = \"off\")")
	case rt.kind == routeSumDB:
		// go then asks the database itself, as without a mirror.
		registries.WriteTextError(w, http.StatusNotFound, "not found: this registry mirrors the checksum database "+g.db.name+" only")
	default:
		registries.WriteTextError(w, http.StatusNotFound, "not found")
	}
}

// WriteError answers err as the go command reads errors: a status and a
// line of text, which it shows. What larder will not serve, or cannot
// fetch while the upstream is out of reach, is a 404 ("not here": go tries
// the next GOPROXY entry); a failure of the upstream a 502 or 504.
func (g *Registry) WriteError(w http.ResponseWriter, err error) {
	g.up.WritePlainError(w, err)
}

func (g *Registry) upstreamURL(rel string) string { return g.up.Options().Upstream.String() + rel }

// listView is the list of versions; while the upstream cannot be asked,
// the versions whose zip larder holds, so that go picks one it can build.
func (g *Registry) listView(ctx context.Context, rt route) (*registries.Rendered, registries.CacheStatus, error) {
	doc, err := g.up.Document(ctx, registries.DocRequest{
		Key: rt.module, Variant: variantList, Package: rt.module,
		URL: g.upstreamURL(rt.escModule + "/@v/list"), Prepare: checkList,
	})
	if err != nil && !errors.Is(err, registries.ErrNotCached) {
		return nil, "", err
	}
	c := g.up.Cutoff(ctx, rt.module)
	if err == nil && !doc.Degraded && g.up.Reachable() {
		r, err := g.listUnder(ctx, c, rt, doc.Document)
		return r, doc.Status, err
	}
	held, err2 := g.held(ctx, rt.module)
	if err2 != nil {
		return nil, "", err2
	}
	if len(held) == 0 {
		if err == nil && !g.up.Gone() {
			// A passing failure with nothing held: the stale list is
			// still the best answer.
			r, err := g.listUnder(ctx, c, rt, doc.Document)
			return r, doc.Status, err
		}
		return nil, "", g.up.NotCached("any version of " + rt.module)
	}
	if err == nil {
		// The list held is a sighting too, as of its fetch.
		if err := g.sighted(c, rt.module, g.recordList(ctx, rt.module, doc.Document)); err != nil {
			return nil, "", err
		}
	}
	versions := make([]string, 0, len(held))
	for v := range held {
		versions = append(versions, v)
	}
	if c.Active() {
		allowed, err := g.allowedHeld(ctx, c, rt, versions)
		if err != nil {
			return nil, "", err
		}
		versions = filterList(versions, allowed)
	}
	semver.Sort(versions)
	status := registries.Stale
	if err == nil {
		status = doc.Status
	}
	return renderList(versions), status, nil
}

// checkList accepts a list of versions, one a line, each canonical.
func checkList(body []byte, _ string) (registries.Prepared, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if v := strings.TrimSpace(line); v != "" && module.CanonicalVersion(v) != v {
			return registries.Prepared{}, errors.New("list: " + strconvQuote(v) + " is not a canonical version")
		}
	}
	return registries.Prepared{Body: body, ContentType: mediaText}, nil
}

func strconvQuote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + s + `"`
}

// checkInfo accepts a version's .info: {"Version": a canonical version, …}.
func checkInfo(body []byte, _ string) (registries.Prepared, error) {
	v, err := infoVersion(body)
	if err != nil {
		return registries.Prepared{}, err
	}
	if module.CanonicalVersion(v) != v {
		return registries.Prepared{}, errors.New(".info: " + strconvQuote(v) + " is not a canonical version")
	}
	return registries.Prepared{Body: body, ContentType: mediaJSON}, nil
}

// latestView is @latest; while the upstream cannot be asked, the .info of
// the newest version larder holds (a release before a pre-release).
func (g *Registry) latestView(ctx context.Context, rt route) (*registries.Rendered, registries.CacheStatus, error) {
	doc, err := g.up.Document(ctx, registries.DocRequest{
		Key: rt.module, Variant: variantLatest, Package: rt.module,
		URL: g.upstreamURL(rt.escModule + "/@latest"), Prepare: checkInfo,
	})
	if err != nil && !errors.Is(err, registries.ErrNotCached) {
		return nil, "", err
	}
	c := g.up.Cutoff(ctx, rt.module)
	if err == nil && !doc.Degraded && g.up.Reachable() {
		r, err := g.latestUnder(ctx, c, rt, doc.Document)
		return r, doc.Status, err
	}
	var keep func(version string) bool
	var heldBack []string // held, all of them too young
	if c.Active() {
		zips, err := g.held(ctx, rt.module)
		if err != nil {
			return nil, "", err
		}
		held := make([]string, 0, len(zips))
		for v := range zips {
			held = append(held, v)
		}
		allowed, err := g.allowedHeld(ctx, c, rt, held)
		if err != nil {
			return nil, "", err
		}
		keep = func(v string) bool { return allowed[v] }
		if len(filterList(held, allowed)) == 0 {
			heldBack = held
		}
	}
	info, err2 := g.newestHeldInfo(ctx, rt.module, keep)
	if err2 != nil {
		return nil, "", err2
	}
	if info == nil {
		if err == nil && !g.up.Gone() {
			r, err := g.latestUnder(ctx, c, rt, doc.Document)
			return r, doc.Status, err
		}
		if len(heldBack) > 0 {
			return nil, "", g.refuseNewest(ctx, rt, heldBack)
		}
		return nil, "", g.up.NotCached("any version of " + rt.module)
	}
	status := registries.Stale
	if err == nil {
		status = doc.Status
	}
	return registries.NewRendered(info, mediaJSON), status, nil
}

// queryView is a version query's .info (a branch, a commit), resolved by
// the upstream and kept with a TTL: what it names may move.
func (g *Registry) queryView(ctx context.Context, rt route) (*registries.Rendered, registries.CacheStatus, error) {
	doc, err := g.up.Document(ctx, registries.DocRequest{
		Key: rt.module, Variant: variantQuery + rt.version, Package: rt.module,
		URL: g.upstreamURL(filePath(rt.escModule, rt.escVersion, "info")), Prepare: checkInfo,
	})
	if err != nil {
		return nil, "", err
	}
	// A query (a branch, a commit) resolves to a version that is dated as
	// any other.
	c := g.up.Cutoff(ctx, rt.module)
	if err := g.sighted(c, rt.module, g.recordInfo(ctx, rt.module, doc.Document)); err != nil {
		return nil, "", err
	}
	if c.Active() {
		v, err := g.infoOf(ctx, doc.Document)
		if err != nil {
			return nil, "", err
		}
		if err := g.up.CheckRelease(ctx, &registries.ArtifactTarget{Package: rt.module, Version: v, Release: v}); err != nil {
			return nil, "", err
		}
	}
	r, err := g.up.RenderStored(ctx, doc.Document, mediaJSON)
	return r, doc.Status, err
}

// held returns the versions of a module whose zip larder holds.
func (g *Registry) held(ctx context.Context, mod string) (map[string]storage.Artifact, error) {
	arts, err := g.up.Store().PackageArtifacts(ctx, g.name, mod)
	if err != nil {
		return nil, err
	}
	held := map[string]storage.Artifact{}
	for _, a := range arts {
		if a.Cached() && strings.HasSuffix(a.Path, ".zip") {
			held[a.Version] = a
		}
	}
	return held, nil
}

// newestHeldInfo is the .info of the newest version whose .info and zip
// larder holds (among those keep keeps, when set), nil when none is.
func (g *Registry) newestHeldInfo(ctx context.Context, mod string, keep func(version string) bool) ([]byte, error) {
	arts, err := g.up.Store().PackageArtifacts(ctx, g.name, mod)
	if err != nil {
		return nil, err
	}
	zips, infos := map[string]bool{}, map[string]storage.Artifact{}
	for _, a := range arts {
		switch {
		case !a.Cached():
		case strings.HasSuffix(a.Path, ".zip"):
			zips[a.Version] = true
		case strings.HasSuffix(a.Path, ".info"):
			infos[a.Version] = a
		}
	}
	var releases, all []string
	for v := range infos {
		if !zips[v] || (keep != nil && !keep(v)) {
			continue
		}
		all = append(all, v)
		if semver.Prerelease(v) == "" {
			releases = append(releases, v)
		}
	}
	pick := releases
	if len(pick) == 0 {
		pick = all
	}
	if len(pick) == 0 {
		return nil, nil
	}
	sort.Slice(pick, func(i, j int) bool { return semver.Compare(pick[i], pick[j]) < 0 })
	a := infos[pick[len(pick)-1]]
	rc, _, err := g.up.Store().OpenArtifact(ctx, a.SHA256, a.Size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxInfo))
}

// announce records a version's three files, before the first of them is
// fetched: where each lives upstream, and the h1: hashes the checksum
// database records for its zip and go.mod, which Verify checks. A module
// matching a private pattern, or every module with sumdb = "off", is
// recorded without hashes, for the unverifiable policy.
func (g *Registry) announce(ctx context.Context, rt route) error {
	if g.up.Gone() {
		return g.up.NotCached(rt.module + "@" + rt.version)
	}
	hashes := map[string]string{}
	if g.db != nil && !module.MatchPrefixPatterns(g.private, rt.module) {
		zipHash, modHash, err := g.db.lookup(ctx, rt.module, rt.version)
		if err != nil {
			return err
		}
		hashes["zip"], hashes["mod"] = zipHash, modHash
	}
	var arts []storage.Artifact
	for _, ext := range []string{"info", "mod", "zip"} {
		p := filePath(rt.escModule, rt.escVersion, ext)
		arts = append(arts, storage.Artifact{Registry: g.name, Path: p, Package: rt.module, Version: rt.version,
			UpstreamURL: g.upstreamURL(p), Integrity: hashes[ext]})
	}
	return g.up.Store().DB.AnnounceArtifacts(ctx, g.name, arts)
}
