package registries

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
)

const (
	tarballPath     = "left-pad/-/left-pad-1.0.0.tgz" // under the mount
	tarballUpstream = "/left-pad/-/left-pad-1.0.0.tgz"
	smallSize       = 200 << 10         // verified whole before the status line
	largeSize       = holdBack*2 + 4321 // streamed while it arrives
)

var tarballOptions = ArtifactOptions{ContentType: "application/octet-stream", CacheControl: "public, max-age=31536000, immutable"}

// randomBytes is n bytes that only seed decides.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// artifactFixture is larder serving artifacts from a fake upstream, mounted
// on a real HTTP server so that streaming and cut connections behave as in
// production.
type artifactFixture struct {
	e   *testEnv
	f   *fakeUpstream
	u   *Upstream
	srv *httptest.Server

	mu   sync.Mutex
	errs []error // what ServeArtifact returned
	// Whether a response is being batched (see BatchingWriter), and how
	// many were.
	holding atomic.Bool
	batches atomic.Int32
}

func newArtifactFixture(t *testing.T, opts Options) *artifactFixture {
	t.Helper()
	x := &artifactFixture{e: newTestEnv(t), f: newFakeUpstream(t)}
	x.u = x.e.upstream(t, x.f.URL("/"), opts)
	x.srv = httptest.NewServer(http.HandlerFunc(x.serve))
	t.Cleanup(x.srv.Close)
	return x
}

// serve is an ecosystem's artifact handler in miniature: look the row up,
// serve it, map an error to a status.
func (x *artifactFixture) serve(w http.ResponseWriter, r *http.Request) {
	// As larder's server does, so that responses are batched where
	// larder batches them.
	w = batchingRecorder{w, &x.holding, &x.batches}
	a, err := x.e.Store.DB.Artifact(r.Context(), testRegistry, strings.TrimPrefix(r.URL.Path, "/"))
	if err == nil {
		err = x.u.ServeArtifact(w, r, a, tarballOptions)
	}
	if err != nil {
		x.mu.Lock()
		x.errs = append(x.errs, err)
		x.mu.Unlock()
		WriteJSONError(w, StatusOf(err), ErrorMessage(err))
	}
}

func (x *artifactFixture) serveErrors() []error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]error(nil), x.errs...)
}

// announce records the tarball as a packument would, declaring the
// integrity of declared.
func (x *artifactFixture) announce(t *testing.T, declared []byte) {
	t.Helper()
	err := x.e.Store.DB.AnnounceArtifacts(context.Background(), testRegistry, []storage.Artifact{{
		Path: tarballPath, Package: "left-pad", Version: "1.0.0",
		UpstreamURL: x.f.URL(tarballUpstream), Integrity: integrityOf(declared),
	}})
	if err != nil {
		t.Fatal(err)
	}
}

type fetched struct {
	resp    *http.Response
	body    []byte
	readErr error
}

