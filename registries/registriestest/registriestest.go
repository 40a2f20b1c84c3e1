// Package registriestest is the conformance suite every ecosystem passes,
// as storage/storagetest is for blob stores. It checks what registries
// promises whatever the ecosystem: the cache statuses of documents and
// artifacts, the offline view, verification, single-flight, first-seen
// pinning, the 404-or-502 rule of DESIGN.md's cache policy, and that the
// front's quick path answers exactly as the net/http handler does.
//
// An ecosystem's whole test is one call, with an adapter over its fake
// upstream:
//
//	func TestConformance(t *testing.T) {
//		registriestest.Run(t, conformance{})
//	}
//
// Each subtest has its own data folder (a real storage.Store in
// t.TempDir()) and its own fake upstream on 127.0.0.1, and runs in
// parallel with the others. Nothing sleeps for a verdict: waits are for
// an observable state (the fake saw a request, the upstream is down),
// bounded generously.
//
// The suite keeps time without a clock in registries.Options: a document
// that must be fresh is read through a registry whose MetadataTTL is an
// hour, and one that must be stale through a second registry over the
// same data folder whose MetadataTTL is a nanosecond, as a second larder
// node over one database would see it.
package registriestest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
	"github.com/larder-mirror/larder/storage"
)

// Ecosystem is what the suite needs of one ecosystem: its constructor, its
// clients' ways of asking, and its fake upstream.
type Ecosystem interface {
	// New builds the ecosystem's registry on up, as cmd/larder's table of
	// kinds does.
	New(up *registries.Upstream) registries.Registry
	// NewFake starts the ecosystem's fake upstream on 127.0.0.1, with
	// nothing published; it must be closed when t ends (t.Cleanup).
	NewFake(t *testing.T) Fake
	// Documents are the request paths, below the mount, of the documents
	// of package name: its main document first (npm's packument, PyPI's
	// project page), then any other (a version document, a legacy JSON
	// document).
	Documents(name string) []string
	// Artifact is the request path, below the mount, of the artifact the
	// fake publishes for name at version.
	Artifact(name, version string) string
	// Accepts are the Accept headers the ecosystem's clients send for
	// documents, each giving a variant or a representation; "" (no
	// header) among them.
	Accepts() []string
	// Listed reads a document as a client does: the links (absolute URLs,
	// absolute paths, or paths relative to the document's URL, as a Go
	// module list's versions name files beside it) to every artifact it
	// offers for download, metadata files included.
	Listed(t *testing.T, body []byte, contentType string) []string
}

// Skipper is implemented by an ecosystem for which a subtest does not
// apply (a Go module zip must be a zip its checksum database vouches for,
// so the suite's arbitrary bytes cannot be published as one). Skip returns
// why the subtest named (the suite's sentence, "/" and a nested subtest's
// name: "…/large") does not apply, "" when it does.
type Skipper interface {
	Skip(subtest string) string
}

// skipUnlessApplies skips the subtest named when eco says it does not
// apply, with its reason.
func skipUnlessApplies(t *testing.T, eco Ecosystem, name string) {
	t.Helper()
	if s, ok := eco.(Skipper); ok {
		if why := s.Skip(name); why != "" {
			t.Skip(why)
		}
	}
}

// Fake is one fake upstream of an ecosystem.
type Fake interface {
	// Point sets opts.Upstream, and opts.AlsoFrom when the fake serves
	// artifacts from other hosts, to the fake.
	Point(opts *registries.Options)
	// Publish publishes version of package name, with one artifact whose
	// digest its documents declare, and returns the artifact's bytes.
	// Package names are lower-case ASCII letters and "-"; versions are
	// "major.minor.patch".
	Publish(name, version string) []byte
	// PublishBytes is Publish with body as the artifact's bytes, which
	// need not be a valid archive (the suite uses it for artifacts too
	// large to keep in memory, or to send before they are verified).
	PublishBytes(name, version string, body []byte)
	// PublishUndeclared is Publish with documents that declare no digest
	// at all for the artifact; false when the fake cannot publish that.
	PublishUndeclared(name, version string) ([]byte, bool)
	// SetFault switches the fake to a fault mode.
	SetFault(m faults.Mode)
	// Fetches counts the GET requests the fake has received for what path
	// names: a request path below the mount, as Documents and Artifact
	// give (the fake maps it to its own: its file host's, say). Requests
	// still unanswered (faults.Hang) are counted.
	Fetches(path string) int
}

