package registries

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/larder-mirror/larder/storage"
	"github.com/larder-mirror/larder/storage/backendtest"
)

// newRedirectFixture is an artifact fixture whose store is a bucket of a
// real SeaweedFS, with blob_redirect on and credentials that sign.
func newRedirectFixture(t *testing.T) *artifactFixture {
	t.Helper()
	for _, kv := range backendtest.S3Credentials() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	store, err := storage.OpenWith(context.Background(), t.TempDir(), storage.Backends{BlobStore: backendtest.NewBucket(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	store.SetMemoryCache(false)
	log := slog.New(slog.DiscardHandler)
	hits := NewHitRecorder(store.DB, log, time.Hour)
	t.Cleanup(hits.Close)
	reg := prometheus.NewRegistry()
	e := &testEnv{Env: Env{Store: store, Metrics: NewMetrics(reg), Renders: NewRenderCache(0), Hits: hits, Log: log,
		NoMemoryCache: true, BlobRedirect: time.Minute}, reg: reg}
	x := &artifactFixture{e: e, f: newFakeUpstream(t)}
	x.u = e.upstream(t, x.f.URL("/"), Options{})
	x.srv = httptest.NewServer(http.HandlerFunc(x.serve))
	t.Cleanup(x.srv.Close)
	return x
}

func TestBlobRedirectSendsClientsToTheStoreOnlyForWhatIsHeld(t *testing.T) {
	body := randomBytes(smallSize, 7)
	x := newRedirectFixture(t)
	x.f.handle(tarballUpstream, bytesHandler(body))
	x.announce(t, body)
	etag := `"sha256-` + string(storage.DigestOf(body)) + `"`
	redirects := func() float64 { return x.e.metricValue(t, "larder_artifact_redirects_total", "registry", testRegistry) }

	// Cold: streamed by larder, the bytes checked on the way.
	got := x.get(t, http.MethodGet, nil)
	mustStatus(t, got, http.StatusOK)
	if !bytes.Equal(got.body, body) || redirects() != 0 {
		t.Fatalf("a cold GET: %d bytes, %v redirects; want the tarball and none", len(got.body), redirects())
	}
	x.assertStored(t, body)

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ask := func(method string, header ...string) *http.Response {
		req, _ := http.NewRequest(method, x.srv.URL+"/"+tarballPath, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		name   string
		method string
		header []string
		want   int
	}{
		{"a plain GET is redirected", "GET", nil, http.StatusTemporaryRedirect},
		{"a single range is redirected", "GET", []string{"Range", "bytes=0-9"}, http.StatusTemporaryRedirect},
		{"If-None-Match with another ETag is redirected", "GET", []string{"If-None-Match", `"md5"`}, http.StatusTemporaryRedirect},
		{"If-None-Match with its ETag is a 304 from larder", "GET", []string{"If-None-Match", etag}, http.StatusNotModified},
		{"HEAD is answered by larder", "HEAD", nil, http.StatusOK},
		{"several ranges are sent by larder", "GET", []string{"Range", "bytes=0-9,20-29"}, http.StatusPartialContent},
		{"If-Match is judged by larder", "GET", []string{"If-Match", `"other"`}, http.StatusPreconditionFailed},
		{"If-Range is judged by larder", "GET", []string{"Range", "bytes=0-9", "If-Range", etag}, http.StatusPartialContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := redirects()
			resp := ask(tc.method, tc.header...)
			if resp.StatusCode != tc.want {
				t.Fatalf("%d, want %d", resp.StatusCode, tc.want)
			}
			redirected := redirects() - before
			if (tc.want == http.StatusTemporaryRedirect) != (redirected == 1) {
				t.Errorf("%v redirects counted", redirected)
			}
			if tc.want != http.StatusTemporaryRedirect {
				return
			}
			h := resp.Header
			if h.Get("Cache-Control") != "no-store" || h.Get("X-Larder-Cache") != "HIT" || h.Get("Etag") != "" {
				t.Errorf("Cache-Control %q, X-Larder-Cache %q, ETag %q; want no-store, HIT, none", h.Get("Cache-Control"), h.Get("X-Larder-Cache"), h.Get("Etag"))
			}
			loc := h.Get("Location")
			if !strings.HasPrefix(loc, backendtest.S3(t)+"/") || !strings.Contains(loc, "X-Amz-Expires=60") {
				t.Errorf("Location %q: want a URL of the store good for blob_redirect's minute", loc)
			}
		})
	}

	// Following the redirect gets the bytes; the quick path redirects too,
	// except for HEAD.
	resp, err := x.srv.Client().Get(x.srv.URL + "/" + tarballPath)
	if err != nil {
		t.Fatal(err)
	}
	followed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(followed, body) {
		t.Errorf("following the redirect: %d, %d bytes; want the tarball", resp.StatusCode, len(followed))
	}
	if q, ok := x.u.Quick(Request{Path: tarballPath}, tarballPath, tarballOptions); !ok || q.Status() != http.StatusTemporaryRedirect || q.Location == "" {
		t.Errorf("the quick path: %v, status %d; want a redirect", ok, q.Status())
	}
	if q, ok := x.u.Quick(Request{Path: tarballPath, Head: true}, tarballPath, tarballOptions); ok && q.Location != "" {
		t.Error("the quick path redirects a HEAD")
	}
	before := redirects()
	warm := httptest.NewRecorder()
	warmReq := httptest.NewRequestWithContext(NotServed(context.Background()), http.MethodGet, "/"+tarballPath, nil)
	if err := x.u.ServeArtifact(warm, warmReq, x.row(t), tarballOptions); err != nil || warm.Code != 200 || !bytes.Equal(warm.Body.Bytes(), body) || redirects() != before {
		t.Errorf("a warm fill: %d, %d bytes, %v; want the bytes, not a redirect", warm.Code, warm.Body.Len(), err)
	}
	x.e.Hits.Flush(context.Background())
	if a := x.row(t); a.Hits < 9 {
		t.Errorf("the row counts %d hits; redirects are hits too", a.Hits)
	}

	// Evicted: the row no longer says held, so nobody is sent to the
	// store; the next client is served a fresh fetch, streamed.
	if _, err := x.e.Store.GC(context.Background(), storage.GCOptions{MaxSize: 1}); err != nil {
		t.Fatal(err)
	}
	before = redirects()
	if resp := ask("GET"); resp.StatusCode != http.StatusOK || redirects() != before {
		t.Errorf("after eviction: %d, %v redirects; want the bytes fetched again", resp.StatusCode, redirects()-before)
	}
	if n := x.f.count(tarballUpstream); n != 2 {
		t.Errorf("the upstream saw %d requests, want 2 (before and after the eviction)", n)
	}
}
