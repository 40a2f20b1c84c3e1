package registries

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// passthroughServer mounts Passthrough to target on a real HTTP server.
func passthroughServer(t *testing.T, u *Upstream, target string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.Passthrough(w, r, target)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPassthroughSendsNoClientHeadersUpstream(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	var gotBody string
	f.handle("/-/npm/v1/security/audits/quick", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Set-Cookie", "session=upstream")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"advisories":{}}`)
	}))
	u := e.upstream(t, f.URL("/"), Options{})
	srv := passthroughServer(t, u, f.URL("/-/npm/v1/security/audits/quick"))

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/-/npm/v1/security/audits/quick", strings.NewReader(`{"name":"app"}`))
	secrets := map[string]string{
		"Authorization":       "Bearer npm_secret",
		"Proxy-Authorization": "Basic c2VjcmV0",
		"Cookie":              "session=client",
		"X-Forwarded-For":     "10.1.2.3",
		"X-Forwarded-Host":    "larder.internal",
		"X-Forwarded-Proto":   "https",
		"X-Real-Ip":           "10.1.2.3",
		"Npm-Session":         "abcdef",
		"Referer":             "install lodash",
	}
	for k, v := range secrets {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Npm-Command", "audit")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)

	h := f.lastHeader("/-/npm/v1/security/audits/quick")
	for k := range secrets {
		if v := h.Get(k); v != "" {
			t.Errorf("upstream received the client's %s: %q", k, v)
		}
	}
	allowedHeaders(t, h, "Accept", "Content-Type", "Content-Encoding", "Npm-Command", "User-Agent", "Accept-Encoding", "Content-Length")
	if h.Get("User-Agent") != userAgent || h.Get("Npm-Command") != "audit" || h.Get("Content-Type") != "application/json" {
		t.Errorf("upstream saw User-Agent %q, Npm-Command %q, Content-Type %q", h.Get("User-Agent"), h.Get("Npm-Command"), h.Get("Content-Type"))
	}
	if gotBody != `{"name":"app"}` {
		t.Errorf("upstream received body %q", gotBody)
	}
	if resp.StatusCode != http.StatusOK || string(body) != `{"advisories":{}}` {
		t.Errorf("client got %d %q", resp.StatusCode, body)
	}
	if c := resp.Header.Get("Set-Cookie"); c != "" {
		t.Errorf("the upstream's Set-Cookie reached the client: %q", c)
	}
}

func TestPassthroughWhenTheUpstreamCannotBeReached(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       Options
		refused    bool
		wantStatus int
	}{
		{"offline answers 503 without asking", Options{Offline: true}, false, http.StatusServiceUnavailable},
		{"a refused upstream is a 502", Options{}, true, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			f := newFakeUpstream(t)
			target := f.URL("/-/v1/search")
			if tt.refused {
				target = refusedURL(t) + "-/v1/search"
			}
			u := e.upstream(t, f.URL("/"), tt.opts)
			srv := passthroughServer(t, u, target)
			resp, err := srv.Client().Get(srv.URL + "/-/v1/search?text=lodash")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var msg map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&msg); err != nil || msg["error"] == "" {
				t.Errorf("body is not a JSON error (%v)", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if n := f.count("/-/v1/search"); n != 0 {
				t.Errorf("upstream received %d requests", n)
			}
		})
	}
}
