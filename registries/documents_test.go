package registries

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
)

const lastModified = "Mon, 02 Jan 2006 15:04:05 GMT"

// asIs stores the upstream's body unchanged.
func asIs(body []byte, contentType string) (Prepared, error) {
	return Prepared{Body: body, ContentType: contentType}, nil
}

func leftPad(f *fakeUpstream) DocRequest {
	return DocRequest{
		Key: "left-pad", Variant: "full", Package: "left-pad",
		URL: f.URL("/left-pad"), Accept: "application/json", Prepare: asIs,
	}
}

// bodyOf reads a document's stored body.
func bodyOf(t *testing.T, u *Upstream, d Doc) string {
	t.Helper()
	b, err := u.Body(context.Background(), d.Document)
	if err != nil {
		t.Fatalf("reading the body of %s: %v", d.Key, err)
	}
	return string(b)
}

// mustDocument fetches a document that must come back with status want.
func mustDocument(t *testing.T, u *Upstream, req DocRequest, want CacheStatus) Doc {
	t.Helper()
	d, err := u.Document(context.Background(), req)
	if err != nil {
		t.Fatalf("Document(%s): %v", req.Key, err)
	}
	if d.Status != want {
		t.Fatalf("Document(%s) is %s, want %s", req.Key, d.Status, want)
	}
	return d
}

// assertNotCached fails if a document is stored under req's key.
func assertNotCached(t *testing.T, u *Upstream, req DocRequest) {
	t.Helper()
	if _, err := u.Cached(context.Background(), req.Key, req.Variant); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Cached(%s) = %v, want nothing stored", req.Key, err)
	}
}

func TestDocumentColdRequestFetchesAndStores(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{"name":"left-pad"}`, `"v1"`, lastModified))
	u := e.upstream(t, f.URL("/"), Options{})

	d := mustDocument(t, u, leftPad(f), Miss)
	if got := bodyOf(t, u, d); got != `{"name":"left-pad"}` {
		t.Errorf("body = %q", got)
	}
	stored, err := u.Cached(context.Background(), "left-pad", "full")
	if err != nil {
		t.Fatalf("the document was not stored: %v", err)
	}
	if stored.ETag != `"v1"` || stored.LastModified != lastModified || stored.ContentType != "application/json" {
		t.Errorf("stored validators %q, %q and type %q; want the upstream's", stored.ETag, stored.LastModified, stored.ContentType)
	}
	if stored.Body != storage.DigestOf([]byte(`{"name":"left-pad"}`)) {
		t.Errorf("stored body digest %s is not the body's", stored.Body)
	}
	h := f.lastHeader("/left-pad")
	if h.Get("Accept") != "application/json" || h.Get("User-Agent") != userAgent {
		t.Errorf("upstream saw Accept %q and User-Agent %q", h.Get("Accept"), h.Get("User-Agent"))
	}
	allowedHeaders(t, h, "Accept", "User-Agent", "Accept-Encoding")
	if n := e.metricValue(t, "larder_upstream_requests_total", "registry", testRegistry, "outcome", "ok"); n != 1 {
		t.Errorf("larder_upstream_requests_total{outcome=ok} = %v, want 1", n)
	}
}

func TestDocumentWithinTTLIsAHitWithoutUpstreamTraffic(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{}`, `"v1"`, lastModified))
	u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Hour})

	first := mustDocument(t, u, leftPad(f), Miss)
	for range 3 {
		d := mustDocument(t, u, leftPad(f), Hit)
		if d.Body != first.Body {
			t.Errorf("a HIT gave body %s, want %s", d.Body, first.Body)
		}
	}
	if n := f.count("/left-pad"); n != 1 {
		t.Errorf("upstream received %d requests, want 1", n)
	}
}

