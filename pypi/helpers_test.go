package pypi

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pypi -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test ./pypi -update and review the diff.\ngot:\n%s", name, got)
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newTestEnv is one larder's shared state on a fresh data folder.
func newTestEnv(t *testing.T) registries.Env { return registriestest.NewEnv(t) }

// testMirror is a mounted PyPI registry served by httptest, under /pypi as
// cmd/larder mounts it.
type testMirror struct {
	reg *Registry
	up  *registries.Upstream
	srv *httptest.Server
}

// newMirror mounts a registry named "pypi" on env, reading from indexURL and
// allowed to fetch files from fileHosts; fields set in opts win.
func newMirror(t *testing.T, env registries.Env, indexURL string, fileHosts []string, opts registries.Options) *testMirror {
	t.Helper()
	return newMirrorOf(t, env, indexURL, fileHosts, opts, Options{})
}

// newMirrorOf is newMirror with the registry's own keys, own.
func newMirrorOf(t *testing.T, env registries.Env, indexURL string, fileHosts []string, opts registries.Options, own Options) *testMirror {
	t.Helper()
	opts.Name = "pypi"
	opts.Upstream = mustURL(t, indexURL)
	for _, h := range fileHosts {
		opts.AlsoFrom = append(opts.AlsoFrom, mustURL(t, h))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.ConnectTimeout, time.Second)
	def(&opts.ResponseTimeout, 2*time.Second)
	def(&opts.IdleTimeout, 2*time.Second)
	def(&opts.StaleWait, 2*time.Second)
	def(&opts.ProbeInterval, 50*time.Millisecond)
	def(&opts.MetadataTTL, time.Hour)
	up := registries.NewUpstream(env, opts)
	t.Cleanup(up.Close)
	reg := New(up, "", own)
	mux := http.NewServeMux()
	mux.Handle("/pypi/", http.StripPrefix("/pypi", registries.Mount(reg)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &testMirror{reg: reg, up: up, srv: srv}
}

// response is what a test reads of an answer.
type response struct {
	status int
	header http.Header
	body   string
}

// get asks the mirror for path (under its mount) with the headers given as
// name, value pairs; redirects are not followed.
func (m *testMirror) get(t *testing.T, path string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, m.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

// waitHeld waits until the mirror holds the bytes of path ("files/p/f"):
// a download finishes in the background after the client has its bytes.
func (m *testMirror) waitHeld(t *testing.T, project, path string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		held, err := m.up.Store().CachedPaths(context.Background(), "pypi", project)
		if err != nil {
			t.Fatal(err)
		}
		if held[path] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for larder to hold %s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// filenames lists the files of a rendered page, parsed as a client would.
func filenames(t *testing.T, r response) []string {
	t.Helper()
	p, err := parsePage([]byte(r.body), r.header.Get("Content-Type"), mustURL(t, "http://larder.test/pypi/simple/x/"))
	if err != nil {
		t.Fatalf("the mirror's page does not parse: %v\n%s", err, r.body)
	}
	out := []string{}
	for _, f := range p.Files {
		out = append(out, f.Filename)
	}
	return out
}

func sameStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}
