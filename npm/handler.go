package npm

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

const vary = "Accept, Accept-Encoding"

var tarballOptions = registries.ArtifactOptions{
	ContentType:  "application/octet-stream",
	CacheControl: "public, max-age=31536000, immutable",
}

// Resolve names the packument, version document, tarball or registry-wide
// document a GET or HEAD asks for.
func (g *Registry) Resolve(r registries.Request) (registries.Target, error) {
	rt, err := parseRoute(strings.TrimPrefix(r.Path, "/"))
	if err != nil {
		return registries.Target{}, badRoute{err}
	}
	base := r.BaseURL(g.publicURL, g.name)
	switch rt.kind {
	case kindPackument:
		variant := chooseVariant(r.Accept)
		stored := variant // the stored document whose freshness answers from memory
		if variant == variantAbbreviated && (g.fullServesAbbreviated(rt.name) || g.up.MayHoldBack(r, rt.name)) {
			stored = variantFull
		}
		return registries.Target{Document: &registries.DocumentTarget{Key: rt.name, Variant: stored, Vary: vary,
			View: func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
				rendered, status, err := g.packumentView(ctx, rt.name, variant, base)
				return rendered, status, nil, err
			}}}, nil
	case kindVersion:
		return registries.Target{Document: &registries.DocumentTarget{Key: rt.name, Variant: variantFull, Vary: vary,
			View: func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
				rendered, status, err := g.versionView(ctx, rt.name, rt.version, base)
				return rendered, status, nil, err
			}}}, nil
	case kindTarball:
		path := rt.tarball()
		version, _ := tarballVersion(rt.name, rt.file)
		return registries.Target{Artifact: &registries.ArtifactTarget{Path: path, Package: rt.name, Options: tarballOptions,
			// Where the registry keeps it: fetched beside the packument
			// that announces it when larder has never seen it.
			Upstream: g.upstreamURL(path),
			Announce: func(ctx context.Context) error {
				_, err := g.loadPackument(ctx, rt.name, variantAbbreviated)
				return err
			},
			Version: version, Release: version,
			Learn: func(ctx context.Context) error {
				p, err := g.loadPackument(ctx, rt.name, variantFull)
				if err == nil {
					_, _, err = g.allowedVersions(ctx, g.up.Cutoff(ctx, rt.name), rt.name, p)
				}
				return err
			}}}, nil
	case kindEndpoint:
		if rt.rest == keysPath {
			return registries.Target{Document: &registries.DocumentTarget{Key: "-/" + keysPath, Variant: variantFull, Vary: vary,
				View: func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
					rendered, status, err := g.rawView(ctx, "-/"+keysPath)
					return rendered, status, nil, err
				}}}, nil
		}
	}
	return registries.Target{}, registries.ErrOwnRoute
}

// keysPath is the registry's signing keys, below "-/".
const keysPath = "npm/v1/keys"

// badRoute is a path that names nothing npm serves: a 400 that says why.
type badRoute struct{ error }

// ServeOwn answers the registry-wide endpoints, and refuses every other
// method on documents and tarballs: larder is read-only.
func (g *Registry) ServeOwn(w http.ResponseWriter, r *http.Request) {
	rt, err := parseRoute(strings.TrimPrefix(r.URL.EscapedPath(), "/"))
	switch {
	case err != nil:
		g.WriteError(w, badRoute{err})
	case rt.kind == kindEndpoint:
		g.serveEndpoint(w, r, rt.rest)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		registries.WriteJSONError(w, http.StatusMethodNotAllowed, "larder is a read-only mirror: "+r.Method+" is not supported")
	default:
		registries.WriteJSONError(w, http.StatusNotFound, "Not found")
	}
}

// WriteError maps an error to npm's JSON error shape, in one place.
func (g *Registry) WriteError(w http.ResponseWriter, err error) {
	var bad badRoute
	if errors.As(err, &bad) {
		registries.WriteJSONError(w, http.StatusBadRequest, bad.Error())
		return
	}
	var held *registries.HeldBackError
	if errors.As(err, &held) {
		// npm prints this header as a notice, whatever the status: the
		// user sees why the install failed, not only a 403.
		w.Header().Set("npm-notice", held.Error())
	}
	status := registries.StatusOf(err)
	msg := g.up.ErrorMessage(err)
	if errors.Is(err, registries.ErrNotFound) {
		msg = "Not found" // the registry's own words; clients match on them
	}
	registries.WriteJSONError(w, status, msg)
}