func TestDocumentAfterTTLIsRevalidatedWithItsValidators(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{"v":1}`, `"v1"`, lastModified))
	clock := newFakeClock()
	u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Minute, Now: clock.Now})

	first := mustDocument(t, u, leftPad(f), Miss)
	clock.Advance(time.Minute)
	d := mustDocument(t, u, leftPad(f), Revalidated)

	h := f.lastHeader("/left-pad")
	if h.Get("If-None-Match") != `"v1"` || h.Get("If-Modified-Since") != lastModified {
		t.Errorf("revalidation sent If-None-Match %q and If-Modified-Since %q; want the stored validators",
			h.Get("If-None-Match"), h.Get("If-Modified-Since"))
	}
	allowedHeaders(t, h, "Accept", "User-Agent", "Accept-Encoding", "If-None-Match", "If-Modified-Since")
	if d.Body != first.Body || bodyOf(t, u, d) != `{"v":1}` {
		t.Errorf("a revalidated document changed its body")
	}
	stored, err := u.Cached(context.Background(), "left-pad", "full")
	if err != nil {
		t.Fatal(err)
	}
	if !stored.FetchedAt.After(first.FetchedAt) || !d.FetchedAt.After(first.FetchedAt) {
		t.Errorf("fetched_at stayed at %v (stored %v, returned %v); a 304 must move it",
			first.FetchedAt, stored.FetchedAt, d.FetchedAt)
	}
	if n := f.count("/left-pad"); n != 2 {
		t.Errorf("upstream received %d requests, want 2", n)
	}
}

func TestDocumentAfterTTLChangedUpstreamIsFetchedAgain(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{"v":1}`, `"v1"`, lastModified))
	u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Nanosecond})

	mustDocument(t, u, leftPad(f), Miss)
	f.handle("/left-pad", docHandler(`{"v":2}`, `"v2"`, lastModified))
	d := mustDocument(t, u, leftPad(f), Miss)
	if got := bodyOf(t, u, d); got != `{"v":2}` {
		t.Errorf("body = %q, want the new one", got)
	}
	if f.lastHeader("/left-pad").Get("If-None-Match") != `"v1"` {
		t.Errorf("the request was not conditional")
	}
	stored, _ := u.Cached(context.Background(), "left-pad", "full")
	if stored.ETag != `"v2"` || stored.Body != d.Body {
		t.Errorf("stored ETag %q and body %s; want the new document's", stored.ETag, stored.Body)
	}
}

func TestDocumentWithACopyIsServedStaleWhenTheUpstreamFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  Options
		fault func(t *testing.T, f *fakeUpstream, req *DocRequest)
	}{
		{"the upstream answers 500", Options{}, func(t *testing.T, f *fakeUpstream, req *DocRequest) {
			f.handle("/left-pad", statusHandler(http.StatusInternalServerError))
		}},
		{"the upstream refuses connections", Options{}, func(t *testing.T, f *fakeUpstream, req *DocRequest) {
			req.URL = refusedURL(t) + "left-pad"
		}},
		{"the upstream answers an unusable 200", Options{}, func(t *testing.T, f *fakeUpstream, req *DocRequest) {
			f.handle("/left-pad", docHandler(`garbage`, `"v2"`, lastModified))
		}},
		// StaleWait, not ResponseTimeout, bounds the wait: the 60s time-out
		// would fail the bound of patience.
		{"the upstream hangs", Options{ResponseTimeout: 60 * time.Second, StaleWait: 100 * time.Millisecond}, func(t *testing.T, f *fakeUpstream, req *DocRequest) {
			f.handle("/left-pad", f.hangHandler())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			f := newFakeUpstream(t)
			f.handle("/left-pad", docHandler(`{"v":1}`, `"v1"`, lastModified))
			opts := tt.opts
			opts.MetadataTTL = time.Nanosecond
			u := e.upstream(t, f.URL("/"), opts)
			t.Cleanup(func() {
				f.releaseAll()
				waitDocFlight(u, "left-pad", "full")
			})
			req := leftPad(f)
			req.Prepare = func(body []byte, ct string) (Prepared, error) {
				if string(body) == "garbage" {
					return Prepared{}, errors.New("not JSON")
				}
				return asIs(body, ct)
			}
			first := mustDocument(t, u, req, Miss)

			tt.fault(t, f, &req)
			d := within(t, "Document with a failing upstream", func() docResult {
				d, err := u.Document(context.Background(), req)
				return docResult{d, err}
			})
			if d.err != nil {
				t.Fatalf("Document = %v, want the cached copy", d.err)
			}
			if d.doc.Status != Stale {
				t.Errorf("status %s, want STALE", d.doc.Status)
			}
			if d.doc.Body != first.Body || bodyOf(t, u, d.doc) != `{"v":1}` {
				t.Errorf("a STALE answer is not the cached copy")
			}
			stored, _ := u.Cached(context.Background(), "left-pad", "full")
			if stored.Body != first.Body || stored.ETag != `"v1"` {
				t.Errorf("the cached copy was replaced: body %s, ETag %q", stored.Body, stored.ETag)
			}
		})
	}
}

