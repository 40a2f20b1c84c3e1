package registries

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Nobody waits on an upstream that has given cause (issue 12): while it is
// suspect or down, or slower than the stale wait, a stale document is
// answered at once and revalidated behind the client's back, a bounded
// number at a time, one request per document; a document never cached is a
// 404 at once.

// longStaleWait is a stale wait no test may pay: an answer that arrives in
// half of it did not wait for it.
const longStaleWait = 10 * time.Second

// docNamed is leftPad for another package on the same fake upstream.
func docNamed(f *fakeUpstream, name string) DocRequest {
	req := leftPad(f)
	req.Key, req.Package, req.URL = name, name, f.URL("/"+name)
	return req
}

// cacheDocs fetches a first copy (ETag "v1") of each document.
func cacheDocs(t *testing.T, f *fakeUpstream, u *Upstream, names ...string) map[string]Doc {
	t.Helper()
	docs := map[string]Doc{}
	for _, name := range names {
		f.handle("/"+name, docHandler(`{"v":1}`, `"v1"`, lastModified))
		docs[name] = mustDocument(t, u, docNamed(f, name), Miss)
	}
	time.Sleep(5 * time.Millisecond) // fetched_at is kept in milliseconds
	return docs
}

// upstreamGate holds the upstream's answers until the test opens it, and
// counts the requests it holds.
type upstreamGate struct {
	f       *fakeUpstream
	open    chan struct{}
	once    sync.Once
	arrived chan string // the path of each request, as it arrives

	mu       sync.Mutex
	inFlight int
	most     int // the most requests held at once
	total    int
}

func newUpstreamGate(f *fakeUpstream) *upstreamGate {
	return &upstreamGate{f: f, open: make(chan struct{}), arrived: make(chan string, 1000)}
}

// hold answers as h does once the gate opens. If the test ends first, it
// drops the connection.
func (g *upstreamGate) hold(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.inFlight++
		g.total++
		g.most = max(g.most, g.inFlight)
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.inFlight--
			g.mu.Unlock()
		}()
		g.arrived <- r.URL.Path
		select {
		case <-g.open:
		case <-g.f.release:
			panic(http.ErrAbortHandler)
		}
		h.ServeHTTP(w, r)
	})
}

func (g *upstreamGate) release() { g.once.Do(func() { close(g.open) }) }

// counts returns the requests held now, the most held at once, and all
// requests so far.
func (g *upstreamGate) counts() (inFlight, most, total int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight, g.most, g.total
}

// finishRefreshes opens the gate and waits for the revalidations in
// flight for names when the test ends, before the store closes.
func finishRefreshes(t *testing.T, g *upstreamGate, u *Upstream, names ...string) {
	t.Cleanup(func() {
		g.release()
		for _, name := range names {
			waitDocFlight(u, name, "full")
		}
	})
}

// timedDocument is Document and how long it took.
func timedDocument(t *testing.T, u *Upstream, req DocRequest) (Doc, time.Duration) {
	t.Helper()
	start := time.Now()
	res := within(t, "Document("+req.Key+")", func() docResult {
		d, err := u.Document(context.Background(), req)
		return docResult{d, err}
	})
	if res.err != nil {
		t.Fatalf("Document(%s): %v", req.Key, res.err)
	}
	return res.doc, time.Since(start)
}

// assertRefreshed fails unless the stored copy of name is the upstream's
// second version, fetched after first.
func assertRefreshed(t *testing.T, u *Upstream, name string, first Doc) {
	t.Helper()
	stored, err := u.Cached(context.Background(), name, "full")
	if err != nil {
		t.Fatal(err)
	}
	if stored.ETag != `"v2"` || !stored.FetchedAt.After(first.FetchedAt) {
		t.Errorf("%s stored with ETag %s, fetched at %v (first at %v); want the revalidated copy", name, stored.ETag, stored.FetchedAt, first.FetchedAt)
	}
	if got := bodyOf(t, u, Doc{Document: stored}); got != `{"v":2}` {
		t.Errorf("%s stored as %q, want the new body", name, got)
	}
}

