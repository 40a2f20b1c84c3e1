package backendtest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// S3Watch is a reverse proxy in front of the S3 server (see S3) that
// records the requests for blobs that reach it: a test sees whether a
// client, or larder, asked the store for an object, and how. Requests
// pass with their Host header, so URLs presigned for the watch's address
// are checked against that address, as signed.
type S3Watch struct {
	URL string // http://127.0.0.1:PORT
	mu  sync.Mutex
	got []S3Request
}

// S3Request is one request for a blob that reached the store.
type S3Request struct {
	Method, Path, Range, UserAgent string
	Query                          url.Values
}

// Presigned reports whether the request was made with a presigned URL
// (a signature in the query, as blob_redirect hands clients).
func (r S3Request) Presigned() bool { return r.Query.Get("X-Amz-Signature") != "" }

// WatchS3 starts a watch in front of the S3 server, stopped when t ends.
func WatchS3(t testing.TB) *S3Watch {
	t.Helper()
	target, err := url.Parse(S3(t))
	if err != nil {
		t.Fatal(err)
	}
	w := &S3Watch{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/sha256/") {
			proxy.ServeHTTP(rw, r)
			return
		}
		// Recorded as it arrives: a reader that stops early closes its
		// response long before the proxy is done with it.
		w.mu.Lock()
		w.got = append(w.got, S3Request{Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range"),
			UserAgent: r.Header.Get("User-Agent"), Query: r.URL.Query()})
		w.mu.Unlock()
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// Bucket is bucketURL (from NewBucket) reached through the watch.
func (w *S3Watch) Bucket(bucketURL string) string {
	return bucketURL[:strings.IndexByte(bucketURL, '?')] + "?endpoint=" + w.URL + "&region=us-east-1"
}

// Take returns the requests seen since the last Take, and forgets them.
func (w *S3Watch) Take() []S3Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	got := w.got
	w.got = nil
	return got
}