type docResult struct {
	doc Doc
	err error
}

func TestDocumentWithoutACopyFailsWithTheUpstreamsCause(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       Options
		fault      func(t *testing.T, f *fakeUpstream, req *DocRequest)
		wantStatus int
	}{
		{"a refused connection is a 502", Options{}, func(t *testing.T, f *fakeUpstream, req *DocRequest) {
			req.URL = refusedURL(t) + "left-pad"
		}, http.StatusBadGateway},
		{"a hanging upstream is a 504", Options{ResponseTimeout: 300 * time.Millisecond}, func(t *testing.T, f *fakeUpstream, req *DocRequest) {
			f.handle("/left-pad", f.hangHandler())
		}, http.StatusGatewayTimeout},
		{"an upstream 500 is a 502", Options{}, func(t *testing.T, f *fakeUpstream, req *DocRequest) {
			f.handle("/left-pad", statusHandler(http.StatusInternalServerError))
		}, http.StatusBadGateway},
		{"an unusable document is a 502", Options{}, func(t *testing.T, f *fakeUpstream, req *DocRequest) {
			f.handle("/left-pad", docHandler(`{}`, `"v1"`, lastModified))
			req.Prepare = func([]byte, string) (Prepared, error) { return Prepared{}, errors.New("no versions") }
		}, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			f := newFakeUpstream(t)
			u := e.upstream(t, f.URL("/"), tt.opts)
			req := leftPad(f)
			tt.fault(t, f, &req)
			res := within(t, "Document with a failing upstream", func() docResult {
				d, err := u.Document(context.Background(), req)
				return docResult{d, err}
			})
			var ue *UpstreamError
			if !errors.As(res.err, &ue) {
				t.Fatalf("Document = %v, %v; want an *UpstreamError", res.doc.Status, res.err)
			}
			if ue.Status != tt.wantStatus || StatusOf(res.err) != tt.wantStatus {
				t.Errorf("status %d (StatusOf %d), want %d", ue.Status, StatusOf(res.err), tt.wantStatus)
			}
			if host := strings.TrimPrefix(strings.TrimSuffix(req.URL, "/left-pad"), "http://"); !strings.Contains(ErrorMessage(res.err), host) {
				t.Errorf("message %q does not name the upstream %s", ErrorMessage(res.err), host)
			}
			assertNotCached(t, u, req)
			e.assertNothingStored(t)
		})
	}
}

func TestDocumentUpstreamNotFound(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusNotFound, http.StatusGone} {
		t.Run(fmt.Sprintf("an upstream %d is ErrNotFound and a 404", status), func(t *testing.T) {
			e := newTestEnv(t)
			f := newFakeUpstream(t)
			f.handle("/left-pad", statusHandler(status))
			u := e.upstream(t, f.URL("/"), Options{})
			_, err := u.Document(context.Background(), leftPad(f))
			if !errors.Is(err, ErrNotFound) || StatusOf(err) != http.StatusNotFound {
				t.Errorf("Document = %v (StatusOf %d), want ErrNotFound and 404", err, StatusOf(err))
			}
			assertNotCached(t, u, leftPad(f))
			if !u.Health().Up() {
				t.Errorf("a 404 counted against the upstream's health")
			}
		})
	}
}