func (g *Registry) serveEndpoint(w http.ResponseWriter, r *http.Request, rest string) {
	switch {
	case rest == "ping" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}\n"))
	case rest == "v1/search" && r.Method == http.MethodGet:
		u := g.upstreamURL("-/v1/search")
		if r.URL.RawQuery != "" {
			u += "?" + r.URL.RawQuery
		}
		g.up.Passthrough(w, r, u)
	case (rest == "npm/v1/security/advisories/bulk" || rest == "npm/v1/security/audits/quick" ||
		rest == "npm/v1/security/audits") && r.Method == http.MethodPost:
		g.up.Passthrough(w, r, g.upstreamURL("-/"+rest))
	default:
		registries.WriteJSONError(w, http.StatusNotFound, "Not found")
	}
}

// rawView is a registry-wide JSON document, cached and served as it is.
func (g *Registry) rawView(ctx context.Context, path string) (*registries.Rendered, registries.CacheStatus, error) {
	doc, err := g.up.Document(ctx, registries.DocRequest{
		Key: path, Variant: variantFull, URL: g.upstreamURL(path), Accept: mediaJSON,
		Prepare: func(body []byte, ct string) (registries.Prepared, error) {
			if err := checkDocument(body, ct); err != nil {
				return registries.Prepared{}, err
			}
			return registries.Prepared{Body: body, ContentType: mediaJSON}, nil
		},
	})
	if err != nil {
		return nil, "", err
	}
	rendered, err := g.up.Env().Renders.Get(ctx, g.name+"\x00raw\x00"+string(doc.Body), func() (*registries.Rendered, error) {
		body, err := g.up.Body(ctx, doc.Document)
		if err != nil {
			return nil, err
		}
		return registries.NewRendered(body, mediaJSON), nil
	})
	if err != nil {
		return nil, "", err
	}
	return rendered, doc.Status, nil
}

// chooseVariant reads the Accept header as npm, pnpm and yarn send it; the
// abbreviated form wins when its q-value is the highest. Remembered per
// Accept header.
func chooseVariant(accept string) string { return variants.Of(accept) }

var variants = registries.NewChoices(negotiateVariant)

func negotiateVariant(accept string) string {
	if registries.Negotiate(accept, []string{mediaAbbreviated, mediaJSON}) == mediaAbbreviated &&
		strings.Contains(strings.ToLower(accept), mediaAbbreviated) {
		return variantAbbreviated
	}
	return variantFull
}

// packument is a packument in the variant asked for, before rewriting. Its
// body is read only when a rendering of it is not cached already: serving a
// cached packument must not read 10 MB from disk per request.
type packument struct {
	digest storage.Digest // of the stored body it comes from
	status registries.CacheStatus
	// derived is set when the body is derived from the full document,
	// which changes the render key.
	derived bool
	// degraded: served because the upstream failed or cannot be asked, so
	// the cached-only view applies.
	degraded bool
	load     func() ([]byte, error)
}

func (g *Registry) bodyOf(ctx context.Context, doc storage.Document, derive bool) func() ([]byte, error) {
	return func() ([]byte, error) {
		body, err := g.up.Body(ctx, doc)
		if err != nil || !derive {
			return body, err
		}
		return abbreviate(body), nil
	}
}

// loadPackument fetches a packument through the cache policy. When the
// abbreviated form cannot be had (the upstream 404s only that form, or only
// the full form is cached), it is derived from the full one: never 404 only
// one form.
func (g *Registry) loadPackument(ctx context.Context, name, variant string) (packument, error) {
	return g.packumentVia(ctx, name, variant, g.up.Document)
}

// packumentToAnswer is loadPackument for a view that answers its client
// with the packument: a copy fetched for it is answered while its row
// commits (registries.Upstream.DocumentToAnswer).
func (g *Registry) packumentToAnswer(ctx context.Context, name, variant string) (packument, error) {
	return g.packumentVia(ctx, name, variant, g.up.DocumentToAnswer)
}

type documentFetch func(context.Context, registries.DocRequest) (registries.Doc, error)

