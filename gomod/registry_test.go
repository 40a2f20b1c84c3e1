package gomod

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/larder-mirror/larder/gomod/gomodtest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// mirror is a go registry on a fresh data folder, reading from a fake.
type mirror struct {
	up  *registries.Upstream
	reg *Registry
	m   *registries.Mounted
}

func newEnv(t *testing.T) registries.Env {
	t.Helper()
	store, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.DiscardHandler)
	hits := registries.NewHitRecorder(store.DB, log, time.Hour)
	t.Cleanup(hits.Close)
	return registries.Env{Store: store, Metrics: registries.NewMetrics(prometheus.NewRegistry()),
		Renders: registries.NewRenderCache(0), Hits: hits, Log: log}
}

func newMirror(t *testing.T, env registries.Env, fake *gomodtest.Server, o Options, ro registries.Options) *mirror {
	t.Helper()
	ro.Name = "go"
	ro.Upstream, _ = url.Parse(fake.URL)
	ro.Verify = Kind.Verify
	if ro.MetadataTTL == 0 {
		ro.MetadataTTL = time.Hour
	}
	ro.ProbeInterval = 50 * time.Millisecond
	up := registries.NewUpstream(env, ro)
	t.Cleanup(up.Close)
	reg := New(up, "", o)
	return &mirror{up: up, reg: reg, m: registries.Mount(reg)}
}

func (m *mirror) do(method, path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://larder.test"+path, nil)
	w := httptest.NewRecorder()
	m.m.ServeHTTP(w, r)
	// What a client received is recorded just after (Upstream.Settle).
	m.up.Settle(context.Background())
	return w
}

func (m *mirror) get(path string) *httptest.ResponseRecorder { return m.do(http.MethodGet, path) }

func (m *mirror) row(t *testing.T, path string) storage.Artifact {
	t.Helper()
	a, err := m.up.Store().DB.Artifact(context.Background(), "go", strings.TrimPrefix(path, "/"))
	if err != nil {
		t.Fatalf("the row of %s: %v", path, err)
	}
	return a
}

func TestAVersionIsCheckedAgainstTheDatabaseAndItsHashesKept(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	v := fake.Publish("example.com/m", "v1.0.0", map[string]string{"m.go": "package m\n"})
	m := newMirror(t, newEnv(t), fake, testSumDB(t), registries.Options{})

	for path, want := range map[string][]byte{
		"/example.com/m/@v/v1.0.0.zip": v.Zip, "/example.com/m/@v/v1.0.0.mod": v.Mod, "/example.com/m/@v/v1.0.0.info": v.Info,
	} {
		w := m.get(path)
		if w.Code != http.StatusOK || w.Body.String() != string(want) {
			t.Fatalf("GET %s: %d %q", path, w.Code, w.Body.String())
		}
	}
	if got := m.row(t, "/example.com/m/@v/v1.0.0.zip").Integrity; got != v.H1Zip {
		t.Errorf("the zip is pinned to %q, want the database's %q", got, v.H1Zip)
	}
	if got := m.row(t, "/example.com/m/@v/v1.0.0.mod").Integrity; got != v.H1Mod {
		t.Errorf("the go.mod is pinned to %q, want the database's %q", got, v.H1Mod)
	}
	if n := fake.Count("GET", "/sumdb/"+gomodtest.DBName+"/lookup/example.com/m@v1.0.0"); n != 1 {
		t.Errorf("the database was asked %d times for the version's record, want once", n)
	}
}

func TestAVersionTheDatabaseDoesNotKnowIsANotFoundThatSaysWhy(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	fake.Publish("example.com/secret", "v1.0.0", nil)
	fake.Forget("example.com/secret", "v1.0.0")
	m := newMirror(t, newEnv(t), fake, testSumDB(t), registries.Options{})
	w := m.get("/example.com/secret/@v/v1.0.0.zip")
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no record") {
		t.Fatalf("GET a zip the database does not know: %d %q, want a 404 that says why", w.Code, w.Body.String())
	}
	m.nothingHeld(t, "/example.com/secret/@v/v1.0.0.zip")
}

// nothingHeld fails when larder holds the file at path: a file fetched
// ahead of its look-up is kept only once the look-up vouches for it.
func (m *mirror) nothingHeld(t *testing.T, path string) {
	t.Helper()
	a, err := m.up.Store().DB.Artifact(context.Background(), "go", strings.TrimPrefix(path, "/"))
	if err == nil && a.Cached() {
		t.Errorf("larder holds %s, which nothing vouched for", path)
	}
}