func TestWhileSuspectAStaleDocumentIsAnsweredAtOnceAndRevalidatedBehind(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Nanosecond, StaleWait: longStaleWait})
	first := cacheDocs(t, f, u, "left-pad")["left-pad"]

	g := newUpstreamGate(f)
	finishRefreshes(t, g, u, "left-pad")
	f.handle("/", f.hangHandler()) // the probe never decides: it stays suspect
	f.handle("/left-pad", g.hold(docHandler(`{"v":2}`, `"v2"`, lastModified)))
	u.Health().Failure(errors.New("connection reset by peer"))
	if st := u.Health().State().Status; st != StatusSuspect {
		t.Fatalf("after one failure the upstream is %s, want suspect", st)
	}

	d, took := timedDocument(t, u, leftPad(f))
	if d.Status != Stale || !d.Degraded || d.Body != first.Body {
		t.Errorf("Document is %s (degraded %v), body %s; want the cached copy, STALE and degraded", d.Status, d.Degraded, d.Body)
	}
	if took > longStaleWait/2 {
		t.Errorf("the stale copy took %s with a stale wait of %s; want it at once", took, longStaleWait)
	}
	// The copy was answered while the upstream held its answer: the
	// revalidation reaches it afterwards, behind the client's back.
	within(t, "the background revalidation reaching the upstream", func() string { return <-g.arrived })
	g.release()
	waitDocFlight(u, "left-pad", "full")
	assertRefreshed(t, u, "left-pad", first)
	if !u.Health().Up() {
		t.Errorf("the revalidation's answer did not bring the upstream up: %+v", u.Health().State())
	}
	if n := f.count("/left-pad"); n != 2 {
		t.Errorf("the upstream received %d requests for the document, want 2", n)
	}
}

func TestWhileDownOnlyTheProbeTalksToTheUpstream(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Nanosecond, StaleWait: longStaleWait, FailuresToDown: 1})
	names := []string{"left-pad", "is-odd", "is-even"}
	first := cacheDocs(t, f, u, names...)
	f.handle("/", statusHandler(http.StatusServiceUnavailable)) // every probe fails

	u.Health().Failure(errors.New("connection refused"))
	if st := u.Health().State().Status; st != StatusDown {
		t.Fatalf("after FailuresToDown failures the upstream is %s, want down", st)
	}
	for round := range 3 {
		for _, name := range names {
			d, took := timedDocument(t, u, docNamed(f, name))
			if d.Status != Stale || !d.Degraded || d.Body != first[name].Body {
				t.Errorf("round %d, %s: %s (degraded %v); want the cached copy, STALE and degraded", round, name, d.Status, d.Degraded)
			}
			if took > longStaleWait/2 {
				t.Errorf("round %d, %s took %s; want it at once", round, name, took)
			}
			waitDocFlight(u, name, "full") // joins a revalidation, were one started
		}
	}
	for _, name := range names {
		if n := f.count("/" + name); n != 1 {
			t.Errorf("the upstream received %d requests for %s, want only the first fetch", n, name)
		}
	}
	eventually(t, "the probe asks the upstream", func() bool { return f.count("/") > 0 })
}

func TestASlowUpstreamCostsTheStaleWaitOnceAndIsThenRevalidatedBehind(t *testing.T) {
	t.Parallel()
	// Each answer takes longer than twice the stale wait, so that the first
	// answer alone puts the latency estimate (the mean of it and the
	// estimate before, zero) over the stale wait.
	const staleWait = 800 * time.Millisecond
	const delay = 2*staleWait + 200*time.Millisecond
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Nanosecond, StaleWait: staleWait})
	names := []string{"doc0", "doc1", "doc2", "doc3", "doc4"}
	first := cacheDocs(t, f, u, names...)
	slow := docHandler(`{"v":2}`, `"v2"`, lastModified)
	for _, name := range names {
		f.handle("/"+name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(delay):
			case <-f.release:
				panic(http.ErrAbortHandler)
			}
			slow.ServeHTTP(w, r)
		}))
	}
	t.Cleanup(func() {
		for _, name := range names {
			waitDocFlight(u, name, "full")
		}
	})
	atOnce := func(name string) {
		t.Helper()
		d, took := timedDocument(t, u, docNamed(f, name))
		if d.Status != Stale || d.Degraded || d.Body != first[name].Body {
			t.Errorf("%s: %s (degraded %v); want the cached copy, STALE and not degraded", name, d.Status, d.Degraded)
		}
		if took > staleWait/2 {
			t.Errorf("%s took %s; want it at once, not after the stale wait of %s", name, took, staleWait)
		}
	}

	t.Run("the first request waits the stale wait, then gets the stale copy", func(t *testing.T) {
		d, took := timedDocument(t, u, docNamed(f, "doc0"))
		if d.Status != Stale || d.Degraded || took < staleWait {
			t.Errorf("doc0: %s (degraded %v) after %s; want STALE, not degraded, after the stale wait", d.Status, d.Degraded, took)
		}
	})
	t.Run("while that slow answer is awaited, stale documents are answered at once", func(t *testing.T) {
		atOnce("doc1")
		atOnce("doc2")
	})
	waitDocFlight(u, "doc0", "full")
	t.Run("after the first slow answer, stale documents are answered at once", func(t *testing.T) {
		atOnce("doc3")
		atOnce("doc4")
	})
	t.Run("the revalidations go on behind the clients and store what the upstream answers", func(t *testing.T) {
		for _, name := range names {
			waitDocFlight(u, name, "full")
			assertRefreshed(t, u, name, first[name])
			if n := f.count("/" + name); n != 2 {
				t.Errorf("the upstream received %d requests for %s, want 2", n, name)
			}
		}
	})
	if !u.Health().Up() {
		t.Errorf("a slow upstream is not a failing one: %+v", u.Health().State())
	}
}

