package registries

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// oneDocRegistry serves one document, /doc, rendered for the request's
// Host: the smallest ecosystem there is.
type oneDocRegistry struct {
	up      *Upstream
	renders counter
}

func (g *oneDocRegistry) Kind() string                 { return "test" }
func (g *oneDocRegistry) Name() string                 { return testRegistry }
func (g *oneDocRegistry) Upstream() *Upstream          { return g.up }
func (g *oneDocRegistry) ClientSetup(string) []Snippet { return nil }
func (g *oneDocRegistry) Describe(context.Context, string) (PackageInfo, error) {
	return PackageInfo{}, ErrNotFound
}
func (g *oneDocRegistry) ServeOwn(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
func (g *oneDocRegistry) WriteError(w http.ResponseWriter, err error) {
	http.Error(w, ErrorMessage(err), StatusOf(err))
}

func (g *oneDocRegistry) Resolve(r Request) (Target, error) {
	if r.Path != "/doc" {
		return Target{}, ErrOwnRoute
	}
	base := BaseURLOf(r.Host, r.TLS, "", testRegistry)
	return Target{Document: &DocumentTarget{Key: "doc", Variant: "v", Vary: "Accept",
		View: func(ctx context.Context) (*Rendered, CacheStatus, []HeaderLine, error) {
			g.renders.inc()
			return NewRendered([]byte(base), "text/plain"), Hit, nil, nil
		}}}, nil
}

func TestAHostHeaderNetHTTPWouldRefuseIsRefusedByEitherPath(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	reg := &oneDocRegistry{up: e.upstream(t, "http://127.0.0.1:9/", Options{})}
	m := Mount(reg)
	for _, host := range []string{"a b", "x\x7f", "host/evil", "é.example", "a\"b"} {
		if _, ok := m.Quick(Request{Path: "/doc", Host: host}); ok {
			t.Errorf("Host %q: the quick path answered", host)
		}
		r := httptest.NewRequest(http.MethodGet, "/doc", nil)
		r.Host = host
		w := httptest.NewRecorder()
		m.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest {
			t.Errorf("Host %q: status %d, want 400", host, w.Code)
		}
	}
	if n := reg.renders.get(); n != 0 {
		t.Errorf("rendered %d times for malformed Host headers", n)
	}
	r := httptest.NewRequest(http.MethodGet, "/doc", nil)
	r.Host = "mirror.example:7070"
	w := httptest.NewRecorder()
	m.ServeHTTP(w, r)
	if w.Code != http.StatusOK || w.Body.String() != "http://mirror.example:7070/"+testRegistry+"/" {
		t.Errorf("a valid Host: %d %q", w.Code, w.Body)
	}
}