// get requests the tarball from larder and reads the whole answer.
func (x *artifactFixture) get(t *testing.T, method string, header http.Header) fetched {
	t.Helper()
	req, err := http.NewRequest(method, x.srv.URL+"/"+tarballPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return within(t, method+" "+tarballPath, func() fetched {
		resp, err := x.srv.Client().Do(req)
		if err != nil {
			return fetched{readErr: err}
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return fetched{resp, body, err}
	})
}

func (x *artifactFixture) row(t *testing.T) storage.Artifact {
	t.Helper()
	a, err := x.e.Store.DB.Artifact(context.Background(), testRegistry, tarballPath)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// assertStored fails unless body is stored, row and blob, as the tarball.
func (x *artifactFixture) assertStored(t *testing.T, body []byte) {
	t.Helper()
	// A client is answered once the bytes are verified; the row follows.
	x.u.Settle(context.Background())
	a := x.row(t)
	if a.SHA256 != storage.DigestOf(body) || a.Size != int64(len(body)) {
		t.Errorf("row says sha256 %q, size %d; want %s, %d", a.SHA256, a.Size, storage.DigestOf(body), len(body))
	}
	rc, _, err := x.e.Store.OpenArtifact(context.Background(), a.SHA256, a.Size)
	if err != nil {
		t.Fatalf("the held bytes: %v", err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, body) {
		t.Errorf("the held bytes: %d bytes (%v), want the %d of the tarball", len(got), err, len(body))
	}
}

// assertNothingStored fails if the tarball, or any blob, is stored.
func (x *artifactFixture) assertNothingStored(t *testing.T) {
	t.Helper()
	waitFillsDone(t, x.u)
	if a := x.row(t); a.Cached() {
		t.Errorf("row says stored as %s", a.SHA256)
	}
	x.e.assertNothingStored(t)
}

func mustStatus(t *testing.T, got fetched, want int) {
	t.Helper()
	if got.resp == nil {
		t.Fatalf("request failed: %v; want %d", got.readErr, want)
	}
	if got.resp.StatusCode != want {
		t.Fatalf("status %d (%q), want %d", got.resp.StatusCode, got.body, want)
	}
	if got.readErr != nil {
		t.Fatalf("reading the body: %v", got.readErr)
	}
}

func TestArtifactColdRequestStreamsAndStores(t *testing.T) {
	t.Parallel()
	for _, size := range []int{smallSize, largeSize} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			x := newArtifactFixture(t, Options{})
			body := randomBytes(size, 1)
			x.f.handle(tarballUpstream, bytesHandler(body))
			x.announce(t, body)

			got := x.get(t, http.MethodGet, nil)
			mustStatus(t, got, http.StatusOK)
			if !bytes.Equal(got.body, body) {
				t.Errorf("client got %d bytes that differ from the upstream's %d", len(got.body), len(body))
			}
			if c := got.resp.Header.Get("X-Larder-Cache"); c != "MISS" {
				t.Errorf("X-Larder-Cache = %q, want MISS", c)
			}
			if ct := got.resp.Header.Get("Content-Type"); ct != tarballOptions.ContentType {
				t.Errorf("Content-Type = %q", ct)
			}
			waitFillsDone(t, x.u)
			x.assertStored(t, body)
			allowedHeaders(t, x.f.lastHeader(tarballUpstream), "User-Agent", "Accept-Encoding")
			if n := x.f.count(tarballUpstream); n != 1 {
				t.Errorf("upstream received %d requests, want 1", n)
			}
		})
	}
}

func TestArtifactCachedIsServedFromTheBlobStore(t *testing.T) {
	t.Parallel()
	body := randomBytes(smallSize, 2)
	cached := func(t *testing.T) *artifactFixture {
		x := newArtifactFixture(t, Options{})
		x.f.handle(tarballUpstream, bytesHandler(body))
		x.announce(t, body)
		mustStatus(t, x.get(t, http.MethodGet, nil), http.StatusOK)
		waitFillsDone(t, x.u)
		return x
	}
	etag := `"sha256-` + string(storage.DigestOf(body)) + `"`

	t.Run("a GET is a HIT with an ETag and no upstream request", func(t *testing.T) {
		x := cached(t)
		got := x.get(t, http.MethodGet, nil)
		mustStatus(t, got, http.StatusOK)
		if !bytes.Equal(got.body, body) {
			t.Errorf("a HIT served different bytes")
		}
		h := got.resp.Header
		if h.Get("X-Larder-Cache") != "HIT" || h.Get("ETag") != etag || h.Get("Cache-Control") != tarballOptions.CacheControl {
			t.Errorf("X-Larder-Cache %q, ETag %q, Cache-Control %q", h.Get("X-Larder-Cache"), h.Get("ETag"), h.Get("Cache-Control"))
		}
		if n := x.f.count(tarballUpstream); n != 1 {
			t.Errorf("upstream received %d requests, want 1", n)
		}
	})
	t.Run("a Range request gets 206 and the range", func(t *testing.T) {
		x := cached(t)
		got := x.get(t, http.MethodGet, http.Header{"Range": {"bytes=100-199"}})
		mustStatus(t, got, http.StatusPartialContent)
		if !bytes.Equal(got.body, body[100:200]) {
			t.Errorf("the range differs from bytes 100-199")
		}
		if cr := got.resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 100-199/%d", len(body)) {
			t.Errorf("Content-Range = %q", cr)
		}
	})
	t.Run("HEAD gets the length and no body", func(t *testing.T) {
		x := cached(t)
		got := x.get(t, http.MethodHead, nil)
		mustStatus(t, got, http.StatusOK)
		if len(got.body) != 0 || got.resp.ContentLength != int64(len(body)) {
			t.Errorf("HEAD: %d body bytes, Content-Length %d; want none and %d", len(got.body), got.resp.ContentLength, len(body))
		}
	})
	t.Run("a matching If-None-Match gets 304", func(t *testing.T) {
		x := cached(t)
		got := x.get(t, http.MethodGet, http.Header{"If-None-Match": {etag}})
		mustStatus(t, got, http.StatusNotModified)
	})
	t.Run("hits are counted on the row", func(t *testing.T) {
		x := cached(t)
		x.get(t, http.MethodGet, nil)
		x.get(t, http.MethodHead, nil)
		x.e.Hits.Flush(context.Background())
		if a := x.row(t); a.Hits != 3 || a.LastServed.IsZero() {
			t.Errorf("row: %d hits, last served %v; want 3 and a time", a.Hits, a.LastServed)
		}
	})
	t.Run("offline, it is still a HIT", func(t *testing.T) {
		x := cached(t)
		offline := x.e.upstream(t, x.f.URL("/"), Options{Offline: true})
		w := httptest.NewRecorder()
		if err := offline.ServeArtifact(w, httptest.NewRequest(http.MethodGet, "/"+tarballPath, nil), x.row(t), tarballOptions); err != nil {
			t.Fatal(err)
		}
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), body) || w.Header().Get("X-Larder-Cache") != "HIT" {
			t.Errorf("offline: %d, %s, %d bytes; want a 200 HIT with the tarball", w.Code, w.Header().Get("X-Larder-Cache"), w.Body.Len())
		}
		if n := x.f.count(tarballUpstream); n != 1 {
			t.Errorf("upstream received %d requests, want 1", n)
		}
	})
}

