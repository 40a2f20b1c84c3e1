package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larder-mirror/larder/cmd/larder/front"
	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// lockedBuffer is a log sink safe for handlers on many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mirror is a larder app over fake npm and PyPI upstreams, served by the
// fasthttp front (quick hits included) and by net/http, side by side.
type mirror struct {
	fast, std string       // base URLs
	handled   atomic.Int64 // requests the front passed to the handler
	log       *lockedBuffer
	npm       *npmtest.Server
	pypi      *pypitest.Server
	wheel     string
	data      string // the data folder
	app       *app
}

func startMirror(t *testing.T, tokens []string) *mirror {
	m := &mirror{log: &lockedBuffer{}, npm: npmtest.New(), pypi: pypitest.New()}
	t.Cleanup(m.npm.Close)
	t.Cleanup(m.pypi.Close)
	m.npm.Publish("leftpad", "1.0.0", nil)
	m.npm.Publish("@scope/util", "2.0.0", nil)
	// Larger than larder keeps in memory: sent from its blob.
	big := make([]byte, 300_000)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	m.npm.PublishTarball("big", "1.0.0", big, nil)
	m.wheel = m.pypi.AddWheel("tiny", "1.0", nil, ">=3.8")
	for i := range 300 { // a packument larger than the front holds in its buffer
		m.npm.Publish("many", fmt.Sprintf("1.0.%d", i), map[string]string{"leftpad": "^1.0.0"})
	}
	cfg := defaultConfig()
	cfg.Data = t.TempDir()
	m.data = cfg.Data
	cfg.Tokens = tokens
	cfg.Registry = []RegistryConfig{
		{Name: "npm", Kind: "npm", Upstream: m.npm.URL, MetadataTTL: "1h"},
		{Name: "pypi", Kind: "pypi", Upstream: m.pypi.IndexURL, Keys: map[string]any{"file_hosts": []string{m.pypi.FilesURL}}, MetadataTTL: "1h"},
	}
	if err := cfg.validate("test"); err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, newLogger(cfg, io.Discard), newRequestLog(cfg, m.log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	m.app = a
	acl, err := newAccess(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := a.serving(acl)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := s
	counted.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.handled.Add(1)
		s.handler.ServeHTTP(w, r)
	})
	f := counted.fast(a.log)
	go f.Serve(ln)
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	m.fast = "http://" + ln.Addr().String()
	std := &http.Server{Handler: s.std(), ConnContext: front.ConnContext}
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go std.Serve(sln)
	t.Cleanup(func() { std.Close() })
	m.std = "http://" + sln.Addr().String()
	return m
}