func (g *Registry) packumentVia(ctx context.Context, name, variant string, fetch documentFetch) (packument, error) {
	derive := false
	if variant == variantAbbreviated {
		held, err := g.fullServesAbbreviatedOnceCommitted(ctx, name)
		if err != nil {
			return packument{}, err
		}
		derive = held || g.up.Cutoff(ctx, name).Active()
	}
	if derive {
		// The abbreviated form is a subset of the full one held: one
		// document per package, revalidated as any other. Under a cutoff
		// too: only the full form dates each version.
		return g.derivedAbbreviated(ctx, name, fetch)
	}
	doc, err := fetch(ctx, g.docRequest(name, variant))
	if err == nil {
		return packument{digest: doc.Body, status: doc.Status, degraded: doc.Degraded, load: g.bodyOf(ctx, doc.Document, false)}, nil
	}
	other := variantFull
	if variant == variantFull {
		other = variantAbbreviated
	}
	switch {
	case errors.Is(err, registries.ErrNotCached):
		// Offline, or the upstream is down: any cached form will do. An
		// abbreviated document is a subset of the full one that every
		// installer accepts.
		if werr := g.up.AwaitCommit(ctx, name, other); werr != nil {
			return packument{}, werr
		}
		cached, cerr := g.up.Cached(ctx, name, other)
		if cerr != nil {
			return packument{}, err
		}
		derive := variant == variantAbbreviated
		return packument{digest: cached.Body, status: registries.Stale, derived: derive, degraded: true, load: g.bodyOf(ctx, cached, derive)}, nil
	case errors.Is(err, registries.ErrNotFound) && variant == variantAbbreviated:
		return g.derivedAbbreviated(ctx, name, fetch)
	}
	return packument{}, err
}

// derivedAbbreviated is the abbreviated packument of name derived from the
// full one, loaded through the cache policy.
func (g *Registry) derivedAbbreviated(ctx context.Context, name string, fetch documentFetch) (packument, error) {
	full, err := g.packumentVia(ctx, name, variantFull, fetch)
	if err != nil {
		return packument{}, err
	}
	loadFull := full.load
	full.derived = true
	full.load = func() ([]byte, error) {
		body, err := loadFull()
		if err != nil {
			return nil, err
		}
		return abbreviate(body), nil
	}
	return full, nil
}

// fullServesAbbreviated reports whether the abbreviated packument of name
// is derived from the full one: larder holds the full one and no
// abbreviated one.
func (g *Registry) fullServesAbbreviated(name string) bool {
	return !g.up.Holds(name, variantAbbreviated) && g.up.Holds(name, variantFull)
}

// fullServesAbbreviatedOnceCommitted is fullServesAbbreviated once neither
// form of the packument is committing: a full one answered a moment ago,
// its row not yet written, is held all the same, and the abbreviated one
// is derived from it rather than fetched.
func (g *Registry) fullServesAbbreviatedOnceCommitted(ctx context.Context, name string) (bool, error) {
	for _, variant := range []string{variantFull, variantAbbreviated} {
		if err := g.up.AwaitCommit(ctx, name, variant); err != nil {
			return false, err
		}
	}
	return g.fullServesAbbreviated(name), nil
}

func (g *Registry) docRequest(name, variant string) registries.DocRequest {
	accept := mediaJSON
	if variant == variantAbbreviated {
		accept = mediaAbbreviated + "; q=1.0, " + mediaJSON + "; q=0.8, */*"
	}
	return registries.DocRequest{
		Key: name, Variant: variant, Package: name, URL: g.upstreamURL(escapeName(name)), Accept: accept,
		Prepare: func(body []byte, ct string) (registries.Prepared, error) {
			if err := checkDocument(body, ct); err != nil {
				return registries.Prepared{}, err
			}
			g.noteOptional(name, body)
			if variant == variantAbbreviated {
				body = abbreviate(body)
			}
			arts, errs := announcedTarballs(name, body, g.tarballs)
			for _, e := range errs {
				g.up.Env().Log.Warn("tarball left out: larder will not fetch it", "registry", g.name, "package", name, "err", e)
			}
			changed, err := g.up.Pins(context.Background(), name, arts)
			if err != nil {
				return registries.Prepared{}, err
			}
			if len(changed) > 0 {
				body = pinIntegrity(body, name, changed)
			}
			ct = mediaJSON
			if variant == variantAbbreviated {
				ct = mediaAbbreviated
			}
			return registries.Prepared{Body: body, ContentType: ct, Artifacts: arts}, nil
		},
	}
}

func contentTypeOf(variant string) string {
	if variant == variantAbbreviated {
		return mediaAbbreviated
	}
	return mediaJSON
}