func TestBackgroundRevalidationsAreBoundedAndOnePerDocument(t *testing.T) {
	t.Parallel()
	// suspectWithHeldAnswers caches names, then makes the upstream suspect:
	// its probe hangs and its documents' answers wait for the gate.
	suspectWithHeldAnswers := func(t *testing.T, names ...string) (*fakeUpstream, *Upstream, *upstreamGate, map[string]Doc) {
		e := newTestEnv(t)
		f := newFakeUpstream(t)
		u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Nanosecond, StaleWait: longStaleWait})
		first := cacheDocs(t, f, u, names...)
		g := newUpstreamGate(f)
		finishRefreshes(t, g, u, names...)
		f.handle("/", f.hangHandler())
		for _, name := range names {
			f.handle("/"+name, g.hold(docHandler(`{"v":2}`, `"v2"`, lastModified)))
		}
		u.Health().Failure(errors.New("connect time-out"))
		return f, u, g, first
	}

	t.Run("many stale documents make at most maxBackgroundRefreshes upstream requests at once", func(t *testing.T) {
		t.Parallel()
		var names []string
		for i := range 3 * maxBackgroundRefreshes {
			names = append(names, fmt.Sprintf("pkg-%d", i))
		}
		f, u, g, first := suspectWithHeldAnswers(t, names...)
		for _, name := range names {
			d, took := timedDocument(t, u, docNamed(f, name))
			if d.Status != Stale || d.Body != first[name].Body || took > longStaleWait/2 {
				t.Errorf("%s: %s after %s; want the cached copy at once", name, d.Status, took)
			}
		}
		// Every Document has returned: the revalidations it started exist.
		eventually(t, "the revalidations reach the upstream", func() bool {
			held, _, _ := g.counts()
			return held == maxBackgroundRefreshes
		})
		held, most, total := g.counts()
		if most > maxBackgroundRefreshes || total != maxBackgroundRefreshes {
			t.Errorf("the upstream held %d requests (at most %d at once, %d in all), want %d", held, most, total, maxBackgroundRefreshes)
		}
		g.release()
		for _, name := range names {
			waitDocFlight(u, name, "full")
		}
		if _, most, total := g.counts(); most > maxBackgroundRefreshes || total != maxBackgroundRefreshes {
			t.Errorf("after the gate opened: at most %d at once, %d in all; want %d", most, total, maxBackgroundRefreshes)
		}
	})
	t.Run("many requests for one stale document make one upstream request", func(t *testing.T) {
		t.Parallel()
		f, u, g, first := suspectWithHeldAnswers(t, "left-pad")
		const callers = 20
		var wg sync.WaitGroup
		results := make([]docResult, callers)
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := u.Document(context.Background(), leftPad(f))
				results[i] = docResult{d, err}
			}()
		}
		within(t, "20 concurrent Document calls", func() bool { wg.Wait(); return true })
		for i, r := range results {
			if r.err != nil || r.doc.Status != Stale || r.doc.Body != first["left-pad"].Body {
				t.Errorf("caller %d: %s, %v; want the cached copy, STALE", i, r.doc.Status, r.err)
			}
		}
		within(t, "the revalidation reaching the upstream", func() string { return <-g.arrived })
		g.release()
		waitDocFlight(u, "left-pad", "full")
		if _, _, total := g.counts(); total != 1 {
			t.Errorf("the upstream received %d requests for %d callers, want 1", total, callers)
		}
		assertRefreshed(t, u, "left-pad", first["left-pad"])
	})
	t.Run("requests for one document leave the other slots to other documents", func(t *testing.T) {
		t.Parallel()
		f, u, g, first := suspectWithHeldAnswers(t, "a", "b")
		for range 2 * maxBackgroundRefreshes {
			timedDocument(t, u, docNamed(f, "a"))
		}
		timedDocument(t, u, docNamed(f, "b"))
		eventually(t, "both revalidations reach the upstream", func() bool {
			held, _, _ := g.counts()
			return held == 2
		})
		g.release()
		waitDocFlight(u, "a", "full")
		waitDocFlight(u, "b", "full")
		if _, _, total := g.counts(); total != 2 {
			t.Errorf("the upstream received %d requests, want one for each document", total)
		}
		assertRefreshed(t, u, "b", first["b"])
	})
}