func TestAPrivateModuleSkipsTheDatabaseAndIsPinnedFirstSeen(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	body := []byte("not a zip, and nobody can tell")
	fake.PublishZip("corp.example.com/secret", "v1.0.0", body)
	o := testSumDB(t)
	o.Private = "*.example.com"
	m := newMirror(t, newEnv(t), fake, o, registries.Options{})
	path := "/corp.example.com/secret/@v/v1.0.0.zip"
	if w := m.get(path); w.Code != http.StatusOK || w.Body.String() != string(body) {
		t.Fatalf("GET a private zip: %d %q", w.Code, w.Body.String())
	}
	sum := sha256.Sum256(body)
	if got, want := m.row(t, path).Integrity, string(registries.SRIFromHex("sha256", hex.EncodeToString(sum[:]))); got != want {
		t.Errorf("pinned to %q, want the sha256 of the first bytes, %q", got, want)
	}
	if n := fake.Count("GET", "/sumdb/"+gomodtest.DBName+"/lookup/corp.example.com/secret@v1.0.0"); n != 0 {
		t.Errorf("the database was asked about a private module %d times", n)
	}

	refusing := newMirror(t, newEnv(t), fake, o, registries.Options{Unverifiable: registries.RefuseUnverifiable})
	if w := refusing.get(path); w.Code != http.StatusBadGateway {
		t.Errorf("GET a private zip with unverifiable = refuse: %d %q, want 502", w.Code, w.Body.String())
	}
}

func TestADatabaseSignedByAnotherKeyVouchesForNothing(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	fake.Publish("example.com/m", "v1.0.0", nil)
	_, otherKey, err := note.GenerateKey(rand.Reader, gomodtest.DBName)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := ParseSumDB(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	m := newMirror(t, newEnv(t), fake, Options{SumDB: cfg}, registries.Options{})
	if w := m.get("/example.com/m/@v/v1.0.0.zip"); w.Code != http.StatusBadGateway {
		t.Fatalf("GET a zip the database cannot vouch for: %d %q, want 502", w.Code, w.Body.String())
	}
	m.nothingHeld(t, "/example.com/m/@v/v1.0.0.zip")
	if w := m.get("/sumdb/" + gomodtest.DBName + "/latest"); w.Code != http.StatusBadGateway {
		t.Errorf("GET latest signed by another key: %d, want 502", w.Code)
	}
}

func TestTheChecksumDatabaseMirror(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	fake.Publish("example.com/m", "v1.0.0", nil)
	env := newEnv(t)
	m := newMirror(t, env, fake, testSumDB(t), registries.Options{})
	db := "/sumdb/" + gomodtest.DBName

	if w := m.get(db + "/supported"); w.Code != http.StatusOK {
		t.Errorf("GET supported: %d", w.Code)
	}
	if w := m.get("/sumdb/sum.golang.org/supported"); w.Code != http.StatusNotFound {
		t.Errorf("GET supported of another database: %d, want 404 (go then asks it directly)", w.Code)
	}
	off := newMirror(t, newEnv(t), fake, Options{Off: true}, registries.Options{})
	if w := off.get(db + "/supported"); w.Code != http.StatusNotFound {
		t.Errorf("GET supported with sumdb off: %d, want 404", w.Code)
	}
	// Look the version up, as go does: the record, then the tiles it needs.
	if w := m.get(db + "/lookup/example.com/m@v1.0.0"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "example.com/m v1.0.0 h1:") {
		t.Fatalf("GET lookup: %d %q", w.Code, w.Body.String())
	}
	// A tile of width 1 (one record) is partial; at full width it never changes.
	partial := db + "/tile/8/0/000.p/1"
	if w := m.get(partial); w.Code != http.StatusOK || w.Body.Len() != 32 {
		t.Fatalf("GET %s: %d, %d bytes", partial, w.Code, w.Body.Len())
	}
	for i := 2; i <= 256; i++ {
		fake.Publish("example.com/m", "v1.0."+strconv.Itoa(i), nil)
		if w := m.get(db + "/lookup/example.com/m@v1.0." + strconv.Itoa(i)); w.Code != http.StatusOK {
			t.Fatalf("GET lookup of v1.0.%d: %d %q", i, w.Code, w.Body.String())
		}
	}
	full := db + "/tile/8/0/000"
	if w := m.get(full); w.Code != http.StatusOK || w.Body.Len() != 256*32 {
		t.Fatalf("GET %s: %d, %d bytes", full, w.Code, w.Body.Len())
	}
	// Through a registry that finds every document stale: the full tile
	// is not asked again, the partial one and latest are.
	stale := newMirror(t, env, fake, testSumDB(t), registries.Options{MetadataTTL: time.Nanosecond})
	for _, p := range []string{full, partial, db + "/latest"} {
		before := fake.Count("GET", p)
		if w := stale.get(p); w.Code != http.StatusOK {
			t.Fatalf("GET %s once stale: %d", p, w.Code)
		}
		asked := fake.Count("GET", p) - before
		if p == full && asked != 0 {
			t.Errorf("a full tile held was asked for again")
		}
		if p != full && asked != 1 {
			t.Errorf("GET %s once stale asked the upstream %d times, want once", p, asked)
		}
	}
}

func TestNothingLarderWillNotServeIsA5xx(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	m := newMirror(t, newEnv(t), fake, testSumDB(t), registries.Options{})
	for _, p := range []string{"/nodot/@v/list", "/example.com/M/@v/list", "/example.com/m/@v/v1.zip", "/x", "/sumdb/" + gomodtest.DBName + "/tile/x",
		"/example.com/nosuch/@v/list", "/example.com/nosuch/@v/v1.0.0.zip", "/example.com/nosuch/@latest"} {
		w := m.get(p)
		if w.Code != http.StatusNotFound || !strings.HasPrefix(w.Body.String(), "not found") {
			t.Errorf("GET %s: %d %q, want a 404 that says why", p, w.Code, w.Body.String())
		}
	}
	if w := m.do(http.MethodPost, "/example.com/m/@v/list"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", w.Code)
	}
}

func TestFiftyConcurrentRequestsForAColdZipMakeOneUpstreamFetch(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	// Over a megabyte that does not compress: streamed to the clients as
	// it arrives, the last byte held back until the hash is checked.
	big := make([]byte, 2<<20)
	mrand.NewChaCha8([32]byte{7}).Read(big)
	v := fake.Publish("example.com/m", "v1.0.0", map[string]string{"big.bin": string(big)})
	// The look-up runs while the zip streams to the 50: on a loaded
	// machine (the race detector, other tests) its answers may take a
	// while, which is not what this test is about.
	m := newMirror(t, newEnv(t), fake, testSumDB(t), registries.Options{ResponseTimeout: time.Minute})
	path := "/example.com/m/@v/v1.0.0.zip"
	var wg sync.WaitGroup
	codes := make([]int, 50)
	bodies := make([][]byte, 50)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := m.get(path)
			codes[i], bodies[i] = w.Code, w.Body.Bytes()
		}()
	}
	wg.Wait()
	for i := range codes {
		if codes[i] != http.StatusOK || !bytes.Equal(bodies[i], v.Zip) {
			t.Fatalf("request %d: %d, %d bytes (want %d)", i, codes[i], len(bodies[i]), len(v.Zip))
		}
	}
	if n := fake.Count("GET", path); n != 1 {
		t.Errorf("50 concurrent requests for a cold zip made %d upstream fetches, want 1", n)
	}
	if n := fake.Count("GET", "/sumdb/"+gomodtest.DBName+"/lookup/example.com/m@v1.0.0"); n != 1 {
		t.Errorf("and %d look-ups of its record, want 1", n)
	}
}

