package registries

import (
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/larder-mirror/larder/storage"
)

// testRegistry is the mount name every test upstream uses.
const testRegistry = "test"

// testEnv is one larder's shared state on a fresh data folder.
type testEnv struct {
	Env
	reg *prometheus.Registry
	dir string // the data folder
}

// newTestEnv is newTestEnvMemory with the memory cache on, unless
// LARDER_TEST_MEMORY_CACHE=off runs every test as memory_cache = false.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvMemory(t, os.Getenv("LARDER_TEST_MEMORY_CACHE") != "off")
}

// newTestEnvMemory is a fresh env with the in-memory layers on or off
// (memory_cache).
func newTestEnvMemory(t *testing.T, memory bool) *testEnv {
	t.Helper()
	dir := t.TempDir()
	store, err := storage.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	store.SetMemoryCache(memory)
	t.Cleanup(func() { store.DB.Close() })
	log := slog.New(slog.DiscardHandler)
	hits := NewHitRecorder(store.DB, log, time.Hour)
	t.Cleanup(hits.Close)
	reg := prometheus.NewRegistry()
	return &testEnv{
		Env: Env{Store: store, Metrics: NewMetrics(reg), Renders: NewRenderCache(0), Hits: hits, Log: log, NoMemoryCache: !memory},
		reg: reg,
		dir: dir,
	}
}

// upstream links env to base with test-sized time-outs; fields set in opts
// win. Its fills are waited for, and its probe stopped, when the test ends.
func (e *testEnv) upstream(t *testing.T, base string, opts Options) *Upstream {
	t.Helper()
	if opts.Name == "" {
		opts.Name = testRegistry
	}
	if opts.Upstream == nil {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		opts.Upstream = u
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.ConnectTimeout, 5*time.Second)
	def(&opts.ResponseTimeout, 10*time.Second)
	def(&opts.IdleTimeout, 20*time.Second)
	// A healthy upstream is always waited for, however loaded the machine;
	// the tests of StaleWait set it short.
	def(&opts.StaleWait, 30*time.Second)
	def(&opts.ProbeInterval, 50*time.Millisecond)
	def(&opts.MetadataTTL, time.Hour)
	u := NewUpstream(e.Env, opts)
	t.Cleanup(func() {
		u.Close()
		waitFillsDone(t, u)
	})
	return u
}

// waitFillsDone waits until no artifact download is in progress.
func waitFillsDone(t *testing.T, u *Upstream) {
	t.Helper()
	eventually(t, "artifact downloads finish", func() bool {
		u.fills.mu.Lock()
		defer u.fills.mu.Unlock()
		return len(u.fills.m) == 0
	})
}

// waitDocFlight waits for the document fetch in flight for key and variant,
// if there is one: Do joins a flight in progress.
func waitDocFlight(u *Upstream, key, variant string) {
	u.docs.Do(key+"\x00"+variant, func() (any, error) { return nil, nil })
}

// patience bounds every wait in these tests: generous, so that a loaded
// machine does not fail them, yet far below the time-outs that some tests
// prove are not waited for.
const patience = 30 * time.Second

// eventually polls cond until it holds, failing the test after patience.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// within runs fn and fails the test if it does not return within patience.
func within[T any](t *testing.T, what string, fn func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- fn() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(patience):
		t.Fatalf("%s did not complete within %s", what, patience)
		panic("unreachable")
	}
}

