package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// now is the tests' clock.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeRegistry is an ecosystem as the UI sees it: a name, a kind, an
// upstream, set-up snippets and packages to describe.
type fakeRegistry struct {
	name, kind string
	up         *registries.Upstream
	pkgs       map[string]registries.PackageInfo
	err        error // Describe's error for every name, when set
}

func (f *fakeRegistry) Kind() string { return f.kind }
func (f *fakeRegistry) Name() string { return f.name }
func (f *fakeRegistry) Resolve(registries.Request) (registries.Target, error) {
	return registries.Target{}, registries.ErrOwnRoute
}
func (f *fakeRegistry) ServeOwn(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
func (f *fakeRegistry) WriteError(w http.ResponseWriter, err error)     { http.Error(w, err.Error(), 500) }
func (f *fakeRegistry) Upstream() *registries.Upstream                  { return f.up }
func (f *fakeRegistry) ClientSetup(base string) []registries.Snippet {
	return []registries.Snippet{
		{Client: f.kind, Shell: f.kind + " config set registry " + base, Note: "for " + f.kind},
		{Client: f.kind + "-other", Shell: "export INDEX=" + base},
	}
}

func (f *fakeRegistry) Describe(ctx context.Context, name string) (registries.PackageInfo, error) {
	if f.err != nil {
		return registries.PackageInfo{}, f.err
	}
	if p, ok := f.pkgs[name]; ok {
		return p, nil
	}
	return registries.PackageInfo{}, fmt.Errorf("%s: %w", name, registries.ErrNotFound)
}

// testLarder is a store, registries on it and the UI over them.
type testLarder struct {
	t     *testing.T
	store *storage.Store
	env   registries.Env
	regs  map[string]*fakeRegistry
	cfg   Config
	h     *Handler
}

func newTestLarder(t testing.TB, kinds ...string) *testLarder {
	t.Helper()
	store, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	hits := registries.NewHitRecorder(store.DB, log, time.Hour)
	t.Cleanup(func() {
		hits.Close()
		store.Close()
	})
	l := &testLarder{store: store, regs: map[string]*fakeRegistry{}}
	l.env = registries.Env{Store: store, Metrics: registries.NewMetrics(prometheus.NewRegistry()), Renders: registries.NewRenderCache(0), Hits: hits, Log: log}
	var regs []registries.Registry
	for _, kind := range kinds {
		// An upstream nothing listens on: a probe of a down one fails fast.
		u, _ := url.Parse("http://127.0.0.1:9/" + kind + "/")
		up := registries.NewUpstream(l.env, registries.Options{Name: kind, Upstream: u, ProbeInterval: time.Hour})
		t.Cleanup(up.Close)
		f := &fakeRegistry{name: kind, kind: kind, up: up, pkgs: map[string]registries.PackageInfo{}}
		l.regs[kind] = f
		regs = append(regs, f)
	}
	l.cfg = Config{Registries: regs, Store: store, DataDir: store.Dir, CatalogMaxAge: -1, Now: func() time.Time { return now }}
	l.h = New(l.cfg)
	return l
}

// reconfigure rebuilds the handler after a change to cfg.
func (l *testLarder) reconfigure(change func(*Config)) {
	change(&l.cfg)
	l.h = New(l.cfg)
}

// addPackage records a package the way fetching does: a document, files
// committed, hits served.
func (l *testLarder) addPackage(t testing.TB, registry, name string, files []storage.Artifact, hits int64, served time.Time) {
	t.Helper()
	ctx := context.Background()
	doc := storage.Document{Registry: registry, Key: name, Variant: "full", Body: storage.DigestOf([]byte(name)), Size: 1, ContentType: "application/json", FetchedAt: now.Add(-time.Hour)}
	if err := l.store.PutDocument(ctx, doc, name); err != nil {
		t.Fatal(err)
	}
	for _, a := range files {
		a.Registry, a.Package = registry, name
		if err := l.store.CommitArtifact(ctx, a, storage.KeptBlob{Digest: storage.DigestOf([]byte(a.Path)), Size: a.Size}, now.Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if hits > 0 {
		if err := l.store.RecordServed(ctx, []storage.Served{{Registry: registry, Package: name, Hits: hits, At: served}}); err != nil {
			t.Fatal(err)
		}
	}
}

type response struct {
	*http.Response
	body string
}

func (l *testLarder) get(t testing.TB, target string, header ...string) response {
	t.Helper()
	return l.do(t, http.MethodGet, target, header...)
}

func (l *testLarder) do(t testing.TB, method, target string, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Host = "mirror.test:7070"
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	l.h.ServeHTTP(w, req)
	resp := w.Result()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, string(b)}
}

// wantPage checks a page's status, type and that it holds every want.
func wantPage(t *testing.T, r response, status int, wants ...string) {
	t.Helper()
	if r.StatusCode != status {
		t.Errorf("status %d, want %d\n%s", r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for _, w := range wants {
		if !strings.Contains(r.body, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", r.body)
	}
}

func wantAbsent(t *testing.T, r response, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(r.body, u) {
			t.Errorf("the page holds %q", u)
		}
	}
}

var errBoom = errors.New("the disk caught fire")

func art(path, version string, size int64) storage.Artifact {
	return storage.Artifact{Path: path, Version: version, UpstreamURL: "https://upstream.test/" + path, Size: size}
}