func TestArtifactColdRangeAndHeadRequests(t *testing.T) {
	t.Parallel()
	body := randomBytes(largeSize, 3)
	t.Run("a Range request waits for the download and gets 206", func(t *testing.T) {
		x := newArtifactFixture(t, Options{})
		x.f.handle(tarballUpstream, bytesHandler(body))
		x.announce(t, body)
		got := x.get(t, http.MethodGet, http.Header{"Range": {"bytes=-10"}})
		mustStatus(t, got, http.StatusPartialContent)
		if !bytes.Equal(got.body, body[len(body)-10:]) {
			t.Errorf("the range differs from the last 10 bytes")
		}
	})
	t.Run("a HEAD gets the length at once, and the download goes on", func(t *testing.T) {
		x := newArtifactFixture(t, Options{})
		x.f.handle(tarballUpstream, bytesHandler(body))
		x.announce(t, body)
		got := x.get(t, http.MethodHead, nil)
		mustStatus(t, got, http.StatusOK)
		if got.resp.ContentLength != int64(len(body)) || len(got.body) != 0 {
			t.Errorf("HEAD: Content-Length %d, %d body bytes", got.resp.ContentLength, len(got.body))
		}
		waitFillsDone(t, x.u)
		x.assertStored(t, body)
	})
	t.Run("a HEAD of a small artifact that fails its check is not a 200", func(t *testing.T) {
		x := newArtifactFixture(t, Options{})
		small := randomBytes(smallSize, 4)
		wrong := randomBytes(smallSize, 5)
		// The first half, then the rest after a pause: a HEAD that answered
		// when the upstream did would say 200 before the check.
		x.f.handle(tarballUpstream, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(wrong)))
			w.Write(wrong[:len(wrong)/2])
			w.(http.Flusher).Flush()
			time.Sleep(200 * time.Millisecond)
			w.Write(wrong[len(wrong)/2:])
		}))
		x.announce(t, small)
		mustStatus(t, x.get(t, http.MethodHead, nil), http.StatusBadGateway)
		x.assertNothingStored(t)
	})
}

