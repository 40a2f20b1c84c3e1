package rubygems

import (
	"cmp"
	"context"
	"errors"
	"net/http"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Registry is a RubyGems mirror mounted under /{name}/.
type Registry struct {
	up        *registries.Upstream
	name      string
	publicURL string
	served    servedMemo // see allServedGems
	listed    listedMD5s // see infoBehind
}

// New mounts a RubyGems mirror on up.
func New(up *registries.Upstream, publicURL string) *Registry {
	return &Registry{up: up, name: up.Options().Name, publicURL: publicURL}
}

func (g *Registry) Kind() string                   { return "rubygems" }
func (g *Registry) Name() string                   { return g.name }
func (g *Registry) Upstream() *registries.Upstream { return g.up }

// Documents: an info file under its gem's name (variant "info"); the
// files about every gem under keys no gem's name can be (a name holds no
// "/"; see indexFiles).
const variantInfo = "info"

const (
	mediaText = "text/plain; charset=utf-8"
	vary      = "Accept-Encoding"
)

var (
	gemOptions  = registries.ArtifactOptions{ContentType: "application/octet-stream", CacheControl: "public, max-age=31536000, immutable"}
	specOptions = registries.ArtifactOptions{ContentType: "application/octet-stream", CacheControl: "public, max-age=31536000, immutable"}
	// Every compact index file is appended to between rebuilds, and
	// bundler fetches what it lacks of its copy with a range.
	appendOnly = &registries.AppendOnly{ETagOf: etagOf}
)

type view func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error)

func documentTarget(key, variant string, ao *registries.AppendOnly, v view) registries.Target {
	return registries.Target{Document: &registries.DocumentTarget{Key: key, Variant: variant, Vary: vary, AppendOnly: ao,
		View: func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
			r, status, err := v(ctx)
			return r, status, nil, err
		}}}
}

// Resolve names the document or file a GET or HEAD asks for.
func (g *Registry) Resolve(r registries.Request) (registries.Target, error) {
	rt, err := parseRoute(r.Path)
	if err != nil {
		return registries.Target{}, err
	}
	switch rt.kind {
	case routeVersions, routeNames, routeFullIndex:
		f := indexFiles[rt.name]
		return documentTarget(f.key, f.variant, f.appendOnly, func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
			return g.indexView(ctx, rt.name, f)
		}), nil
	case routeInfo:
		return documentTarget(rt.name, variantInfo, appendOnly, func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
			return g.infoView(ctx, rt.name)
		}), nil
	case routeGem, routeSpec:
		o := gemOptions
		version, _, _ := splitRelease(rt.candidates[0].release)
		if rt.kind == routeSpec {
			o = specOptions
		}
		return registries.Target{Artifact: &registries.ArtifactTarget{
			Path: rt.file, Package: rt.candidates[0].name, Options: o,
			// Where rubygems.org keeps it, whatever its info file says:
			// fetched while the info file is loaded.
			Upstream: g.upstreamURL(rt.file),
			Announce: func(ctx context.Context) error { return g.announce(ctx, rt) },
			// Dated as the first reading of its name: a file of another
			// reading has no date under that name, and counts as new.
			Version: version, Release: rt.candidates[0].release,
			Learn: func(ctx context.Context) error { return g.learnRelease(ctx, rt.candidates[0].name) },
		}}, nil
	}
	return registries.Target{}, registries.ErrOwnRoute
}

// ServeOwn answers the mount itself, which gem asks for (HEAD) to learn
// that the source has the compact index, and refuses other methods: a
// read-only mirror takes no pushes.
func (g *Registry) ServeOwn(w http.ResponseWriter, r *http.Request) {
	if registries.RefusedWrite(w, r, "gem push goes to the upstream") {
		return
	}
	rt, err := parseRoute(r.URL.EscapedPath())
	switch {
	case err != nil:
		g.WriteError(w, err)
	case rt.kind == routeRoot:
		registries.WriteTextError(w, http.StatusOK, "larder: a mirror of "+g.up.Options().Upstream.String()+" (compact index: versions, info/NAME; gems/NAME-VERSION.gem)")
	default:
		registries.WriteTextError(w, http.StatusNotFound, "not found")
	}
}

// WriteError answers err as bundler and gem read errors: a status and a
// line of text. What larder will not serve, or cannot fetch while the
// upstream is out of reach, is a 404; a failure of the upstream a 502 or
// 504.
func (g *Registry) WriteError(w http.ResponseWriter, err error) {
	g.up.WritePlainError(w, err)
}

func (g *Registry) upstreamURL(rel string) string { return g.up.Options().Upstream.String() + rel }

// newRendered is a compact index file as served: its ETag the MD5 of its
// bytes, the same for the gzip form (weak), which bundler decodes before
// it checks.
func newRendered(body []byte) *registries.Rendered {
	return newRenderedAs(body, mediaText)
}

func newRenderedAs(body []byte, contentType string) *registries.Rendered {
	return &registries.Rendered{Body: body, ContentType: contentType, ETag: etagOf(body), WeakGzip: true}
}

// render serves a stored document's body as it is, once per body.
func (g *Registry) render(ctx context.Context, doc storage.Document) (*registries.Rendered, error) {
	return g.up.Env().Renders.Get(ctx, g.name+"\x00"+string(doc.Body)+"\x00"+doc.ContentType, func() (*registries.Rendered, error) {
		body, err := g.up.Body(ctx, doc)
		if err != nil {
			return nil, err
		}
		return newRenderedAs(body, doc.ContentType), nil
	})
}