func TestNeverCachedWhileUnreachableIsA404AtOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		// One failure and a failed probe; the next probe is an hour away.
		{"suspect", Options{FailuresToDown: 3, ProbeInterval: time.Hour}},
		{"down", Options{FailuresToDown: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x := newArtifactFixture(t, tt.opts)
			body := randomBytes(100, 13)
			x.f.handle("/", statusHandler(http.StatusServiceUnavailable)) // the probe fails
			x.f.handle("/left-pad", docHandler(`{"v":1}`, `"v1"`, lastModified))
			x.f.handle(tarballUpstream, bytesHandler(body))
			x.announce(t, body)
			x.u.Health().Failure(errors.New("connection refused"))

			t.Run("a document is ErrNotCached, a 404 that says the upstream is unreachable", func(t *testing.T) {
				start := time.Now()
				res := within(t, "Document", func() docResult {
					d, err := x.u.Document(context.Background(), leftPad(x.f))
					return docResult{d, err}
				})
				if !errors.Is(res.err, ErrNotCached) || StatusOf(res.err) != http.StatusNotFound {
					t.Fatalf("Document = %v, %v; want ErrNotCached and 404", res.doc.Status, res.err)
				}
				if msg := ErrorMessage(res.err); !strings.Contains(msg, "unreachable") || !strings.Contains(msg, "left-pad") {
					t.Errorf("message %q does not name the document and say the upstream is unreachable", msg)
				}
				if took := time.Since(start); took > failBound {
					t.Errorf("the 404 took %s", took)
				}
			})
			t.Run("an artifact is a 404 that says the upstream is unreachable", func(t *testing.T) {
				start := time.Now()
				got := x.get(t, http.MethodGet, nil)
				if got.resp == nil || got.resp.StatusCode != http.StatusNotFound || !strings.Contains(string(got.body), "unreachable") {
					t.Fatalf("got %v %q (%v), want a 404 that says unreachable", got.resp, got.body, got.readErr)
				}
				if took := time.Since(start); took > failBound {
					t.Errorf("the 404 took %s", took)
				}
			})
			t.Run("only the probe asked the upstream", func(t *testing.T) {
				if n := x.f.count("/left-pad") + x.f.count(tarballUpstream); n != 0 {
					t.Errorf("the upstream received %d requests for what is not cached", n)
				}
				eventually(t, "the probe asks the upstream", func() bool { return x.f.count("/") > 0 })
			})
			x.assertNothingStored(t)
		})
	}
}

// A request with nothing cached waits for the first probe's verdict while
// the upstream is suspect; when the probe finds it back, it is fetched, not
// a 404.
func TestNeverCachedWhileSuspectIsFetchedWhenTheProbeFindsTheUpstreamBack(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{"v":1}`, `"v1"`, lastModified))
	probed := make(chan struct{}, 1)
	answer := make(chan struct{})
	f.handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case probed <- struct{}{}:
		default:
		}
		<-answer
		http.NotFound(w, r) // an answer: the upstream is back
	}))
	u := e.upstream(t, f.URL("/"), Options{})
	u.Health().Failure(errors.New("connection reset by peer"))
	within(t, "the probe", func() struct{} { return <-probed })

	res := make(chan docResult, 1)
	go func() {
		d, err := u.Document(context.Background(), leftPad(f))
		res <- docResult{d, err}
	}()
	close(answer)
	r := within(t, "Document", func() docResult { return <-res })
	if r.err != nil || r.doc.Status != Miss {
		t.Fatalf("Document = %s, %v; want a MISS once the probe found the upstream back", r.doc.Status, r.err)
	}
}