func TestArtifactBadDownloadReachesNoClientWholeAndStoresNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		size    int
		opts    Options
		handler func(f *fakeUpstream, good []byte) http.Handler
		// For a small artifact the status is certain. A large one may have
		// sent its headers before the failure; then the connection is cut.
		wantStatus int
		wantErr    error
	}{
		{"small, with the wrong bytes: a clean 502", smallSize, Options{}, func(f *fakeUpstream, good []byte) http.Handler {
			return bytesHandler(randomBytes(len(good), 99))
		}, http.StatusBadGateway, ErrIntegrity},
		{"large, with the wrong bytes: cut off", largeSize, Options{}, func(f *fakeUpstream, good []byte) http.Handler {
			return bytesHandler(randomBytes(len(good), 99))
		}, http.StatusBadGateway, ErrIntegrity},
		{"large, wrong only in its last byte: cut off", largeSize, Options{}, func(f *fakeUpstream, good []byte) http.Handler {
			bad := bytes.Clone(good)
			bad[len(bad)-1] ^= 1
			return bytesHandler(bad)
		}, http.StatusBadGateway, ErrIntegrity},
		{"small, truncated: a 502", smallSize, Options{}, func(f *fakeUpstream, good []byte) http.Handler {
			return truncatedHandler(good)
		}, http.StatusBadGateway, nil},
		{"large, truncated: cut off", largeSize, Options{}, func(f *fakeUpstream, good []byte) http.Handler {
			return truncatedHandler(good)
		}, http.StatusBadGateway, nil},
		{"small, stalled past IdleTimeout: a 504", smallSize, Options{IdleTimeout: 200 * time.Millisecond}, func(f *fakeUpstream, good []byte) http.Handler {
			return f.stallingHandler(good)
		}, http.StatusGatewayTimeout, errIdle},
		{"large, stalled past IdleTimeout: cut off", largeSize, Options{IdleTimeout: 200 * time.Millisecond}, func(f *fakeUpstream, good []byte) http.Handler {
			return f.stallingHandler(good)
		}, http.StatusGatewayTimeout, errIdle},
		{"the upstream answers 500: a 502", smallSize, Options{}, func(f *fakeUpstream, good []byte) http.Handler {
			return statusHandler(http.StatusInternalServerError)
		}, http.StatusBadGateway, nil},
		{"the upstream answers 404: a 404", smallSize, Options{}, func(f *fakeUpstream, good []byte) http.Handler {
			return statusHandler(http.StatusNotFound)
		}, http.StatusNotFound, ErrNotFound},
		{"over MaxArtifactSize: a 502", smallSize, Options{MaxArtifactSize: smallSize - 1}, func(f *fakeUpstream, good []byte) http.Handler {
			return bytesHandler(good)
		}, http.StatusBadGateway, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newArtifactFixture(t, tt.opts)
			good := randomBytes(tt.size, 4)
			x.f.handle(tarballUpstream, tt.handler(x.f, good))
			x.announce(t, good)

			got := x.get(t, http.MethodGet, nil)
			switch {
			case got.resp == nil:
				// The headers were written but not yet flushed when the
				// download failed: the cut leaves the client no response.
				if tt.size < holdBack {
					t.Fatalf("request failed before a response: %v", got.readErr)
				}
			case got.resp.StatusCode == http.StatusOK:
				if tt.size < holdBack {
					t.Errorf("a small artifact that failed was answered 200")
				}
				if got.readErr == nil {
					t.Errorf("the connection was not cut: the client read %d bytes and a clean end", len(got.body))
				}
				if len(got.body) >= len(good) {
					t.Errorf("the client read %d bytes of a %d-byte artifact that failed", len(got.body), len(good))
				}
			case got.resp.StatusCode != tt.wantStatus:
				t.Errorf("status %d (%s), want %d", got.resp.StatusCode, got.body, tt.wantStatus)
			}
			if bytes.Equal(got.body, good) {
				t.Errorf("the client got the complete artifact")
			}
			if tt.wantErr != nil {
				found := false
				for _, err := range x.serveErrors() {
					found = found || errors.Is(err, tt.wantErr)
				}
				if got.resp != nil && got.resp.StatusCode != http.StatusOK && !found {
					t.Errorf("ServeArtifact returned %v, want an error wrapping %v", x.serveErrors(), tt.wantErr)
				}
			}
			x.assertNothingStored(t)
		})
	}
}

