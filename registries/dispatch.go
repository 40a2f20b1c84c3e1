package registries

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/net/http/httpguts"

	"github.com/larder-mirror/larder/storage"
)

// Request is what resolving a request reads of it: the same fields whether
// it came through net/http or through the front's quick path.
type Request struct {
	Path        string // escaped, below the registry's mount
	Head        bool
	Host        string
	TLS         bool
	Accept      string
	Encoding    string // Accept-Encoding
	IfNoneMatch string
	UserAgent   string
	Warm        bool // the request carries WarmHeader: a fill, not a client
	// View is the /@{date}/ view the request came through; zero for none.
	View View
}

// RequestOf reads r, whose path has had the mount stripped.
func RequestOf(r *http.Request) Request {
	view, _ := ViewOf(r.Context())
	return Request{
		Path:        r.URL.EscapedPath(),
		Head:        r.Method == http.MethodHead,
		Host:        r.Host,
		TLS:         r.TLS != nil,
		Accept:      HeaderValue(r.Header, "Accept"),
		Encoding:    HeaderValue(r.Header, "Accept-Encoding"),
		IfNoneMatch: HeaderValue(r.Header, "If-None-Match"),
		UserAgent:   HeaderValue(r.Header, "User-Agent"),
		Warm:        HeaderValue(r.Header, WarmHeader) != "",
		View:        view,
	}
}

// Target is what a GET or HEAD names, as an ecosystem resolves it: a
// document or an artifact, exactly one of the two.
type Target struct {
	Document *DocumentTarget
	Artifact *ArtifactTarget
}

// DocumentTarget is a document rendered from the stored document Key in
// Variant: a packument, a project page.
type DocumentTarget struct {
	Key, Variant string
	Vary         string // the request headers the answer depends on
	// AppendOnly is set for a document its clients bring up to date with
	// range requests; nil for the others, which are always sent whole.
	AppendOnly *AppendOnly
	// View loads the document through the cache policy and renders it for
	// the request, recording the hit. It runs under the client's context,
	// or a background one on the quick path.
	View func(ctx context.Context) (*Rendered, CacheStatus, []HeaderLine, error)
}

// ArtifactTarget is an immutable file at Path.
type ArtifactTarget struct {
	Path    string
	Package string // the package it belongs to, for the hit counts
	Options ArtifactOptions
	// Upstream is where the artifact conventionally lives upstream, when
	// that follows from its path (npm's tarballs); "" when only its
	// document can say (PyPI's files). With it, a cold artifact is fetched
	// at the same time as the document that announces it, and checked
	// against that document once both are in.
	Upstream string
	// Announce loads the document that announces the artifact, for an
	// artifact asked for before it (npm ci from a lockfile on a cold
	// cache): that document says where the artifact lives and what it must
	// hash to. Nil when nothing announces it.
	Announce func(ctx context.Context) error
	// AnnounceUnheld runs Announce for a row that exists but whose bytes
	// are not held, as for no row at all: for an ecosystem whose
	// announcement is side files that may have appeared since (Maven's
	// .sha1 beside a file that was missing), not a document already read.
	AnnounceUnheld bool
	// Missing, when set, is told that the upstream has no such artifact
	// (a 404 or 410), for an ecosystem that remembers what is missing so
	// that clients probing for files pay no upstream round trip each.
	Missing func()
	// Asked, when set, is told that a client asked for the artifact with
	// a GET (not a HEAD, nor a warm fill) that the release-age policy let
	// through, before it is answered: for an ecosystem that can tell what
	// the client will ask for next.
	Asked func()

	// For the release-age policy (see CheckRelease): the Version and
	// Release (what the kind dates: the version, or the file) the artifact
	// belongs to, "" for an artifact of no release, and Learn, which
	// records the release's date when larder has none (loads the document
	// that dates it).
	Version, Release string
	Learn            func(ctx context.Context) error
}

// ErrOwnRoute is what Resolve answers for a path that is neither a document
// nor an artifact: the ecosystem's ServeOwn answers it (an endpoint, a
// redirect, a 404 in the ecosystem's words).
var ErrOwnRoute = errors.New("not a document or an artifact")

// Resolver is the one place an ecosystem reads a request path. Both the
// net/http handler and the front's quick path are built from it (Mount), so
// the two cannot answer differently.
type Resolver interface {
	// Resolve names what a GET or HEAD of r asks for. An error other than
	// ErrOwnRoute is the client's (a malformed name), answered by
	// WriteError.
	Resolve(r Request) (Target, error)
	// ServeOwn answers the rest: other methods, endpoints, redirects.
	ServeOwn(w http.ResponseWriter, r *http.Request)
	// WriteError answers err in the ecosystem's own error shape.
	WriteError(w http.ResponseWriter, err error)
}

// Mounted serves one registry: its net/http handler and its quick path,
// both from one resolution.
type Mounted struct {
	reg Registry
	up  *Upstream
}