// A cold zip is asked of the upstream while its record is being looked up,
// not after: the upstream below answers no look-up until the zip was asked
// for (or 10 s have passed, and the test fails).
func TestAColdZipIsFetchedAtTheSameTimeAsItsLookUp(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	v := fake.Publish("example.com/m", "v1.0.0", map[string]string{"m.go": "package m\n"})
	target, _ := url.Parse(fake.URL)
	zipAsked := make(chan struct{})
	var once sync.Once
	var lookUpWaited atomic.Bool
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, ".zip"):
			once.Do(func() { close(zipAsked) })
		case strings.Contains(r.URL.Path, "/lookup/"):
			select {
			case <-zipAsked:
				lookUpWaited.Store(true)
			case <-time.After(10 * time.Second):
			}
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer relay.Close()
	m := newMirror(t, newEnv(t), &gomodtest.Server{URL: relay.URL + "/"}, testSumDB(t), registries.Options{})
	if w := m.get("/example.com/m/@v/v1.0.0.zip"); w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), v.Zip) {
		t.Fatalf("GET the zip: %d, %d bytes", w.Code, w.Body.Len())
	}
	if !lookUpWaited.Load() {
		t.Errorf("the record was looked up before the zip was asked for: the zip waited for it")
	}
	if got := m.row(t, "/example.com/m/@v/v1.0.0.zip").Integrity; got != v.H1Zip {
		t.Errorf("the zip fetched ahead is pinned to %q, want the database's %q", got, v.H1Zip)
	}
}

