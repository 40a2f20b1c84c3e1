package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// discardWriter is the cheapest http.ResponseWriter: what is measured is
// larder's own work for a request, not a recorder's or the network's.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// BenchmarkServeCached measures larder's handler chain (access rules, log,
// routing, lookup, headers) for requests answered from the cache.
func BenchmarkServeCached(b *testing.B) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("small", "1.0.0", nil)
	py := pypitest.New()
	defer py.Close()
	for i := 0; i < 50; i++ {
		py.AddWheel("many", fmt.Sprintf("1.%d", i), nil, ">=3.8")
	}
	cfg := defaultConfig()
	cfg.Data = b.TempDir()
	cfg.Registry = []RegistryConfig{
		{Name: "npm", Kind: "npm", Upstream: up.URL, MetadataTTL: "1h"},
		{Name: "pypi", Kind: "pypi", Upstream: py.IndexURL, Keys: map[string]any{"file_hosts": []string{py.FilesURL}}, MetadataTTL: "1h"},
	}
	if err := cfg.validate("bench"); err != nil {
		b.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, newLogger(cfg, io.Discard), newRequestLog(cfg, io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	defer a.close()
	acl, err := newAccess(cfg)
	if err != nil {
		b.Fatal(err)
	}
	h := a.serving(acl).std()
	for _, c := range []struct{ name, path, accept string }{
		{"tarball", "/npm/small/-/small-1.0.0.tgz", ""},
		{"packument", "/npm/small", "application/vnd.npm.install-v1+json"},
		{"pypi-page", "/pypi/simple/many/", "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"},
	} {
		req := httptest.NewRequest("GET", c.path, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Accept-Encoding", "gzip")
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		for i := 0; i < 3; i++ { // fetch, then HIT
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%s: status %d: %s", c.path, w.Code, w.Body)
			}
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatalf("status %d", w.code)
				}
				if got := w.h.Get("X-Larder-Cache"); got != "HIT" {
					b.Fatalf("X-Larder-Cache %q", got)
				}
			}
		})
	}
}