// Run runs the conformance suite against eco.
func Run(t *testing.T, eco Ecosystem) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, eco Ecosystem)
	}{
		{"a document is a MISS, then a HIT, once stale REVALIDATED or a MISS when changed, and STALE when the upstream fails", testDocumentStatuses},
		{"an artifact is a MISS, then a HIT, with the upstream's bytes, asked for before its document or after", testArtifactStatuses},
		{NewerThanTheDocument, testNewerThanTheDocument},
		{"offline, documents list only held artifacts and every one listed installs", testOfflineView},
		{"with the upstream down, documents list only held artifacts and every one listed installs", testDownView},
		{IntegrityMismatch, testIntegrityMismatch},
		{Truncated, testTruncated},
		{"concurrent first requests for an artifact make one upstream request", testSingleFlight},
		{"an artifact whose document declares no digest is pinned to the sha256 of its first bytes", testFirstSeenPinning},
		{"an unknown package is a 404, and the upstream's failure a 502 first, then a 404 that says it is unreachable", testNotFoundVersusUnreachable},
		{"the quick path answers exactly as the handler", testQuickMatchesHandler},
		{ReleaseAge, testReleaseAge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			skipUnlessApplies(t, eco, tt.name)
			tt.test(t, eco)
		})
	}
}

// The names of the subtests with nested ones, for Skipper.
const (
	IntegrityMismatch = "an artifact whose bytes do not match its digest stores nothing and is never a clean 200"
	Truncated         = "an artifact cut short stores nothing and is never a clean 200"
	// NewerThanTheDocument: a lockfile written elsewhere names a release
	// published after larder fetched the document, which is still fresh.
	NewerThanTheDocument = "an artifact of a release newer than a document within its TTL is fetched, the document revalidated once for it"
)

// mountName is the name every registry of the suite is mounted under.
const mountName = "conform"

// host is the Host of every request the suite sends.
const host = "larder.test"

// patience bounds every wait for a state the suite observes.
const patience = 10 * time.Second

// NewEnv is one larder's shared state on a fresh data folder, as
// cmd/larder sets it up: for an ecosystem's own tests too.
func NewEnv(t testing.TB) registries.Env {
	t.Helper()
	return NewEnvIn(t, t.TempDir())
}

// NewEnvIn is NewEnv on the data folder dir, for a test that reaches its
// database too.
func NewEnvIn(t testing.TB, dir string) registries.Env {
	t.Helper()
	store, err := storage.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.DiscardHandler)
	hits := registries.NewHitRecorder(store.DB, log, time.Hour)
	t.Cleanup(hits.Close)
	return registries.Env{
		Store:   store,
		Metrics: registries.NewMetrics(prometheus.NewRegistry()),
		Renders: registries.NewRenderCache(0),
		Hits:    hits,
		Log:     log,
	}
}

// AwaitRelease waits until up has recorded release of pkg, failing t after
// 10 s: a record written behind an answer (Upstream.RecordAndAllow).
func AwaitRelease(t testing.TB, up *registries.Upstream, pkg, release string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		rels, err := up.Releases(context.Background(), pkg)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rels[release]; ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s is not recorded after 10 s (recorded: %v)", pkg, release, rels)
		}
	}
}

// AnswerWithin serves a GET of url through h on a goroutine of its own and
// returns the answer, failing t when none comes within 10 s: for a request
// that must be answered while something it need not wait for (the
// database's writes, say) is held.
func AnswerWithin(t testing.TB, h http.Handler, url string) *httptest.ResponseRecorder {
	t.Helper()
	answered := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, url, nil))
		answered <- w
	}()
	select {
	case w := <-answered:
		return w
	case <-time.After(10 * time.Second):
		t.Fatalf("GET %s was not answered within 10 s", url)
		return nil
	}
}

// mirror is one mounted registry of the ecosystem under test.
type mirror struct {
	up  *registries.Upstream
	reg registries.Registry
	m   *registries.Mounted
}

// newMirror mounts the ecosystem on env, reading from fake; the fields
// set in opts win over the suite's defaults (documents fresh for an hour,
// time-outs of seconds, a probe every 50 ms).
func newMirror(t *testing.T, eco Ecosystem, fake Fake, env registries.Env, opts registries.Options) *mirror {
	t.Helper()
	opts.Name = mountName
	fake.Point(&opts)
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.MetadataTTL, time.Hour)
	def(&opts.ConnectTimeout, 2*time.Second)
	def(&opts.ResponseTimeout, 5*time.Second)
	def(&opts.IdleTimeout, 5*time.Second)
	def(&opts.StaleWait, 5*time.Second)
	def(&opts.ProbeInterval, 50*time.Millisecond)
	up := registries.NewUpstream(env, opts)
	t.Cleanup(up.Close)
	reg := eco.New(up)
	return &mirror{up: up, reg: reg, m: registries.Mount(reg)}
}

// stale is a TTL under which every document is stale at once.
const stale = time.Nanosecond