func TestDocumentUnusableBodyDoesNotReplaceAGoodCopy(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{"v":1}`, `"v1"`, lastModified))
	u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Nanosecond})
	var prepared counter
	req := leftPad(f)
	req.Prepare = func(body []byte, ct string) (Prepared, error) {
		prepared.inc()
		if !strings.HasPrefix(string(body), "{") {
			return Prepared{}, errors.New("not JSON")
		}
		return asIs(body, ct)
	}
	first := mustDocument(t, u, req, Miss)
	f.handle("/left-pad", docHandler(`<html>captive portal</html>`, `"v2"`, lastModified))
	d := mustDocument(t, u, req, Stale)
	if d.Body != first.Body {
		t.Errorf("served body %s, want the good copy %s", d.Body, first.Body)
	}
	if prepared.get() != 2 {
		t.Errorf("Prepare ran %d times, want 2", prepared.get())
	}
	stored, _ := u.Cached(context.Background(), "left-pad", "full")
	if stored.Body != first.Body || stored.ETag != `"v1"` {
		t.Errorf("the good copy was replaced by an unusable one")
	}
	// The unusable body was not kept either.
	if _, _, err := e.Store.OpenBody(context.Background(), storage.DigestOf([]byte(`<html>captive portal</html>`))); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the unusable body was kept (%v)", err)
	}
	if _, _, err := e.Store.OpenBody(context.Background(), first.Body); err != nil {
		t.Errorf("the good copy's body: %v", err)
	}
}

func TestDocumentSizeBound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		size    int
		wantErr error
	}{
		{"a document at the bound is stored", 16, nil},
		{"a document over the bound is ErrTooLarge", 17, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			f := newFakeUpstream(t)
			f.handle("/left-pad", docHandler(strings.Repeat("x", tt.size), `"v1"`, lastModified))
			u := e.upstream(t, f.URL("/"), Options{MaxDocumentSize: 16})
			d, err := u.Document(context.Background(), leftPad(f))
			if tt.wantErr == nil {
				if err != nil || d.Status != Miss {
					t.Fatalf("Document = %v, %v; want MISS", d.Status, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || StatusOf(err) != http.StatusBadGateway {
				t.Errorf("Document = %v (StatusOf %d), want %v and 502", err, StatusOf(err), tt.wantErr)
			}
			assertNotCached(t, u, leftPad(f))
			e.assertNothingStored(t)
		})
	}
}

func TestDocumentOffline(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{"v":1}`, `"v1"`, lastModified))
	online := e.upstream(t, f.URL("/"), Options{})
	first := mustDocument(t, online, leftPad(f), Miss)
	online.Close()

	offline := e.upstream(t, f.URL("/"), Options{Offline: true, MetadataTTL: time.Nanosecond})
	t.Run("a cached copy is served STALE", func(t *testing.T) {
		d := mustDocument(t, offline, leftPad(f), Stale)
		if d.Body != first.Body {
			t.Errorf("body %s, want the cached %s", d.Body, first.Body)
		}
	})
	t.Run("an uncached document is ErrNotCached, a 404 that says offline", func(t *testing.T) {
		req := leftPad(f)
		req.Key, req.URL = "is-odd", f.URL("/is-odd")
		_, err := offline.Document(context.Background(), req)
		if !errors.Is(err, ErrNotCached) || StatusOf(err) != http.StatusNotFound {
			t.Fatalf("Document = %v (StatusOf %d), want ErrNotCached and 404", err, StatusOf(err))
		}
		if !strings.Contains(ErrorMessage(err), "offline") {
			t.Errorf("message %q does not say larder is offline", ErrorMessage(err))
		}
	})
	t.Run("the upstream is never asked", func(t *testing.T) {
		if n := f.count("/left-pad") + f.count("/is-odd") + f.count("/"); n != 1 {
			t.Errorf("upstream received %d requests, want only the one made online", n)
		}
	})
	t.Run("the upstream reads as down in metrics", func(t *testing.T) {
		if v := e.metricValue(t, "larder_upstream_up", "registry", testRegistry); v != 0 {
			t.Errorf("larder_upstream_up = %v, want 0 while offline", v)
		}
	})
}

func TestDocumentKeepsTheCopyWhenTheSerialGoesBackwards(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Nanosecond})
	req := leftPad(f)
	req.Prepare = func(body []byte, ct string) (Prepared, error) {
		serial, err := strconv.ParseInt(string(body), 10, 64)
		return Prepared{Body: body, ContentType: ct, Serial: serial}, err
	}
	serve := func(serial string) { f.handle("/left-pad", docHandler(serial, `"`+serial+`"`, lastModified)) }

	serve("7")
	mustDocument(t, u, req, Miss)
	serve("5") // a lagging CDN node
	if d := mustDocument(t, u, req, Revalidated); bodyOf(t, u, d) != "7" || d.Serial != 7 {
		t.Errorf("served serial %d (%q), want the held 7", d.Serial, bodyOf(t, u, d))
	}
	if stored, _ := u.Cached(context.Background(), "left-pad", "full"); stored.Serial != 7 || stored.ETag != `"7"` {
		t.Errorf("stored serial %d, ETag %q; want 7 kept", stored.Serial, stored.ETag)
	}
	serve("9")
	if d := mustDocument(t, u, req, Miss); bodyOf(t, u, d) != "9" || d.Serial != 9 {
		t.Errorf("served serial %d, want the newer 9", d.Serial)
	}
}