// infoDoc loads a gem's info file through the cache policy, for a caller
// that reads what its fetch writes (the rows of the files it announces).
func (g *Registry) infoDoc(ctx context.Context, name string) (registries.Doc, error) {
	return g.up.Document(ctx, g.infoRequest(name))
}

// infoRequest asks for a gem's info file. Storing it announces each
// release's .gem, to be checked against the sha256 its line declares, and
// its gemspec, which nothing declares a digest of.
func (g *Registry) infoRequest(name string) registries.DocRequest {
	return registries.DocRequest{
		Key: name, Variant: variantInfo, Package: name, URL: g.upstreamURL("info/" + name),
		Prepare: func(body []byte, _ string) (registries.Prepared, error) {
			inf, err := parseInfo(body)
			if err != nil {
				return registries.Prepared{}, err
			}
			return registries.Prepared{Body: body, ContentType: mediaText, Artifacts: g.announced(name, inf)}, nil
		},
	}
}

// announced are the rows of the files an info file names.
func (g *Registry) announced(name string, inf info) []storage.Artifact {
	arts := make([]storage.Artifact, 0, 2*len(inf.lines))
	for _, l := range inf.lines {
		r := release{name: name, release: l.release}
		version, _, _ := splitRelease(l.release)
		arts = append(arts,
			storage.Artifact{Registry: g.name, Path: r.gemPath(), Package: name, Version: version,
				UpstreamURL: g.upstreamURL(r.gemPath()), Integrity: string(registries.SRIFromHex("sha256", l.checksum))},
			storage.Artifact{Registry: g.name, Path: r.specPath(), Package: name, Version: version,
				UpstreamURL: g.upstreamURL(r.specPath())})
	}
	return arts
}

// infoView is a gem's info file: as the upstream wrote it, or, while the
// upstream cannot be asked, with only the releases whose .gem larder
// holds, so that bundler picks one it can install. A copy within its TTL
// that the upstream's /versions says is out of date is asked for again
// (see infoBehind). Without a cutoff, a copy fetched for it is answered
// while its row commits: the view reads only the body. Under one, /versions
// is written from the info files held, and the next request for it must
// find this one.
func (g *Registry) infoView(ctx context.Context, name string) (*registries.Rendered, registries.CacheStatus, error) {
	fetch := g.up.DocumentToAnswer
	if g.cutoffActive(ctx) {
		fetch = g.up.Document
	}
	doc, err := fetch(ctx, g.infoRequest(name))
	if err != nil {
		return nil, "", err
	}
	if doc.Status == registries.Hit {
		newer, ok, err := g.catchUp(ctx, doc.Document)
		if err != nil {
			return nil, "", err
		}
		if ok {
			doc = newer
		}
	}
	r, err := g.renderInfo(ctx, name, doc.Document, doc.Degraded)
	return r, doc.Status, err
}

// renderInfo renders a stored info file as /info serves it, and as
// /versions lists it while the upstream cannot be asked or a cutoff
// applies: one function, so that the MD5 /versions gives is that of the
// file /info sends. Under a cutoff it lists only the releases old enough;
// with none, it is the preamble alone (a gem with no release to pick).
func (g *Registry) renderInfo(ctx context.Context, name string, doc storage.Document, degraded bool) (*registries.Rendered, error) {
	held, heldKey, err := g.up.HeldView(ctx, name, degraded)
	if err != nil {
		return nil, err
	}
	if held != nil && len(held) == 0 {
		return nil, g.up.NotCached("any version of " + name)
	}
	allowed, ageKey, err := g.allowedReleases(ctx, name, doc)
	if err != nil {
		return nil, err
	}
	if held == nil && allowed == nil {
		return g.render(ctx, doc)
	}
	key := g.name + "\x00held\x00" + name + "\x00" + string(doc.Body) + "\x00" + heldKey + "\x00" + ageKey
	return g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		body, err := g.up.Body(ctx, doc)
		if err != nil {
			return nil, err
		}
		return newRendered(keepReleases(body, func(rel string) bool {
			return (held == nil || held[gemPath(name, rel)]) && (allowed == nil || allowed[rel])
		})), nil
	})
}

// announce loads the info file that names a file asked for before it:
// that of each gem the file's name can be read as, until one names it.
func (g *Registry) announce(ctx context.Context, rt route) error {
	// The first failure that is not a 404 wins over a later 404: the
	// answer may be in the gem whose info file could not be had.
	var failed, missing error
	loaded := false
	for _, c := range rt.candidates {
		if _, err := g.infoDoc(ctx, c.name); err != nil {
			if !errors.Is(err, registries.ErrNotFound) {
				failed = cmp.Or(failed, err)
			} else {
				missing = cmp.Or(missing, err)
			}
			continue
		}
		loaded = true
		if _, err := g.up.Store().DB.Artifact(ctx, g.name, rt.file); err == nil {
			return nil
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	if failed != nil {
		return failed
	}
	if !loaded && missing != nil {
		return missing
	}
	// An info file that does not name it: the caller finds no row, asks
	// again past a copy that may predate the release, and answers 404.
	return nil
}