// response is what a client is told.
type response struct {
	status int
	header http.Header
	body   []byte
	// aborted: the handler cut the connection (http.ErrAbortHandler),
	// the only signal left once a 200 is on its way.
	aborted bool
}

func (r response) cache() string { return r.header.Get("X-Larder-Cache") }

func (r response) String() string {
	s := strconv.Itoa(r.status) + " " + r.cache()
	if r.aborted {
		s += " (cut off)"
	}
	body := r.body
	if len(body) > 200 {
		body = body[:200]
	}
	return s + ": " + string(body)
}

// request is one request of a client, below the mount.
type request struct {
	method, path                  string
	accept, encoding, ifNoneMatch string
}

func (q request) String() string {
	s := q.method + " " + q.path
	if q.accept != "" {
		s += " Accept: " + q.accept
	}
	if q.encoding != "" {
		s += " Accept-Encoding: " + q.encoding
	}
	if q.ifNoneMatch != "" {
		s += " If-None-Match: " + q.ifNoneMatch
	}
	return s
}

// serve answers q through the net/http handler.
func (m *mirror) serve(q request) (resp response) {
	r := httptest.NewRequest(q.method, "http://"+host+q.path, nil)
	for k, v := range map[string]string{"Accept": q.accept, "Accept-Encoding": q.encoding, "If-None-Match": q.ifNoneMatch} {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			resp.aborted = true
		}
		res := rec.Result()
		resp.status, resp.header, resp.body = res.StatusCode, res.Header, rec.Body.Bytes()
	}()
	// A client may have all of an artifact while larder still records it
	// (Upstream.Settle); the suite's next look at what is held follows
	// that commit, as any later client's does within milliseconds.
	defer m.up.Settle(context.Background())
	m.m.ServeHTTP(rec, r)
	return response{}
}

func (m *mirror) get(path string, accept ...string) response {
	q := request{method: http.MethodGet, path: path}
	if len(accept) > 0 {
		q.accept = accept[0]
	}
	return m.serve(q)
}

// quick answers q through the front's quick path, as the front sends it:
// the length but no body for HEAD, nothing but headers for a 304.
func (m *mirror) quick(t *testing.T, q request) (response, bool) {
	t.Helper()
	head := q.method == http.MethodHead
	hit, ok := m.m.Quick(registries.Request{
		Path: q.path, Head: head, Host: host,
		Accept: q.accept, Encoding: q.encoding, IfNoneMatch: q.ifNoneMatch,
	})
	if !ok {
		return response{}, false
	}
	resp := response{status: hit.Status(), header: http.Header{}}
	hit.EachHeader(func(k, v string) { resp.header.Set(k, v) })
	if !hit.NotModified {
		resp.header.Set("Content-Length", strconv.FormatInt(hit.Size, 10))
	}
	body := hit.Body
	if hit.File != nil {
		body = make([]byte, hit.Size)
		// The front sends it to a connection; the suite reads it from the
		// other end of one.
		client, server := net.Pipe()
		go func() {
			hit.File.SendTo(server, 0, hit.Size)
			server.Close()
		}()
		if _, err := io.ReadFull(client, body); err != nil {
			t.Errorf("%s: reading the quick path's blob: %v", q, err)
		}
		client.Close()
		hit.File.Release()
	}
	if !head && !hit.NotModified {
		resp.body = body
	}
	return resp, true
}

// want200 fails unless r is a whole 200 whose body is body (nil: any).
func want200(t *testing.T, what string, r response, body []byte) {
	t.Helper()
	if r.status != http.StatusOK || r.aborted {
		t.Fatalf("%s: %s, want 200", what, r)
	}
	if body != nil && !bytes.Equal(r.body, body) {
		t.Fatalf("%s: a 200 with %d bytes that are not the upstream's %d", what, len(r.body), len(body))
	}
}

func wantCache(t *testing.T, what string, r response, statuses ...registries.CacheStatus) {
	t.Helper()
	for _, s := range statuses {
		if r.cache() == string(s) {
			return
		}
	}
	t.Fatalf("%s: X-Larder-Cache %q, want %v", what, r.cache(), statuses)
}