func TestDocumentConcurrentColdRequestsMakeOneUpstreamRequest(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	gate := make(chan struct{})
	arrived := make(chan struct{}, 100)
	inner := docHandler(`{"name":"left-pad"}`, `"v1"`, lastModified)
	f.handle("/left-pad", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-gate
		inner.ServeHTTP(w, r)
	}))
	u := e.upstream(t, f.URL("/"), Options{ResponseTimeout: time.Minute})

	const callers = 20
	var started, done sync.WaitGroup
	results := make([]docResult, callers)
	for i := range callers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			d, err := u.Document(context.Background(), leftPad(f))
			results[i] = docResult{d, err}
		}()
	}
	started.Wait()
	within(t, "the first upstream request", func() struct{} { return <-arrived })
	close(gate) // callers still to come find the fetch in flight, or its result
	within(t, "20 concurrent Document calls", func() bool { done.Wait(); return true })

	for i, r := range results {
		if r.err != nil {
			t.Errorf("caller %d: %v", i, r.err)
			continue
		}
		if got := bodyOf(t, u, r.doc); got != `{"name":"left-pad"}` {
			t.Errorf("caller %d got %q", i, got)
		}
	}
	if n := f.count("/left-pad"); n != 1 {
		t.Errorf("upstream received %d requests for %d concurrent callers, want 1", n, callers)
	}
}

func TestDocumentFetchOutlivesTheClientThatStartedIt(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	gate := make(chan struct{})
	arrived := make(chan struct{}, 1)
	inner := docHandler(`{"name":"left-pad"}`, `"v1"`, lastModified)
	f.handle("/left-pad", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-gate
		inner.ServeHTTP(w, r)
	}))
	u := e.upstream(t, f.URL("/"), Options{ResponseTimeout: time.Minute})

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := u.Document(ctx, leftPad(f))
		errc <- err
	}()
	within(t, "the upstream request", func() struct{} { return <-arrived })
	cancel()
	if err := within(t, "Document after its client left", func() error { return <-errc }); !errors.Is(err, context.Canceled) {
		t.Errorf("Document = %v, want context.Canceled", err)
	}
	close(gate)
	waitDocFlight(u, "left-pad", "full")
	if _, err := u.Cached(context.Background(), "left-pad", "full"); err != nil {
		t.Errorf("the fetch did not complete after its client left: %v", err)
	}
}

func TestDocumentFlightThatFindsAFreshCopyDoesNotAskTheUpstream(t *testing.T) {
	t.Parallel()
	// A caller that looked, found nothing, and starts its own flight after
	// another stored the document: from memory, or with memory_cache off
	// from the database.
	for _, memory := range []bool{true, false} {
		t.Run(fmt.Sprintf("memory cache %v", memory), func(t *testing.T) {
			t.Parallel()
			e := newTestEnvMemory(t, memory)
			f := newFakeUpstream(t)
			f.handle("/left-pad", docHandler(`{}`, `"v1"`, lastModified))
			u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Hour})
			first := mustDocument(t, u, leftPad(f), Miss)

			d, err := u.fetchDocument(context.Background(), leftPad(f), false, nil)
			if err != nil || d.Status != Hit || d.Body != first.Body {
				t.Errorf("fetchDocument = %s, %v; want a HIT on the stored copy", d.Status, err)
			}
			if n := f.count("/left-pad"); n != 1 {
				t.Errorf("upstream received %d requests, want 1", n)
			}
		})
	}
}

// fresh is what lets the fasthttp front answer a document without the
// handler: true only while a fetched document is within its TTL.
func TestFreshIsTrueOnlyWithinTheTTL(t *testing.T) {
	t.Parallel()
	e := newTestEnvMemory(t, true) // fresh is what memory says
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{}`, `"v1"`, lastModified))
	clock := newFakeClock()
	u := e.upstream(t, f.URL("/"), Options{MetadataTTL: 50 * time.Millisecond, Now: clock.Now})
	if u.fresh("left-pad", "full") {
		t.Fatal("fresh before it was ever fetched")
	}
	mustDocument(t, u, leftPad(f), Miss)
	if !u.fresh("left-pad", "full") {
		t.Error("not fresh right after it was fetched")
	}
	if u.fresh("left-pad", "abbreviated") {
		t.Error("a variant never fetched is fresh")
	}
	clock.Advance(49 * time.Millisecond)
	if !u.fresh("left-pad", "full") {
		t.Error("not fresh just within its TTL")
	}
	clock.Advance(time.Millisecond)
	if u.fresh("left-pad", "full") {
		t.Error("fresh past its TTL")
	}
}