// waitLogLines waits, a few seconds at most, until the request log has n
// lines, and returns how many it has.
func (m *mirror) waitLogLines(t *testing.T, n int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := strings.Count(m.log.String(), "\n")
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (m *mirror) do(t *testing.T, base, method, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noProxy.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// What a client received is recorded just after (Upstream.Settle).
	for _, up := range m.app.upstreams {
		up.Settle(context.Background())
	}
	return resp, body
}

// A held tarball or wheel is answered by the front itself with what the
// handler would send: status, headers, bytes, the hit counted and logged.
// What it cannot answer alike (ranges, conditions, queries) reaches the
// handler; a refused client reaches neither, the chain answers it.
func TestQuickHitsAnswerAsTheHandlerWould(t *testing.T) {
	m := startMirror(t, []string{"s3cret"})
	auth := http.Header{"Authorization": {"Bearer s3cret"}}
	paths := []string{
		"/npm/leftpad/-/leftpad-1.0.0.tgz",
		"/npm/@scope/util/-/util-2.0.0.tgz",
		"/npm/@scope%2futil/-/util-2.0.0.tgz",
		"/npm/big/-/big-1.0.0.tgz",
		"/pypi/files/tiny/" + m.wheel,
	}
	for _, p := range paths { // fetched and held
		if resp, _ := m.do(t, m.std, "GET", p, auth); resp.StatusCode != 200 {
			t.Fatalf("%s: %s", p, resp.Status)
		}
	}
	// The last fill's line may come after its client has the body: were it
	// counted below, it would pass for the next request's.
	m.waitLogLines(t, len(paths))
	for _, p := range paths {
		for _, method := range []string{"GET", "HEAD"} {
			logged := strings.Count(m.log.String(), "\n")
			want, wantBody := m.do(t, m.std, method, p, auth)
			// net/http's handler logs once it returns, which may be after
			// the client has the whole body.
			before := m.waitLogLines(t, logged+1)
			handled := m.handled.Load()
			got, gotBody := m.do(t, m.fast, method, p, auth)
			if m.handled.Load() != handled {
				t.Errorf("%s %s: the front passed a held file to the handler", method, p)
			}
			if got.StatusCode != 200 || !bytes.Equal(gotBody, wantBody) {
				t.Errorf("%s %s: %s, %d bytes; the handler: %s, %d bytes", method, p, got.Status, len(gotBody), want.Status, len(wantBody))
			}
			for _, k := range []string{"Content-Type", "Content-Length", "Cache-Control", "Etag", "X-Larder-Cache", "Accept-Ranges"} {
				if got.Header.Get(k) != want.Header.Get(k) {
					t.Errorf("%s %s: %s %q, the handler sends %q", method, p, k, got.Header.Get(k), want.Header.Get(k))
				}
			}
			lines := strings.Split(strings.TrimSpace(m.log.String()), "\n")
			if len(lines) != before+1 || !strings.Contains(lines[len(lines)-1], "method="+method) || !strings.Contains(lines[len(lines)-1], "cache=HIT") {
				t.Errorf("%s %s: log lines after %d: %q", method, p, before, lines[before:])
			}
		}
	}
	tgz := paths[0]
	for _, c := range []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"no token", tgz, nil, http.StatusUnauthorized},
		{"a wrong token", tgz, http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
		{"no token for the UI", "/", nil, http.StatusUnauthorized},
		{"a range", tgz, http.Header{"Authorization": auth["Authorization"], "Range": {"bytes=0-9"}}, http.StatusPartialContent},
		{"a matching ETag", tgz, http.Header{"Authorization": auth["Authorization"], "If-None-Match": {"*"}}, http.StatusNotModified},
		{"a query", tgz + "?cachebust=1", auth, http.StatusOK},
		{"a name that is not one", "/npm/..%2f..%2fetc/-/x-1.0.0.tgz", auth, http.StatusBadRequest},
	} {
		want, wantBody := m.do(t, m.std, "GET", c.path, c.header)
		handled := m.handled.Load()
		got, gotBody := m.do(t, m.fast, "GET", c.path, c.header)
		refused := c.status == http.StatusUnauthorized
		if m.handled.Load() == handled && !refused {
			t.Errorf("%s: the front answered without the handler", c.name)
		}
		if m.handled.Load() != handled && refused {
			t.Errorf("%s: a refused request reached the handler", c.name)
		}
		if got.StatusCode != c.status || want.StatusCode != c.status || !bytes.Equal(gotBody, wantBody) {
			t.Errorf("%s: front %s (%d bytes), handler %s (%d bytes), want %d", c.name, got.Status, len(gotBody), want.Status, len(wantBody), c.status)
		}
	}
	// A blob the front sends is opened once and shared, not opened per
	// request.
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	open := fds()
	for range 50 {
		m.do(t, m.fast, "GET", "/npm/big/-/big-1.0.0.tgz", auth)
		m.do(t, m.fast, "HEAD", "/npm/big/-/big-1.0.0.tgz", auth)
	}
	if n := fds(); n > open+5 {
		t.Errorf("%d files open after 100 requests for a blob, %d before", n, open)
	}
	metrics := func() string {
		_, b := m.do(t, m.std, "GET", "/metrics", auth)
		return string(b)
	}
	before := metrics()
	m.do(t, m.fast, "GET", tgz, auth)
	if after := metrics(); after == before {
		t.Error("a quick hit left /metrics as it was")
	}
	if n := m.npm.Count("GET", "/leftpad/-/leftpad-1.0.0.tgz"); n != 1 {
		t.Errorf("the upstream was asked for the tarball %d times, want 1", n)
	}
}