// listed is the request paths below the mount of the artifacts the
// document at doc (a request path below the mount) offers, read by the
// ecosystem's client.
func listed(t *testing.T, eco Ecosystem, doc string, r response) []string {
	t.Helper()
	base, _ := url.Parse("http://" + host + "/" + mountName + doc)
	var paths []string
	for _, link := range eco.Listed(t, r.body, r.header.Get("Content-Type")) {
		u, err := base.Parse(link)
		if err != nil {
			t.Fatalf("the document lists %q, which is not a URL: %v", link, err)
		}
		p, ok := strings.CutPrefix(u.EscapedPath(), "/"+mountName+"/")
		if u.Host != host || !ok {
			t.Fatalf("the document lists %q, which is not larder's (%s)", link, base)
		}
		paths = append(paths, "/"+p)
	}
	slices.Sort(paths)
	return paths
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// artifactRow is the row of the artifact at a request path.
func artifactRow(t *testing.T, m *mirror, path string) (storage.Artifact, error) {
	t.Helper()
	target, err := m.reg.Resolve(registries.Request{Path: path, Host: host})
	if err != nil || target.Artifact == nil {
		t.Fatalf("%s does not resolve to an artifact: %+v, %v", path, target, err)
	}
	return m.up.Store().DB.Artifact(context.Background(), mountName, target.Artifact.Path)
}

// orphanBlobs removes the blobs that no row points at, however young,
// and counts them.
func orphanBlobs(t *testing.T, m *mirror) int {
	t.Helper()
	rep, err := m.up.Store().GC(context.Background(), storage.GCOptions{Now: time.Now().Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Orphans
}

// waitFor polls cond until it holds, failing after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitDown(t *testing.T, m *mirror) {
	t.Helper()
	waitFor(t, "the upstream is down", func() bool {
		return m.up.Health().State().Status == registries.StatusDown
	})
}

func testDocumentStatuses(t *testing.T, eco Ecosystem) {
	fake := eco.NewFake(t)
	const name = "conform-docs"
	first := fake.Publish(name, "1.0.0")
	fake.Publish(name, "1.1.0")
	doc := eco.Documents(name)[0]
	art := eco.Artifact(name, "1.0.0")
	env := NewEnv(t)
	fresh := newMirror(t, eco, fake, env, registries.Options{})

	for i, accept := range eco.Accepts() {
		r := fresh.get(doc, accept)
		want200(t, "GET "+doc+" Accept: "+accept, r, nil)
		if i == 0 {
			wantCache(t, "the first GET "+doc, r, registries.Miss)
		} else {
			// Another representation of a document held may be a HIT.
			wantCache(t, "the first GET "+doc+" Accept: "+accept, r, registries.Miss, registries.Hit)
		}
		if got, want := listed(t, eco, doc, r), sorted(art, eco.Artifact(name, "1.1.0")); !hasAll(got, want) {
			t.Fatalf("GET %s Accept: %s lists %v, want %v among them", doc, accept, got, want)
		}
		r = fresh.get(doc, accept)
		want200(t, "GET "+doc+" again", r, nil)
		wantCache(t, "GET "+doc+" again, Accept: "+accept, r, registries.Hit)
	}
	r := fresh.get(art)
	want200(t, "GET "+art, r, first)

	// The same data folder through a registry that finds every document stale.
	later := newMirror(t, eco, fake, env, registries.Options{MetadataTTL: stale})
	for _, accept := range eco.Accepts() {
		r := later.get(doc, accept)
		want200(t, "GET "+doc+" once stale, Accept: "+accept, r, nil)
		wantCache(t, "GET "+doc+" once stale and unchanged upstream, Accept: "+accept, r, registries.Revalidated)
	}

	fake.Publish(name, "1.2.0")
	newer := eco.Artifact(name, "1.2.0")
	for i, accept := range eco.Accepts() {
		r := later.get(doc, accept)
		want200(t, "GET "+doc+" once changed upstream, Accept: "+accept, r, nil)
		if i == 0 {
			wantCache(t, "GET "+doc+" once changed upstream", r, registries.Miss)
		} else {
			wantCache(t, "GET "+doc+" once changed upstream, Accept: "+accept, r, registries.Miss, registries.Revalidated)
		}
		if got := listed(t, eco, doc, r); !slices.Contains(got, newer) {
			t.Fatalf("GET %s once changed upstream, Accept: %s, lists %v, without %s", doc, accept, got, newer)
		}
	}

	for _, mode := range []faults.Mode{faults.Error500, faults.Refuse} {
		// A mirror per fault: a revalidation one fault sent behind a
		// client's back may reach the upstream once it answers again, and
		// whoever joins it then is rightly told REVALIDATED. Close ends
		// that work before the fault does.
		failing := newMirror(t, eco, fake, env, registries.Options{MetadataTTL: stale})
		fake.SetFault(mode)
		for _, accept := range eco.Accepts() {
			r := failing.get(doc, accept)
			what := "GET " + doc + " with the upstream in fault " + mode.String() + ", Accept: " + accept
			want200(t, what, r, nil)
			wantCache(t, what, r, registries.Stale)
			// The view of what is held: a client picks what it can install.
			if got := listed(t, eco, doc, r); !slices.Equal(got, []string{art}) {
				t.Fatalf("%s lists %v, want only the held %s", what, got, art)
			}
		}
		failing.up.Close()
		fake.SetFault(faults.Normal)
	}
}

func hasAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

func testArtifactStatuses(t *testing.T, eco Ecosystem) {
	fake := eco.NewFake(t)
	const name = "conform-files"
	one := fake.Publish(name, "1.0.0")
	two := fake.Publish(name, "2.0.0")
	m := newMirror(t, eco, fake, NewEnv(t), registries.Options{})

	// Before its document: the registry loads the document that announces it.
	cold := eco.Artifact(name, "2.0.0")
	r := m.get(cold)
	want200(t, "GET "+cold+" before its document", r, two)
	wantCache(t, "GET "+cold+" before its document", r, registries.Miss)
	r = m.get(cold)
	want200(t, "GET "+cold+" again", r, two)
	wantCache(t, "GET "+cold+" again", r, registries.Hit)

	want200(t, "GET the document", m.get(eco.Documents(name)[0]), nil)
	art := eco.Artifact(name, "1.0.0")
	for i, want := range []registries.CacheStatus{registries.Miss, registries.Hit, registries.Hit} {
		method := http.MethodGet
		if i == 2 {
			method = http.MethodHead
		}
		r := m.serve(request{method: method, path: art})
		body := one
		if method == http.MethodHead {
			body = []byte{}
		}
		want200(t, method+" "+art, r, body)
		wantCache(t, method+" "+art, r, want)
	}
	if n := fake.Fetches(art); n != 1 {
		t.Errorf("the upstream was asked for %s %d times, want once", art, n)
	}
}

func testNewerThanTheDocument(t *testing.T, eco Ecosystem) {
	fake := eco.NewFake(t)
	const name = "conform-newer"
	fake.Publish(name, "1.0.0")
	clock := &suiteClock{now: time.Now()}
	// Documents fresh for an hour.
	m := newMirror(t, eco, fake, NewEnv(t), registries.Options{Now: clock.Now})
	doc := eco.Documents(name)[0]
	want200(t, "GET "+doc, m.get(doc), nil)
	asked := fake.Fetches(doc)

	// Half a minute later, well within the TTL.
	clock.add(30 * time.Second)
	newer := fake.Publish(name, "1.1.0")
	art := eco.Artifact(name, "1.1.0")
	r := m.get(art)
	want200(t, "GET "+art+", published after its document was fetched", r, newer)
	// Not asked again at all where the document does not announce the
	// artifact (a Go module's zip, a Maven file).
	if n := fake.Fetches(doc) - asked; n > 1 {
		t.Errorf("the document was asked for %d more times for a release it did not list, want once", n)
	}
	r = m.get(art)
	want200(t, "GET "+art+" again", r, newer)
	wantCache(t, "GET "+art+" again", r, registries.Hit)

	// What does not exist upstream either is a 404, and asking again
	// and again costs the upstream nothing more within the gap.
	missing := eco.Artifact(name, "9.9.9")
	for range 3 {
		if r := m.get(missing); r.status != http.StatusNotFound {
			t.Fatalf("GET %s, published nowhere: %s, want a 404", missing, r)
		}
	}
	if n := fake.Fetches(doc) - asked; n > 1 {
		t.Errorf("the document was asked for %d more times, want at most once: each request for what does not exist revalidated it", n)
	}
}

// heldView warms a data folder with every version's document and the
// artifacts of the first two of three versions, and returns the paths of
// the artifacts held and the one not held.
func heldView(t *testing.T, eco Ecosystem, fake Fake, env registries.Env, name string) (held map[string][]byte, notHeld string) {
	t.Helper()
	held = map[string][]byte{}
	bodies := map[string][]byte{}
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		bodies[v] = fake.Publish(name, v)
	}
	online := newMirror(t, eco, fake, env, registries.Options{})
	for _, d := range eco.Documents(name)[:1] {
		for _, accept := range eco.Accepts() {
			want200(t, "GET "+d, online.get(d, accept), nil)
		}
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		p := eco.Artifact(name, v)
		want200(t, "GET "+p, online.get(p), bodies[v])
		held[p] = bodies[v]
	}
	return held, eco.Artifact(name, "2.0.0")
}

// wantHeldView checks that every variant of the main document lists
// exactly the held artifacts, and that each one listed installs.
func wantHeldView(t *testing.T, eco Ecosystem, m *mirror, name string, held map[string][]byte, notHeld string) {
	t.Helper()
	doc := eco.Documents(name)[0]
	var want []string
	for p := range held {
		want = append(want, p)
	}
	want = sorted(want...)
	for _, accept := range eco.Accepts() {
		r := m.get(doc, accept)
		what := "GET " + doc + " Accept: " + accept
		want200(t, what, r, nil)
		wantCache(t, what, r, registries.Stale)
		got := listed(t, eco, doc, r)
		if !slices.Equal(got, want) {
			t.Fatalf("%s lists %v, want exactly the held %v", what, got, want)
		}
		for _, p := range got {
			want200(t, "GET "+p+", listed by "+what, m.get(p), held[p])
		}
	}
	// What is not held is not found, as a client that falls through
	// expects, never a 5xx that it retries.
	if r := m.get(notHeld); r.status != http.StatusNotFound {
		t.Fatalf("GET %s, never fetched: %s, want 404", notHeld, r)
	}
}

func testOfflineView(t *testing.T, eco Ecosystem) {
	fake := eco.NewFake(t)
	const name = "conform-offline"
	env := NewEnv(t)
	held, notHeld := heldView(t, eco, fake, env, name)
	offline := newMirror(t, eco, fake, env, registries.Options{Offline: true, MetadataTTL: stale})
	wantHeldView(t, eco, offline, name, held, notHeld)

	fake.Publish("conform-elsewhere", "1.0.0")
	doc := eco.Documents("conform-elsewhere")[0]
	if r := offline.get(doc); r.status != http.StatusNotFound {
		t.Fatalf("GET %s, never cached, offline: %s, want 404", doc, r)
	}
	if n := fake.Fetches(doc); n != 0 {
		t.Fatalf("offline, the upstream was asked for %s %d times", doc, n)
	}
}

func testDownView(t *testing.T, eco Ecosystem) {
	fake := eco.NewFake(t)
	const name = "conform-down"
	env := NewEnv(t)
	held, notHeld := heldView(t, eco, fake, env, name)
	later := newMirror(t, eco, fake, env, registries.Options{MetadataTTL: stale})
	fake.SetFault(faults.Refuse)
	// The first request meets the failure; the probe then marks it down.
	r := later.get(eco.Documents(name)[0])
	want200(t, "GET the document as the upstream fails", r, nil)
	wantCache(t, "GET the document as the upstream fails", r, registries.Stale)
	waitDown(t, later)
	wantHeldView(t, eco, later, name, held, notHeld)
}

func testIntegrityMismatch(t *testing.T, eco Ecosystem) {
	testNothingStored(t, eco, faults.WrongDigest, IntegrityMismatch)
}

func testTruncated(t *testing.T, eco Ecosystem) {
	testNothingStored(t, eco, faults.Truncate, Truncated)
}

const (
	// streamedSize is the size of an artifact streamed to the client while
	// it arrives, over registries' hold-back of 1 MiB even when cut in half.
	streamedSize = 3<<20 + 12345
	// unkeptSize is the size of an artifact too large to keep in memory
	// once held (over 64 KiB): it is sent from its open blob.
	unkeptSize = 200 << 10
)

// randomBytes is n bytes that are no archive and do not compress.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// testNothingStored asks for an artifact while the fake serves it wrong:
// the client is not given a clean 200, no row is marked held, no blob is
// kept; once the fake is well, the artifact is fetched afresh.
func testNothingStored(t *testing.T, eco Ecosystem, mode faults.Mode, suite string) {
	t.Run("small", func(t *testing.T) {
		skipUnlessApplies(t, eco, suite+"/small")
		fake := eco.NewFake(t)
		testNothingStoredOf(t, eco, fake, mode, fake.Publish("conform-bad", "1.0.0"))
	})
	t.Run("large", func(t *testing.T) {
		skipUnlessApplies(t, eco, suite+"/large")
		fake := eco.NewFake(t)
		body := randomBytes(streamedSize, 1)
		fake.PublishBytes("conform-bad", "1.0.0", body)
		testNothingStoredOf(t, eco, fake, mode, body)
	})
}

func testNothingStoredOf(t *testing.T, eco Ecosystem, fake Fake, mode faults.Mode, body []byte) {
	const name = "conform-bad"
	m := newMirror(t, eco, fake, NewEnv(t), registries.Options{})
	want200(t, "GET the document", m.get(eco.Documents(name)[0]), nil)

	fake.SetFault(mode)
	art := eco.Artifact(name, "1.0.0")
	r := m.get(art)
	t.Logf("GET %s with the upstream in fault %s: %d, cut off: %v", art, mode, r.status, r.aborted)
	if r.status == http.StatusOK && !r.aborted {
		t.Fatalf("GET %s with the upstream in fault %s: a clean 200 (%d bytes; the upstream's are %d)", art, mode, len(r.body), len(body))
	}
	if r.aborted && len(r.body) >= len(body) {
		// The last byte waits for the verdict: a client that ignores the
		// cut still has no whole file.
		t.Fatalf("GET %s with the upstream in fault %s: cut off after %d bytes, all of them", art, mode, len(r.body))
	}
	if row, err := artifactRow(t, m, art); err == nil && row.Cached() {
		t.Fatalf("with the upstream in fault %s, the row of %s says held: %+v", mode, art, row)
	}
	// Documents fetched on the way (a checksum database's records, for a
	// Go module) are kept; a blob no row points at is the artifact's.
	if n := orphanBlobs(t, m); n != 0 {
		t.Fatalf("with the upstream in fault %s, %d blobs were kept that no row points at", mode, n)
	}

	fake.SetFault(faults.Normal)
	r = m.get(art)
	want200(t, "GET "+art+" once the upstream is well", r, body)
	wantCache(t, "GET "+art+" once the upstream is well", r, registries.Miss)
	if row, err := artifactRow(t, m, art); err != nil || !row.Cached() {
		t.Fatalf("once the upstream is well, the row of %s: %+v, %v", art, row, err)
	}
}

func testSingleFlight(t *testing.T, eco Ecosystem) {
	fake := eco.NewFake(t)
	const name = "conform-flight"
	body := fake.Publish(name, "1.0.0")
	m := newMirror(t, eco, fake, NewEnv(t), registries.Options{})
	art := eco.Artifact(name, "1.0.0")

	// Every request finds nothing held, and waits on the document that
	// announces the artifact; released together, they ask for it at once.
	fake.SetFault(faults.Hang)
	const n = 8
	var wg sync.WaitGroup
	resps := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i] = m.get(art)
		}()
	}
	fetchedAny := func() bool {
		for _, d := range eco.Documents(name) {
			if fake.Fetches(d) > 0 {
				return true
			}
		}
		return false
	}
	waitFor(t, "the upstream is asked for the document", fetchedAny)
	fake.SetFault(faults.Normal)
	wg.Wait()
	for i, r := range resps {
		want200(t, "request "+strconv.Itoa(i)+" of "+strconv.Itoa(n), r, body)
		wantCache(t, "request "+strconv.Itoa(i), r, registries.Miss, registries.Hit)
	}
	if got := fake.Fetches(art); got != 1 {
		t.Fatalf("%d concurrent first requests for %s made %d upstream requests, want 1", n, art, got)
	}
}

