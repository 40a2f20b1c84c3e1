package cargo

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Registry is a Cargo sparse registry mounted under /{name}/.
type Registry struct {
	up        *registries.Upstream
	name      string
	publicURL string
	download  string // the upstream's download template
}

// New mounts a sparse registry on up; o is what Decode read of the
// registry's own keys.
func New(up *registries.Upstream, publicURL string, o Options) *Registry {
	if o.DownloadURL == "" {
		o.DownloadURL = DefaultDownloadURL
	}
	return &Registry{up: up, name: up.Options().Name, publicURL: publicURL, download: o.DownloadURL}
}

func (g *Registry) Kind() string                   { return "cargo" }
func (g *Registry) Name() string                   { return g.name }
func (g *Registry) Upstream() *registries.Upstream { return g.up }

// variantIndex is the stored index file's variant, under the crate's
// lower-case name.
const variantIndex = "index"

const (
	mediaText = "text/plain; charset=utf-8"
	vary      = "Accept-Encoding"
)

var crateOptions = registries.ArtifactOptions{
	ContentType:  "application/octet-stream",
	CacheControl: "public, max-age=31536000, immutable",
}

// Resolve names the index file or .crate a GET or HEAD asks for.
func (g *Registry) Resolve(r registries.Request) (registries.Target, error) {
	rt, err := parseRoute(r.Path)
	if err != nil {
		return registries.Target{}, err
	}
	switch rt.kind {
	case routeIndex:
		return registries.Target{Document: &registries.DocumentTarget{Key: rt.pkg(), Variant: variantIndex, Vary: vary,
			View: func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
				rendered, status, err := g.indexView(ctx, rt)
				return rendered, status, nil, err
			}}}, nil
	case routeDownload:
		t := &registries.ArtifactTarget{Path: downloadPath(rt.crate, rt.version), Package: rt.pkg(), Options: crateOptions,
			Announce: func(ctx context.Context) error {
				_, err := g.loadIndex(ctx, rt)
				return err
			},
			Version: rt.version, Release: rt.version,
			Learn: func(ctx context.Context) error { return g.learnVersion(ctx, rt) }}
		if !strings.Contains(g.download, "{sha256-checksum}") {
			// Where the upstream keeps it follows from the name and
			// version: fetched beside the index file that announces it.
			t.Upstream = expandTemplate(g.download, rt.crate, rt.version, "")
		}
		return registries.Target{Artifact: t}, nil
	}
	return registries.Target{}, registries.ErrOwnRoute
}

// ServeOwn answers config.json, larder's own, and refuses other methods:
// larder is a read-only mirror (no publish, yank or owner API).
func (g *Registry) ServeOwn(w http.ResponseWriter, r *http.Request) {
	if registries.RefusedWrite(w, r, "") {
		return
	}
	rt, err := parseRoute(r.URL.EscapedPath())
	switch {
	case err != nil:
		g.WriteError(w, err)
	case rt.kind == routeConfig:
		// Through a /@{date}/ view, downloads stay in it.
		body := g.config(registries.BaseURL(r, g.publicURL, registries.MountPathIn(r.Context(), g.name)))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	default:
		registries.WriteTextError(w, http.StatusNotFound, "not found")
	}
}

// config is config.json for clients that reach larder at base: downloads
// through larder, and no API (publishing goes to the registry itself).
// Without markers in dl, cargo appends /{crate}/{version}/download.
func (g *Registry) config(base string) []byte {
	b, _ := json.Marshal(struct {
		DL string `json:"dl"`
	}{base + strings.TrimSuffix(downloadPrefix, "/")})
	return append(b, '\n')
}

// WriteError answers err as cargo reads errors: a status and a line of
// text, which it shows. What larder will not serve, or cannot fetch while
// the upstream is out of reach, is a 404 (cargo: no such crate); a
// failure of the upstream a 502 or 504, which cargo retries.
func (g *Registry) WriteError(w http.ResponseWriter, err error) {
	g.up.WritePlainError(w, err)
}

// loadIndex is a crate's index file through the cache policy, for a
// caller that reads what its fetch writes (the .crate rows it announces).
func (g *Registry) loadIndex(ctx context.Context, rt route) (registries.Doc, error) {
	return g.up.Document(ctx, g.indexRequest(rt))
}

// indexRequest asks for a crate's index file. Fetching it announces every
// version's .crate, with the sha256 its line declares.
func (g *Registry) indexRequest(rt route) registries.DocRequest {
	pkg := rt.pkg()
	return registries.DocRequest{
		Key: pkg, Variant: variantIndex, Package: pkg,
		URL: g.up.Options().Upstream.String() + IndexPath(pkg),
		Prepare: func(body []byte, _ string) (registries.Prepared, error) {
			lines, err := parseIndex(body, pkg)
			if err != nil {
				return registries.Prepared{}, err
			}
			arts := make([]storage.Artifact, len(lines))
			for i, l := range lines {
				arts[i] = l.artifact(g.name, g.download)
			}
			return registries.Prepared{Body: body, ContentType: mediaText, Artifacts: arts}, nil
		},
	}
}

// indexView is a crate's index file: the upstream's bytes while it can be
// asked; while it cannot, only the lines of versions whose .crate larder
// holds, so that cargo resolves to what it can download. Under a
// release-age cutoff, only the lines of versions old enough.
//
// A copy fetched for it is answered while its row commits: the view reads
// only the body, and the releases it records itself.
func (g *Registry) indexView(ctx context.Context, rt route) (*registries.Rendered, registries.CacheStatus, error) {
	doc, err := g.up.DocumentToAnswer(ctx, g.indexRequest(rt))
	if err != nil {
		return nil, "", err
	}
	held, heldKey, err := g.up.HeldView(ctx, rt.pkg(), doc.Degraded)
	if err != nil {
		return nil, "", err
	}
	allowed, ageKey, err := g.allowedVersions(ctx, rt.pkg(), doc.Document)
	if err != nil {
		return nil, "", err
	}
	key := g.name + "\x00" + string(doc.Body) + "\x00" + heldKey + "\x00" + ageKey
	rendered, err := g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		body, err := g.up.Body(ctx, doc.Document)
		if err != nil {
			return nil, err
		}
		if held == nil && allowed == nil {
			return registries.NewRendered(body, mediaText), nil
		}
		lines, err := parseIndex(body, rt.pkg())
		if err != nil {
			return nil, err
		}
		kept := keptLines(lines, func(l line) bool {
			return (held == nil || held[l.path()]) && (allowed == nil || allowed[l.Vers])
		})
		if len(kept) == 0 && held != nil {
			return nil, g.up.NotCached("any version of " + rt.pkg())
		}
		// Every version too young: an index file with no line, which
		// cargo reads as a crate with no version to pick.
		return registries.NewRendered(kept, mediaText), nil
	})
	return rendered, doc.Status, err
}
