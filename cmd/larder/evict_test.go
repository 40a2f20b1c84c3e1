package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// max_cache_size evicts while larder serves: an evicted tarball, small
// (kept in memory) or large (sent from its open blob), is never answered
// from memory afterwards, by the front's quick path or the handler; it is
// fetched again once, as a MISS.
func TestMaxCacheSizeEvictionWhileServingFetchesAgainOnce(t *testing.T) {
	for _, memory := range []bool{true, false} {
		t.Run(map[bool]string{true: "memory cache on", false: "memory cache off"}[memory], func(t *testing.T) {
			up := npmtest.New()
			t.Cleanup(up.Close)
			up.Publish("small", "1.0.0", nil)
			big := make([]byte, 300_000)
			for i := range big {
				big[i] = byte(i * 7 % 251)
			}
			up.PublishTarball("big", "1.0.0", big, nil)

			cfg := defaultConfig()
			cfg.Data = t.TempDir()
			cfg.MemoryCache = memory
			cfg.Registry = []RegistryConfig{{Name: "npm", Kind: "npm", Upstream: up.URL, MetadataTTL: "1h"}}
			if err := cfg.validate("test"); err != nil {
				t.Fatal(err)
			}
			a, err := newApp(context.Background(), cfg, newLogger(cfg, io.Discard), newRequestLog(cfg, io.Discard))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(a.close)
			acl, err := newAccess(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var handled int
			s := a.serving(acl)
			counted := s
			counted.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				handled++ // one client, one request at a time
				s.handler.ServeHTTP(w, r)
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			f := counted.fast(a.log)
			go f.Serve(ln)
			t.Cleanup(func() { f.Shutdown(context.Background()) })
			base := "http://" + ln.Addr().String()

			get := func(path string) (string, int) {
				t.Helper()
				before := handled
				resp, err := noProxy.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if _, err := io.ReadAll(resp.Body); err != nil || resp.StatusCode != 200 {
					t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
				}
				// What a client received is recorded just after its answer.
				for _, up := range a.upstreams {
					up.Settle(context.Background())
				}
				return resp.Header.Get("X-Larder-Cache"), handled - before
			}
			tarballs := []string{"/npm/small/-/small-1.0.0.tgz", "/npm/big/-/big-1.0.0.tgz"}
			for _, p := range tarballs {
				if c, _ := get(p); c != "MISS" {
					t.Fatalf("%s first: %s, want MISS", p, c)
				}
				get(p) // a HIT, which puts the row in memory
				if c, n := get(p); c != "HIT" || n != 0 {
					t.Fatalf("%s again: %s, %d requests to the handler; want a HIT from the quick path", p, c, n)
				}
			}

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { a.keepCacheUnder(ctx, 1, time.Hour); close(done) }()
			deadline := time.Now().Add(30 * time.Second)
			held := func() bool {
				for _, p := range tarballs {
					if row, err := a.store.DB.Artifact(ctx, "npm", p[len("/npm/"):]); err != nil || row.Cached() {
						return true
					}
				}
				return false
			}
			for held() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done

			for _, p := range tarballs {
				if c, n := get(p); c != "MISS" || n != 1 {
					t.Errorf("%s after eviction: %s, %d requests to the handler; want a MISS from the handler", p, c, n)
				}
				if n := up.Count("GET", p[len("/npm"):]); n != 2 {
					t.Errorf("%s: the upstream was asked %d times, want 2", p, n)
				}
				if c, _ := get(p); c != "HIT" {
					t.Errorf("%s fetched again, then: %s, want HIT", p, c)
				}
			}
		})
	}
}

// max_cache_size is checked as soon as a download takes the cache past it,
// not only at the periodic check.
func TestADownloadPastMaxCacheSizeStartsAnEvictionAtOnce(t *testing.T) {
	up := npmtest.New()
	t.Cleanup(up.Close)
	big := make([]byte, 300_000)
	for i := range big {
		big[i] = byte(i * 13 % 251)
	}
	up.PublishTarball("big", "1.0.0", big, nil)
	cfg := defaultConfig()
	cfg.Data = t.TempDir()
	cfg.MaxCacheSize = "100KiB"
	cfg.Registry = []RegistryConfig{{Name: "npm", Kind: "npm", Upstream: up.URL, MetadataTTL: "1h"}}
	if err := cfg.validate("test"); err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, newLogger(cfg, io.Discard), newRequestLog(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.keepCacheUnder(ctx, 100<<10, time.Hour); close(done) }() // the next tick is an hour away
	t.Cleanup(func() { cancel(); <-done })

	srv := httptest.NewServer(a.serving(nil).std())
	t.Cleanup(srv.Close)
	resp, err := noProxy.Get(srv.URL + "/npm/big/-/big-1.0.0.tgz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		row, err := a.store.DB.Artifact(ctx, "npm", "big/-/big-1.0.0.tgz")
		if err == nil && !row.Cached() {
			return // evicted
		}
		if time.Now().After(deadline) {
			t.Fatalf("a 300 KB download past a 100 KiB max_cache_size was not evicted within 10 s (row %+v, %v)", row, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