// metricValue reads one series of a counter or gauge; -1 when it is absent.
func (e *testEnv) metricValue(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// assertNothingStored fails if any blob, committed or in progress, exists.
func (e *testEnv) assertNothingStored(t *testing.T) {
	t.Helper()
	// Bytes kept in the database (storage.MaxInlineArtifact) are written
	// with their artifact's row, in its transaction: no row, no bytes.
	var blobs []storage.Digest
	if err := e.Store.Blobs.Walk(context.Background(), func(d storage.Digest, _ int64) error {
		blobs = append(blobs, d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 0 {
		t.Errorf("blob store holds %v, want nothing", blobs)
	}
	tmp, err := os.ReadDir(filepath.Join(e.Store.Dir, "blobs", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tmp) != 0 {
		t.Errorf("blobs/tmp holds %d files, want none", len(tmp))
	}
}

// fakeUpstream is an upstream registry on 127.0.0.1 whose answers a test
// sets per path. Paths without a handler answer 404, which a health probe
// takes as "reachable".
type fakeUpstream struct {
	t   *testing.T
	srv *httptest.Server
	// release unblocks hanging handlers; closed by releaseAll, at the
	// latest when the test ends, before the server is closed, so that Close
	// never waits on them.
	release     chan struct{}
	releaseOnce sync.Once

	mu       sync.Mutex
	handlers map[string]http.Handler
	counts   map[string]int
	headers  map[string][]http.Header
}

func newFakeUpstream(t *testing.T) *fakeUpstream {
	f := &fakeUpstream{
		t: t, release: make(chan struct{}),
		handlers: map[string]http.Handler{}, counts: map[string]int{}, headers: map[string][]http.Header{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.counts[r.URL.Path]++
		f.headers[r.URL.Path] = append(f.headers[r.URL.Path], r.Header.Clone())
		h := f.handlers[r.URL.Path]
		f.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	t.Cleanup(f.releaseAll) // runs before f.srv.Close
	return f
}

// releaseAll unblocks every hanging handler, now and from now on.
func (f *fakeUpstream) releaseAll() { f.releaseOnce.Do(func() { close(f.release) }) }

// URL is the absolute URL of path on the fake ("/pkg" → "http://127.0.0.1:…/pkg").
func (f *fakeUpstream) URL(path string) string { return f.srv.URL + path }

func (f *fakeUpstream) handle(path string, h http.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[path] = h
}

// count is how many requests path received.
func (f *fakeUpstream) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[path]
}

// lastHeader is the header of the latest request to path.
func (f *fakeUpstream) lastHeader(path string) http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	hs := f.headers[path]
	if len(hs) == 0 {
		f.t.Fatalf("no request reached %s", path)
	}
	return hs[len(hs)-1]
}

// docHandler serves body with an ETag and a Last-Modified, answering a
// matching If-None-Match with 304.
func docHandler(body, etag, lastModified string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastModified)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	})
}

// bytesHandler serves b with its Content-Length.
func bytesHandler(b []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
	})
}

func statusHandler(status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, http.StatusText(status), status)
	})
}

// hangHandler never answers. When the client gives up or the test ends it
// drops the connection, so that nothing it does could count as an answer.
func (f *fakeUpstream) hangHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
		panic(http.ErrAbortHandler)
	})
}

// truncatedHandler promises all of b in Content-Length, sends the first
// half and hangs up.
func truncatedHandler(b []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(b))
		buf.Write(b[:len(b)/2])
		buf.Flush()
	})
}

// stallingHandler sends the first half of b, then nothing until the client
// gives up (or the test ends).
func (f *fakeUpstream) stallingHandler(b []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
		panic(http.ErrAbortHandler)
	})
}

// refusedURL is the address of a listener that has been closed: connecting
// to it is refused at once.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/"
}

// integrityOf declares b the way npm does: sha512 and sha1.
func integrityOf(b []byte) string {
	s512 := sha512.Sum512(b)
	s1 := sha1.Sum(b)
	return string(SRIFromHex("sha512", hex.EncodeToString(s512[:])).Join(SRIFromHex("sha1", hex.EncodeToString(s1[:]))))
}

// counter counts calls and is safe for concurrent use.
type counter struct{ n atomic.Int64 }

func (c *counter) inc() int64 { return c.n.Add(1) }
func (c *counter) get() int64 { return c.n.Load() }

// allowedHeaders fails if h carries any header outside allowed.
func allowedHeaders(t *testing.T, h http.Header, allowed ...string) {
	t.Helper()
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[http.CanonicalHeaderKey(a)] = true
	}
	for k := range h {
		if !ok[k] {
			t.Errorf("upstream received header %s: %q", k, h.Values(k))
		}
	}
}

// storageTmp lists what is in blobs/tmp: writes in progress or left behind.
func storageTmp(e *testEnv) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(e.Store.Dir, "blobs", "tmp"))
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names, err
}

// fakeClock is an Options.Now that moves only when told: TTL tests advance
// it instead of sleeping. It starts at the real time, whole milliseconds
// (as rows keep times).
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now().Truncate(time.Millisecond)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