// Requests under way at once for one blob each get all of it, though they
// share its descriptor; a blob cut short on disk cuts the response short
// rather than sending wrong bytes or hanging.
func TestQuickHitsShareABlobAndCutOneShortOnDisk(t *testing.T) {
	if !defaultMemoryCache {
		t.Skip("memory_cache off: no blob is kept open, to share or to be cut short under it")
	}
	m := startMirror(t, nil)
	const big = "/npm/big/-/big-1.0.0.tgz"
	want, wantBody := m.do(t, m.std, "GET", big, nil)
	if want.StatusCode != 200 || len(wantBody) != 300_000 {
		t.Fatalf("the handler: %s, %d bytes", want.Status, len(wantBody))
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			resp, err := noProxy.Get(m.fast + big)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if got, err := io.ReadAll(resp.Body); err != nil || !bytes.Equal(got, wantBody) {
				t.Errorf("a request among 16: %d bytes, %v; want the tarball's %d", len(got), err, len(wantBody))
			}
		})
	}
	wg.Wait()

	var blob string
	filepath.WalkDir(filepath.Join(m.data, "blobs", "sha256"), func(p string, e fs.DirEntry, err error) error {
		if fi, _ := e.Info(); err == nil && !e.IsDir() && fi.Size() == int64(len(wantBody)) {
			blob = p
		}
		return nil
	})
	if blob == "" {
		t.Fatal("the tarball's blob is not in the data folder")
	}
	// Until its row is written, the download's bytes in memory answer for
	// the blob (a request then gets them whole, rightly): the cut must
	// meet the blob as served once that moment is over.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if row, err := m.app.store.DB.Artifact(t.Context(), "npm", strings.TrimPrefix(big, "/npm/")); err == nil && row.Cached() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tarball's row is not written 10 s after its download")
		}
	}
	if err := os.Truncate(blob, 1000); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: noProxy.Transport, Timeout: 10 * time.Second}
	if resp, err := client.Get(m.fast + big); err == nil { // else cut before the headers: as good
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil || len(got) >= len(wantBody) || !bytes.Equal(got, wantBody[:len(got)]) {
			t.Errorf("a blob cut short on disk: %d bytes, %v; want its first bytes and an error", len(got), err)
		}
	}
	// The cut is noticed: the next request opens the blob afresh rather
	// than promise the length it was first opened with.
	resp, err := client.Get(m.fast + big)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got, err := io.ReadAll(resp.Body); err != nil || int64(len(got)) != resp.ContentLength {
		t.Errorf("the request after the cut: %d bytes of the %d announced, %v", len(got), resp.ContentLength, err)
	}
}

func TestPlainPath(t *testing.T) {
	for uri, want := range map[string]bool{
		"/npm/a/-/a-1.0.0.tgz":         true,
		"/npm/@s%2fa/-/a-1.0.0.tgz":    true,
		"/pypi/files/p/p-1.0+x.whl":    true,
		"/npm/a?x=1":                   false,
		"/npm/a%zz":                    false,
		"/npm/a%2":                     false,
		"http://h/npm/a/-/a-1.0.0.tgz": false,
		"*":                            false,
		"/npm/\xc3\xa9":                false,
		"/npm/a\"b":                    false,
	} {
		if got := plainPath(uri); got != want {
			t.Errorf("plainPath(%q) = %v, want %v", uri, got, want)
		}
	}
}

// What plainPath lets through reaches a registry as the handler would see
// it: net/url parses it, and its escaped path is the very bytes.
func FuzzPlainPathIsWhatNetURLEscapes(f *testing.F) {
	for _, s := range []string{"/npm/a/-/a-1.0.0.tgz", "/npm/@s%2fa", "/npm/%41", "/p/a+b:c@d", "/%", "/a?b", "/é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		if !plainPath(uri) {
			return
		}
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			t.Fatalf("plainPath(%q) but net/url refuses it: %v", uri, err)
		}
		if u.EscapedPath() != uri || u.RawQuery != "" || u.Host != "" {
			t.Fatalf("plainPath(%q) but net/url makes it path %q, query %q, host %q", uri, u.EscapedPath(), u.RawQuery, u.Host)
		}
	})
}