func testFirstSeenPinning(t *testing.T, eco Ecosystem) {
	fake := eco.NewFake(t)
	const name = "conform-pin"
	body, ok := fake.PublishUndeclared(name, "1.0.0")
	if !ok {
		t.Skip("the fake upstream cannot publish an artifact without a digest")
	}
	m := newMirror(t, eco, fake, NewEnv(t), registries.Options{})
	art := eco.Artifact(name, "1.0.0")
	r := m.get(art)
	want200(t, "GET "+art, r, body)
	wantCache(t, "GET "+art, r, registries.Miss)
	row, err := artifactRow(t, m, art)
	if err != nil || !row.Cached() {
		t.Fatalf("the row of %s: %+v, %v; want it held", art, row, err)
	}
	sum := sha256.Sum256(body)
	if want := string(registries.SRIFromHex("sha256", hex.EncodeToString(sum[:]))); row.Integrity != want {
		t.Fatalf("%s is pinned to %q, want the sha256 of its bytes, %q", art, row.Integrity, want)
	}
	r = m.get(art)
	want200(t, "GET "+art+" again", r, body)
	wantCache(t, "GET "+art+" again", r, registries.Hit)
}

func testNotFoundVersusUnreachable(t *testing.T, eco Ecosystem) {
	fake := eco.NewFake(t)
	for _, name := range []string{"conform-held", "conform-first", "conform-later"} {
		fake.Publish(name, "1.0.0")
	}
	m := newMirror(t, eco, fake, NewEnv(t), registries.Options{})

	unknown := eco.Documents("conform-nosuch")[0]
	r := m.get(unknown)
	if r.status != http.StatusNotFound || strings.Contains(strings.ToLower(string(r.body)), "unreachable") {
		t.Fatalf("GET %s, a package the upstream does not have: %s, want a plain 404", unknown, r)
	}
	heldDoc := eco.Documents("conform-held")[0]
	want200(t, "GET "+heldDoc, m.get(heldDoc), nil)

	fake.SetFault(faults.Refuse)
	// The request that meets the failure: a 502 or 504 that says so, or a
	// 404 that says the upstream is unreachable when the upstream was
	// already suspect.
	first := eco.Documents("conform-first")[0]
	r = m.get(first)
	switch {
	case (r.status == http.StatusBadGateway || r.status == http.StatusGatewayTimeout) && !r.aborted:
	case r.status == http.StatusNotFound && saysUnreachable(r):
	default:
		t.Fatalf("GET %s, never cached, as the upstream refuses: %s, want 502 or 504", first, r)
	}
	art := eco.Artifact("conform-held", "1.0.0")
	r = m.get(art)
	switch {
	case (r.status == http.StatusBadGateway || r.status == http.StatusGatewayTimeout) && !r.aborted:
	case r.status == http.StatusNotFound && saysUnreachable(r):
	default:
		t.Fatalf("GET %s, never cached, as the upstream refuses: %s, want 502, 504, or 404 unreachable", art, r)
	}

	// Once down, a never-cached thing is a 404 at once: nobody waits on
	// the upstream, which now hangs.
	waitDown(t, m)
	fake.SetFault(faults.Hang)
	later := eco.Documents("conform-later")[0]
	for _, p := range []string{later, art} {
		start := time.Now()
		r := m.get(p)
		if r.status != http.StatusNotFound || !saysUnreachable(r) {
			t.Fatalf("GET %s, never cached, the upstream down: %s, want a 404 that says the upstream is unreachable", p, r)
		}
		if took := time.Since(start); took > m.up.Options().ResponseTimeout/2 {
			t.Errorf("GET %s, never cached, the upstream down, took %v: not at once", p, took)
		}
		if n := fake.Fetches(p); n != 0 {
			t.Errorf("GET %s, the upstream down, asked the upstream %d times", p, n)
		}
	}
}