func TestArtifactConcurrentColdRequestsMakeOneUpstreamRequest(t *testing.T) {
	t.Parallel()
	x := newArtifactFixture(t, Options{})
	body := randomBytes(64<<10, 5)
	x.f.handle(tarballUpstream, bytesHandler(body))
	x.announce(t, body)

	const clients = 50
	results := make([]fetched, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := x.srv.Client().Get(x.srv.URL + "/" + tarballPath)
			if err != nil {
				results[i] = fetched{readErr: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			results[i] = fetched{resp, b, err}
		}()
	}
	within(t, "50 concurrent requests", func() bool { wg.Wait(); return true })
	for i, r := range results {
		if r.resp == nil || r.resp.StatusCode != http.StatusOK || r.readErr != nil {
			t.Errorf("client %d: %v, %v", i, r.resp, r.readErr)
			continue
		}
		if !bytes.Equal(r.body, body) {
			t.Errorf("client %d got %d bytes that differ from the tarball", i, len(r.body))
		}
	}
	if n := x.f.count(tarballUpstream); n != 1 {
		t.Errorf("upstream received %d requests for %d concurrent clients, want 1", n, clients)
	}
	waitFillsDone(t, x.u)
	x.assertStored(t, body)
}

func TestArtifactJoinersOfASlowDownloadGetTheWholeBody(t *testing.T) {
	t.Parallel()
	x := newArtifactFixture(t, Options{})
	body := randomBytes(largeSize, 6)
	half := holdBack + holdBack/2 // past holdBack: clients get their headers
	gate := make(chan struct{})
	x.f.handle(tarballUpstream, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:half])
		w.(http.Flusher).Flush()
		select {
		case <-gate:
		case <-x.f.release:
			panic(http.ErrAbortHandler)
		}
		w.Write(body[half:])
	}))
	x.announce(t, body)

	const clients = 5
	resps := make(chan *http.Response, clients)
	for range clients {
		go func() {
			resp, err := x.srv.Client().Get(x.srv.URL + "/" + tarballPath)
			if err != nil {
				t.Error(err)
			}
			resps <- resp
		}()
	}
	// Every client has its headers, so every one has joined the download,
	// while the upstream still holds back the second half.
	var got []*http.Response
	for range clients {
		resp := within(t, "response headers", func() *http.Response { return <-resps })
		if resp == nil {
			t.FailNow()
		}
		defer resp.Body.Close()
		got = append(got, resp)
	}
	close(gate)
	for i, resp := range got {
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Larder-Cache") != "MISS" {
			t.Errorf("client %d: %d %s, want a 200 MISS", i, resp.StatusCode, resp.Header.Get("X-Larder-Cache"))
		}
		b := within(t, "reading a body", func() readResult {
			b, err := io.ReadAll(resp.Body)
			return readResult{b, err}
		})
		if b.err != nil || !bytes.Equal(b.b, body) {
			t.Errorf("client %d: %d bytes, %v; want the whole tarball", i, len(b.b), b.err)
		}
	}
	if n := x.f.count(tarballUpstream); n != 1 {
		t.Errorf("upstream received %d requests, want 1", n)
	}
	waitFillsDone(t, x.u)
	x.assertStored(t, body)
}

func TestArtifactWhoseBlobIsMissingIsFetchedAgain(t *testing.T) {
	t.Parallel()
	x := newArtifactFixture(t, Options{})
	body := randomBytes(smallSize, 7)
	x.f.handle(tarballUpstream, bytesHandler(body))
	x.announce(t, body)
	mustStatus(t, x.get(t, http.MethodGet, nil), http.StatusOK)
	waitFillsDone(t, x.u)

	if err := x.e.Store.Blobs.Delete(context.Background(), storage.DigestOf(body)); err != nil {
		t.Fatal(err)
	}
	got := x.get(t, http.MethodGet, nil)
	mustStatus(t, got, http.StatusOK)
	if !bytes.Equal(got.body, body) {
		t.Errorf("the refetched body differs")
	}
	if c := got.resp.Header.Get("X-Larder-Cache"); c != "MISS" {
		t.Errorf("X-Larder-Cache = %q, want MISS", c)
	}
	if n := x.f.count(tarballUpstream); n != 2 {
		t.Errorf("upstream received %d requests, want 2", n)
	}
	waitFillsDone(t, x.u)
	x.assertStored(t, body)
}