// A fresh document is answered by the front too, with what the handler
// sends for the same request: negotiated variant or format, gzip, a 304
// for a matching ETag, PyPI's serial.
func TestQuickDocumentsAnswerAsTheHandlerWould(t *testing.T) {
	m := startMirror(t, nil)
	abbrev := "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
	pipAccept := "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
	type req struct {
		path, accept, encoding string
	}
	reqs := []req{
		{"/npm/leftpad", abbrev, ""},
		{"/npm/leftpad", abbrev, "gzip"},
		{"/npm/leftpad", "application/json", "gzip, deflate"},
		{"/npm/@scope%2futil", abbrev, ""},
		{"/npm/many", abbrev, "gzip"},
		{"/pypi/simple/tiny/", pipAccept, "gzip"},
		{"/pypi/simple/tiny/", "text/html", ""},
		{"/pypi/simple/tiny/", "", ""},
	}
	header := func(r req) http.Header {
		h := http.Header{}
		if r.accept != "" {
			h.Set("Accept", r.accept)
		}
		if r.encoding != "" {
			h.Set("Accept-Encoding", r.encoding)
		}
		return h
	}
	for _, r := range reqs { // fetched, fresh in memory, rendered for both hosts
		m.do(t, m.std, "GET", r.path, header(r))
		m.do(t, m.fast, "GET", r.path, header(r))
	}
	host := func(base string) []byte { return []byte(strings.TrimPrefix(base, "http://")) }
	for _, r := range reqs {
		for _, method := range []string{"GET", "HEAD"} {
			want, wantBody := m.do(t, m.std, method, r.path, header(r))
			handled := m.handled.Load()
			got, gotBody := m.do(t, m.fast, method, r.path, header(r))
			if m.handled.Load() != handled {
				t.Errorf("%s %s %+v: the front passed a fresh document to the handler", method, r.path, r)
			}
			if got.Header.Get("Content-Encoding") == "gzip" && method == "GET" {
				gotBody, wantBody = gunzip(t, gotBody), gunzip(t, wantBody)
			}
			if got.StatusCode != want.StatusCode || !bytes.Equal(gotBody, bytes.ReplaceAll(wantBody, host(m.std), host(m.fast))) {
				t.Errorf("%s %s %+v: %s, %d bytes; the handler: %s, %d bytes", method, r.path, r, got.Status, len(gotBody), want.Status, len(wantBody))
			}
			for _, k := range []string{"Content-Type", "Content-Encoding", "Cache-Control", "Vary", "X-Larder-Cache", "X-Pypi-Last-Serial", "Accept-Ranges"} {
				if got.Header.Get(k) != want.Header.Get(k) {
					t.Errorf("%s %s %+v: %s %q, the handler sends %q", method, r.path, r, k, got.Header.Get(k), want.Header.Get(k))
				}
			}
			if got.ContentLength != want.ContentLength && !strings.HasPrefix(r.path, "/npm/") {
				t.Errorf("%s %s %+v: Content-Length %d, the handler's %d", method, r.path, r, got.ContentLength, want.ContentLength)
			}
			// A client holding this version gets a 304 from the front.
			etag := got.Header.Get("Etag")
			h := header(r)
			h.Set("If-None-Match", etag)
			handled = m.handled.Load()
			nm, nmBody := m.do(t, m.fast, method, r.path, h)
			if nm.StatusCode != http.StatusNotModified || len(nmBody) != 0 || nm.Header.Get("Etag") != etag || m.handled.Load() != handled {
				t.Errorf("%s %s %+v with If-None-Match: %s, %d bytes, handled %v", method, r.path, r, nm.Status, len(nmBody), m.handled.Load() != handled)
			}
		}
	}
	// Not normalized: the handler redirects.
	handled := m.handled.Load()
	if resp, _ := m.do(t, m.fast, "GET", "/pypi/simple/Tiny/", nil); resp.StatusCode != http.StatusMovedPermanently || m.handled.Load() == handled {
		t.Errorf("a name not normalized: %s, handled %v", resp.Status, m.handled.Load() != handled)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