func saysUnreachable(r response) bool {
	return strings.Contains(strings.ToLower(string(r.body)), "unreachable")
}

func testQuickMatchesHandler(t *testing.T, eco Ecosystem) {
	fake := eco.NewFake(t)
	const name = "conform-quick"
	fake.Publish(name, "1.0.0")
	fake.Publish(name, "1.1.0")
	// One kept in memory once held, one sent from its open blob.
	fake.PublishBytes(name, "2.0.0", randomBytes(unkeptSize, 2))
	m := newMirror(t, eco, fake, NewEnv(t), registries.Options{})

	var docs, plain []request
	for _, d := range eco.Documents(name) {
		for _, accept := range eco.Accepts() {
			docs = append(docs, request{method: http.MethodGet, path: d, accept: accept})
		}
	}
	arts := []string{eco.Artifact(name, "1.0.0"), eco.Artifact(name, "1.1.0"), eco.Artifact(name, "2.0.0")}
	for _, p := range arts {
		plain = append(plain, request{method: http.MethodGet, path: p})
	}
	plain = append(plain, docs...)
	// Cold, the quick path declines: it never waits on the upstream.
	for _, q := range plain {
		if r, ok := m.quick(t, q); ok {
			t.Fatalf("%s, nothing held: the quick path answered %s", q, r)
		}
	}
	for _, q := range plain {
		want200(t, "warming: "+q.String(), m.serve(q), nil)
	}

	var all []request
	for _, q := range plain {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			for _, enc := range []string{"", "gzip, deflate, br"} {
				v := q
				v.method, v.encoding = method, enc
				all = append(all, v)
				// With the ETag of that very representation.
				if etag := m.serve(v).header.Get("Etag"); etag != "" {
					v.ifNoneMatch = etag
					all = append(all, v)
				}
			}
		}
	}
	for _, q := range all {
		qr, ok := m.quick(t, q)
		if !ok {
			if q.ifNoneMatch != "" && !slices.ContainsFunc(docs, func(d request) bool { return d.path == q.path }) {
				continue // a conditional request for an artifact is the handler's
			}
			t.Fatalf("%s, warm: the quick path declined", q)
		}
		hr := m.serve(q)
		if qr.status != hr.status {
			t.Errorf("%s: the quick path answers %d, the handler %d", q, qr.status, hr.status)
		}
		if d := headerDiff(qr.header, hr.header); d != "" {
			t.Errorf("%s: the headers differ (quick path, handler):\n%s", q, d)
		}
		if !bytes.Equal(qr.body, hr.body) {
			t.Errorf("%s: the quick path sends %d bytes, the handler %d other ones", q, len(qr.body), len(hr.body))
		}
	}
}

// headerDiff lists the header lines that differ, "" when none does.
func headerDiff(quick, handler http.Header) string {
	keys := map[string]bool{}
	for k := range quick {
		keys[http.CanonicalHeaderKey(k)] = true
	}
	for k := range handler {
		keys[http.CanonicalHeaderKey(k)] = true
	}
	var out []string
	for k := range keys {
		q, h := quick.Values(k), handler.Values(k)
		if !slices.Equal(q, h) {
			out = append(out, k+": "+strings.Join(q, ", ")+" | "+strings.Join(h, ", "))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
