package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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

// benchApp is larder with the embedded defaults and regs mounted, in a
// folder of b's, closed when b ends, and its net/http handler.
func benchApp(b *testing.B, regs ...RegistryConfig) (*app, http.Handler) {
	cfg := defaultConfig()
	cfg.Data = b.TempDir()
	cfg.Registry = regs
	if err := cfg.validate("bench"); err != nil {
		b.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, newLogger(cfg, io.Discard), newRequestLog(cfg, io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.close)
	acl, err := newAccess(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return a, a.serving(acl).std()
}

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
	_, h := benchApp(b,
		RegistryConfig{Name: "npm", Kind: "npm", Upstream: up.URL, MetadataTTL: "1h"},
		RegistryConfig{Name: "pypi", Kind: "pypi", Upstream: py.IndexURL, Keys: map[string]any{"file_hosts": []string{py.FilesURL}}, MetadataTTL: "1h"},
	)
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

// BenchmarkServeCold measures the CPU larder spends on a cold npm tarball:
// the client's request, the packument and tarball fetched from the
// upstream, the check, and the blob and rows made durable, with 16 clients
// at once as npm sends them. The fake upstream runs in this process, so
// its share is measured too: the floor is the CPU of the same two
// upstream fetches made by a bare client, and x-floor is larder over it.
// CPU, not time, is what is reported, because on a machine shared with the
// client larder's CPU is what the client waits for (issue 21).
func BenchmarkServeCold(b *testing.B) {
	const clients = 16
	up := npmtest.New()
	defer up.Close()
	a, h := benchApp(b, RegistryConfig{Name: "npm", Kind: "npm", Upstream: up.URL})
	names := make([]string, 2*b.N)
	for i := range names {
		names[i] = fmt.Sprintf("cold-%06d", i)
		up.Publish(names[i], "1.0.0", nil)
	}
	floorNames, larderNames := names[:b.N], names[b.N:]
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	fetch := func(url string, accept string) {
		req, _ := http.NewRequest("GET", url, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: status %d", url, resp.StatusCode)
		}
	}
	b.ResetTimer()
	floor := cpuOfRun(clients, floorNames, func(name string) {
		fetch(up.URL+name, "application/vnd.npm.install-v1+json")
		fetch(up.URL+name+"/-/"+name+"-1.0.0.tgz", "")
	})
	cold := cpuOfRun(clients, larderNames, func(name string) {
		req := httptest.NewRequest("GET", "/npm/"+name+"/-/"+name+"-1.0.0.tgz", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("%s: status %d", name, w.code)
		}
	}, func() {
		for _, u := range a.upstreams {
			if err := u.Settle(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		// The document beside each artifact commits with the next batch.
		time.Sleep(50 * time.Millisecond)
	})
	b.StopTimer()
	b.ReportMetric(float64(cold.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(floor.Microseconds())/float64(b.N), "floor-cpu-µs/op")
	b.ReportMetric(cold.Seconds()/floor.Seconds(), "x-floor")
}

// cpuOfRun runs do for each of names on clients goroutines, then each of
// after, and returns the CPU this process spent meanwhile.
func cpuOfRun(clients int, names []string, do func(string), after ...func()) time.Duration {
	start := processCPU()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(names)); i = next.Add(1) - 1 {
				do(names[i])
			}
		})
	}
	wg.Wait()
	for _, f := range after {
		f()
	}
	return processCPU() - start
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