// packumentView is the packument a client gets, rendered for base: the
// offline view when the upstream cannot be asked. The hit is recorded.
func (g *Registry) packumentView(ctx context.Context, name, variant, base string) (*registries.Rendered, registries.CacheStatus, error) {
	p, err := g.packumentToAnswer(ctx, name, variant)
	if err != nil {
		return nil, "", err
	}
	allowed, ageKey, err := g.allowedVersions(ctx, g.up.Cutoff(ctx, name), name, p)
	if err != nil {
		return nil, "", err
	}
	var rendered *registries.Rendered
	if p.degraded || !g.up.Reachable() {
		rendered, err = g.offlineView(ctx, name, variant, p, base, allowed, ageKey)
	} else {
		rendered, err = g.render(ctx, name, variant, p, base, allowed, ageKey)
	}
	if err != nil {
		return nil, "", err
	}
	g.up.Env().Hits.Record(ctx, g.name, name, "")
	return rendered, p.status, nil
}

// render rewrites a packument for base, once per stored body and set of
// versions the release-age cutoff allows (nil: all, ageKey names the set).
func (g *Registry) render(ctx context.Context, name, variant string, p packument, base string, allowed map[string]bool, ageKey string) (*registries.Rendered, error) {
	key := strings.Join([]string{g.name, name, variant, string(p.digest), base, boolKey(p.derived), ageKey}, "\x00")
	return g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		body, err := p.load()
		if err != nil {
			return nil, err
		}
		if allowed != nil {
			if body, err = cachedView(body, viewFilter{allowed: allowed}); err != nil {
				return nil, err
			}
		}
		return registries.NewRendered(rewriteTarballs(body, name, base), contentTypeOf(variant)), nil
	})
}

func boolKey(b bool) string {
	if b {
		return "derived"
	}
	return ""
}

// versionView answers /name/1.2.3 and /name/latest from the full packument.
func (g *Registry) versionView(ctx context.Context, name, spec, base string) (*registries.Rendered, registries.CacheStatus, error) {
	p, err := g.packumentToAnswer(ctx, name, variantFull)
	if err != nil {
		return nil, "", err
	}
	// While the upstream cannot be asked, a tag resolves among the held
	// versions, and a version not held is not offered: as in the packument.
	paths, heldKey, err := g.up.HeldView(ctx, name, p.degraded)
	if err != nil {
		return nil, "", err
	}
	var held map[string]bool
	if paths != nil {
		held = versionsOf(name, paths)
	}
	allowed, ageKey, err := g.allowedVersions(ctx, g.up.Cutoff(ctx, name), name, p)
	if err != nil {
		return nil, "", err
	}
	filter := viewFilter{allowed: allowed, held: held, unheldPlatformBuilds: held != nil && len(held) == 0}
	key := strings.Join([]string{g.name, name, "version", spec, string(p.digest), base, heldKey, ageKey}, "\x00")
	rendered, err := g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		body, err := p.load()
		if err != nil {
			return nil, err
		}
		if filter.held != nil || filter.allowed != nil {
			if body, err = cachedView(body, filter); err != nil {
				return nil, err
			}
		}
		v, ok := findVersion(body, spec)
		if !ok {
			return nil, registries.ErrNotFound
		}
		// Wrap the version so that the rewriter finds it where it looks.
		wrapped := append(append([]byte(`{"versions":{`+quote(v.version)+`:`), v.raw...), "}}"...)
		out := gjson.GetBytes(rewriteTarballs(wrapped, name, base), "versions."+gjsonKey(v.version)).Raw
		return registries.NewRendered([]byte(out), mediaJSON), nil
	})
	if err != nil {
		return nil, "", err
	}
	return rendered, p.status, nil
}

type versionDoc struct {
	version string
	raw     []byte
}

// findVersion resolves a version or dist-tag in a packument.
func findVersion(body []byte, spec string) (versionDoc, bool) {
	doc := gjson.ParseBytes(body)
	version := spec
	if tagged := doc.Get("dist-tags." + gjsonKey(spec)); tagged.Type == gjson.String {
		version = tagged.String()
	}
	v := doc.Get("versions." + gjsonKey(version))
	if !v.IsObject() {
		return versionDoc{}, false
	}
	return versionDoc{version: version, raw: []byte(v.Raw)}, true
}

func quote(s string) string {
	b, _ := jsonMarshalString(s)
	return string(b)
}

// tarball is the artifact path of a tarball route.
func (rt route) tarball() string {
	version, _ := tarballVersion(rt.name, rt.file)
	return tarballPath(rt.name, version)
}