func TestAnExcludedModuleIsANotFoundThatNeverLeavesTheSite(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	fake.Publish("corp.example.com/secret", "v1.0.0", nil)
	o := testSumDB(t)
	o.Exclude = "corp.example.com"
	m := newMirror(t, newEnv(t), fake, o, registries.Options{})
	for _, p := range []string{
		"/corp.example.com/secret/@v/list", "/corp.example.com/secret/@latest", "/corp.example.com/secret/@v/v1.0.0.info",
		"/corp.example.com/secret/@v/v1.0.0.zip", "/corp.example.com/secret/@v/master.info",
		"/sumdb/" + gomodtest.DBName + "/lookup/corp.example.com/secret@v1.0.0",
	} {
		if w := m.get(p); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "excluded") {
			t.Errorf("GET %s: %d %q, want a 404 that says it is excluded", p, w.Code, w.Body.String())
		}
		if n := fake.Count("GET", p); n != 0 {
			t.Errorf("GET %s was passed upstream %d times", p, n)
		}
	}
	if w := m.get("/example.com/other/@v/list"); w.Code == http.StatusNotFound && strings.Contains(w.Body.String(), "excluded") {
		t.Errorf("a module no pattern matches is excluded: %q", w.Body.String())
	}
}

// A partial tile of an older tree, which larder never fetched, is the
// prefix of the wider one it holds at the same place: larder answers it
// from that one, offline too (the go command proves a record in the tree
// it came with, which may be older than the one larder proved it in).
func TestAPartialTileNotHeldIsCutFromAWiderOneHeld(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	publishAndRecord(t, fake, "a", "b", "c")
	want := map[string][]byte{}
	for _, w := range []string{"1", "2"} {
		resp, err := http.Get(fake.SumDBURL() + "tile/8/0/000.p/" + w)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("the fake's tile .p/%s: %v", w, err)
		}
		want[w], _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	env := newEnv(t)
	m := newMirror(t, env, fake, testSumDB(t), registries.Options{})
	if w := m.get("/example.com/c/@v/v1.0.0.zip"); w.Code != 200 {
		t.Fatalf("GET c's zip: %d %s", w.Code, w.Body)
	}
	offline := newMirror(t, env, fake, testSumDB(t), registries.Options{Offline: true})
	for w, body := range want {
		path := "/sumdb/" + gomodtest.DBName + "/tile/8/0/000.p/" + w
		if got := offline.get(path); got.Code != 200 || !bytes.Equal(got.Body.Bytes(), body) {
			t.Errorf("offline GET %s: %d, %d bytes; want the fake's %d", path, got.Code, got.Body.Len(), len(body))
		}
	}
	if n := fake.Count("GET", "/sumdb/"+gomodtest.DBName+"/tile/8/0/000.p/1"); n != 1 {
		t.Errorf("the fake was asked for .p/1 %d times, want only the test's once", n)
	}
}

// A data tile holds the records themselves, of varying length: a narrower
// one is no prefix of a wider one cut at W hashes, so larder never answers
// it from a wider one held.
func TestANarrowerDataTileIsNotCutFromAWiderOne(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	publishAndRecord(t, fake, "a", "b", "c")
	resp, err := http.Get(fake.SumDBURL() + "tile/8/data/000.p/1")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the fake's data tile .p/1: %v", err)
	}
	want, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := newMirror(t, newEnv(t), fake, testSumDB(t), registries.Options{})
	if w := m.get("/example.com/c/@v/v1.0.0.zip"); w.Code != 200 {
		t.Fatalf("GET c's zip: %d %s", w.Code, w.Body)
	}
	db := "/sumdb/" + gomodtest.DBName
	if w := m.get(db + "/tile/8/data/000.p/3"); w.Code != 200 {
		t.Fatalf("GET the data tile .p/3: %d %s", w.Code, w.Body)
	}
	if got := m.get(db + "/tile/8/data/000.p/1"); got.Code != 200 || !bytes.Equal(got.Body.Bytes(), want) {
		t.Errorf("GET the data tile .p/1 with .p/3 held: %d %q; want the fake's %q", got.Code, got.Body.Bytes(), want)
	}
}

// publishAndRecord publishes example.com/NAME v1.0.0 for each name and
// looks it up at the fake's checksum database, which records it then: the
// tree grows by one each.
func publishAndRecord(t *testing.T, fake *gomodtest.Server, names ...string) {
	t.Helper()
	for _, m := range names {
		fake.Publish("example.com/"+m, "v1.0.0", nil)
		resp, err := http.Get(fake.SumDBURL() + "lookup/example.com/" + m + "@v1.0.0")
		if err != nil {
			t.Fatalf("lookup %s at the fake: %v", m, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("lookup %s at the fake: %d", m, resp.StatusCode)
		}
	}
}