func TestArtifactUncachedWithoutUpstream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        Options
		breakIt     func(u *Upstream)
		wantMessage string
		wantStatus  int // a final 404 either way, so that clients fail fast
	}{
		{"offline", Options{Offline: true}, func(*Upstream) {}, "offline", http.StatusNotFound},
		{"upstream down", Options{FailuresToDown: 1}, func(u *Upstream) { u.Health().Failure(errors.New("connection refused")) }, "unreachable", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name+", an uncached artifact is ErrNotCached", func(t *testing.T) {
			x := newArtifactFixture(t, tt.opts)
			body := randomBytes(100, 8)
			x.f.handle("/", statusHandler(http.StatusInternalServerError)) // keeps a probe failing
			x.f.handle(tarballUpstream, bytesHandler(body))
			x.announce(t, body)
			tt.breakIt(x.u)

			w := httptest.NewRecorder()
			err := x.u.ServeArtifact(w, httptest.NewRequest(http.MethodGet, "/"+tarballPath, nil), x.row(t), tarballOptions)
			if !errors.Is(err, ErrNotCached) || StatusOf(err) != tt.wantStatus {
				t.Fatalf("ServeArtifact = %v, want ErrNotCached and %d", err, tt.wantStatus)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) || !strings.Contains(err.Error(), tarballPath) {
				t.Errorf("message %q does not name the file and say %q", err, tt.wantMessage)
			}
			if n := x.f.count(tarballUpstream); n != 0 {
				t.Errorf("upstream received %d requests", n)
			}
		})
	}
}

func TestArtifactLastByteWaitsForVerification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		corrupt  bool
		wantFull bool
	}{
		{"when the bytes verify, the last byte follows", false, true},
		{"when they do not, the connection is cut instead", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newArtifactFixture(t, Options{})
			good := randomBytes(largeSize, 9)
			sent := bytes.Clone(good)
			if tt.corrupt {
				sent[len(sent)-1] ^= 1
			}
			gate := make(chan struct{})
			// No Content-Length: the upstream sends every byte, then keeps
			// the chunked stream open until the gate opens.
			x.f.handle(tarballUpstream, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write(sent)
				w.(http.Flusher).Flush()
				select {
				case <-gate:
				case <-x.f.release:
					panic(http.ErrAbortHandler)
				}
			}))
			x.announce(t, good)

			resp, err := x.srv.Client().Get(x.srv.URL + "/" + tarballPath)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var mu sync.Mutex
			var got []byte
			readErr := make(chan error, 1)
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := resp.Body.Read(buf)
					mu.Lock()
					got = append(got, buf[:n]...)
					mu.Unlock()
					if err != nil {
						readErr <- err
						return
					}
				}
			}()
			read := func() []byte {
				mu.Lock()
				defer mu.Unlock()
				return got
			}
			eventually(t, "the client has all but the last byte", func() bool { return len(read()) >= len(sent)-1 })
			if n := len(read()); n != len(sent)-1 {
				t.Errorf("before the download ended the client had %d bytes, want all but the last (%d)", n, len(sent)-1)
			}
			close(gate)
			err = within(t, "reading the body", func() error { return <-readErr })
			full := read()
			if tt.wantFull {
				if err != io.EOF || !bytes.Equal(full, good) {
					t.Errorf("client read %d bytes, %v; want the whole tarball", len(full), err)
				}
				waitFillsDone(t, x.u)
				x.assertStored(t, good)
				return
			}
			if err == io.EOF || len(full) >= len(sent) {
				t.Errorf("client read %d of %d bytes and %v; want a cut before the last byte", len(full), len(sent), err)
			}
			x.assertNothingStored(t)
		})
	}
}

// A request that found no row before a fill finished must not start a
// second download of what that fill stored: the count of finished fills it
// read says its finding is out of date, and the row is read again.
func TestAFillStartedOnALookUpMadeBeforeAnotherFinishedFindsTheRowInstead(t *testing.T) {
	x := newArtifactFixture(t, Options{})
	body := randomBytes(smallSize, 7)
	x.f.handle(tarballUpstream, bytesHandler(body))
	x.announce(t, body)
	seen := x.u.finishedCount() // a look-up made now finds nothing held
	if got := x.get(t, http.MethodGet, nil); got.resp.StatusCode != http.StatusOK || !bytes.Equal(got.body, body) {
		t.Fatalf("first request: %d, %d bytes", got.resp.StatusCode, len(got.body))
	}
	waitFillsDone(t, x.u)
	f, err := x.u.startFill(t.Context(), tarballPath, seen, func() *fill {
		t.Error("a second download was started")
		return newFill(x.row(t))
	})
	if err != nil || f != nil {
		t.Errorf("startFill after the row was stored: %v, %v; want no fill", f, err)
	}
	if n := x.f.count(tarballUpstream); n != 1 {
		t.Errorf("the upstream was asked for the tarball %d times, want 1", n)
	}
}