// Mount builds reg's handler and quick path.
func Mount(reg Registry) *Mounted { return &Mounted{reg: reg, up: reg.Upstream()} }

// ServeHTTP serves a request whose path has had the mount stripped.
func (m *Mounted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		m.reg.ServeOwn(w, r)
		return
	}
	if !httpguts.ValidHostHeader(r.Host) {
		// net/http refuses these before any handler; the front does not.
		// Each Host is another base URL, so another rendering of a
		// document: only valid ones get that far.
		m.reg.WriteError(w, fmt.Errorf("%w: malformed Host header", ErrBadRequest))
		return
	}
	req := RequestOf(r)
	if req.Warm {
		r = r.WithContext(NotServed(r.Context()))
	}
	t, err := m.reg.Resolve(req)
	switch {
	case errors.Is(err, ErrOwnRoute):
		m.reg.ServeOwn(w, r)
		return
	case err == nil:
		err = m.serve(w, r, t)
	}
	if err != nil {
		m.reg.WriteError(w, err)
	}
}

func (m *Mounted) serve(w http.ResponseWriter, r *http.Request, t Target) error {
	if d := t.Document; d != nil {
		rendered, status, extra, err := d.View(r.Context())
		if err != nil {
			return err
		}
		if d.AppendOnly != nil && HeaderValue(r.Header, "Range") != "" {
			m.up.serveAppendOnly(w, r, d.AppendOnly, rendered, status, d.Vary, extra...)
			return nil
		}
		m.up.ServeDocument(w, r, rendered, status, d.Vary, extra...)
		return nil
	}
	if err := m.up.CheckRelease(r.Context(), t.Artifact); err != nil {
		return err
	}
	if t.Artifact.Asked != nil && r.Method == http.MethodGet && Served(r.Context()) {
		t.Artifact.Asked()
	}
	return m.up.serveArtifactTarget(w, r, t.Artifact)
}

// Quick answers a plain GET or HEAD when it can, without waiting on the
// upstream: a held artifact, or a document fresh in memory. Anything else
// is false, for ServeHTTP to answer.
func (m *Mounted) Quick(r Request) (Quick, bool) {
	if r.Warm || r.View.Label != "" || !httpguts.ValidHostHeader(r.Host) {
		// A warm fill is the handler's, which counts it as no hit.
		return Quick{}, false
	}
	t, err := m.reg.Resolve(r)
	if err != nil {
		return Quick{}, false
	}
	if d := t.Document; d != nil {
		return m.up.QuickDocument(r, d.Key, d.Variant, d.Vary, func() (*Rendered, CacheStatus, []HeaderLine, error) {
			return d.View(quickContext)
		})
	}
	if !m.up.quickRelease(t.Artifact) {
		return Quick{}, false
	}
	q, ok := m.up.Quick(r, t.Artifact.Path, t.Artifact.Options)
	if ok && !r.Head && t.Artifact.Asked != nil {
		t.Artifact.Asked()
	}
	return q, ok
}

type quickKey struct{}

// quickContext is the context of a View run by the quick path.
var quickContext = context.WithValue(context.Background(), quickKey{}, true)

// OnQuickPath reports whether a View runs on the quick path, which must
// not wait on the upstream: a view that would (to fetch what it renders)
// fails there instead, and the handler runs it again.
func OnQuickPath(ctx context.Context) bool {
	v, _ := ctx.Value(quickKey{}).(bool)
	return v
}

// serveArtifactTarget serves the artifact t names: held, or fetched ahead
// of its document when its upstream URL follows from its path, or after
// loading the document that announces it when it does not.
func (u *Upstream) serveArtifactTarget(w http.ResponseWriter, r *http.Request, t *ArtifactTarget) error {
	err := u.serveTarget(w, r, t)
	if t.Missing != nil && errors.Is(err, ErrNotFound) {
		t.Missing()
	}
	return err
}

// serveTarget is serveArtifactTarget but for telling t what is missing.
func (u *Upstream) serveTarget(w http.ResponseWriter, r *http.Request, t *ArtifactTarget) error {
	ctx := r.Context()
	seen := u.finishedCount()
	a, err := u.Artifact(ctx, t.Path)
	if err == nil && !a.Cached() && t.AnnounceUnheld && u.fillOf(t.Path) == nil {
		err = storage.ErrNotFound
	}
	if errors.Is(err, storage.ErrNotFound) && t.Announce != nil {
		if t.Upstream != "" {
			return u.serveAhead(w, r, t, seen)
		}
		if err := t.Announce(ctx); err != nil {
			return err
		}
		a, err = u.Artifact(ctx, t.Path)
		if errors.Is(err, storage.ErrNotFound) {
			if err := t.Announce(revalidating(ctx)); err != nil {
				return err
			}
			a, err = u.Artifact(ctx, t.Path)
		}
	}
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return u.serveArtifact(w, r, a, t.Options, seen)
}
