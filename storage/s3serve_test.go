package storage_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
	"github.com/larder-mirror/larder/storage/backendtest"
)

// serveBucket is one bucket for these tests, each under a prefix of its
// own: SeaweedFS gives every bucket volumes of its own, of which the
// server started for the tests has few.
func serveBucket(t *testing.T) string {
	serveBucketOnce.Do(func() { serveBucketURL = backendtest.NewBucket(t) })
	return serveBucketURL
}

var (
	serveBucketOnce sync.Once
	serveBucketURL  string
)

func putBlob(t *testing.T, b storage.Blobs, content []byte) storage.Digest {
	t.Helper()
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	w.Write(content)
	d, _, err := w.Commit(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestServingAnS3BlobTakesOneGETAndNoHEAD(t *testing.T) {
	s3 := backendtest.WatchS3(t)
	b, _ := newS3Blobs(t, withPrefix(s3.Bucket(serveBucket(t)), "one-get"))
	content := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	d := putBlob(t, b, content)

	for _, tc := range []struct {
		name       string
		header     http.Header
		wantStatus int
		wantBody   []byte
		wantRanges []string
	}{
		{"a whole blob is one GET", nil, http.StatusOK, content, []string{""}},
		{"a range near the start reads on the same GET", http.Header{"Range": {"bytes=1000-1999"}}, http.StatusPartialContent, content[1000:2000], []string{""}},
		{"a range far in is one more GET, of that range on", http.Header{"Range": {"bytes=900000-900099"}}, http.StatusPartialContent, content[900000:900100], []string{"", "bytes=900000-"}},
		{"a suffix range", http.Header{"Range": {"bytes=-10"}}, http.StatusPartialContent, content[len(content)-10:], []string{"", "bytes=1048566-"}},
		{"a matching If-None-Match is answered without reading", http.Header{"If-None-Match": {`"x"`}}, http.StatusNotModified, nil, []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s3.Take()
			rc, size, err := b.Open(t.Context(), d)
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(len(content)) {
				t.Errorf("Open size = %d, want %d", size, len(content))
			}
			r := httptest.NewRequest(http.MethodGet, "/blob", nil)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			w.Header().Set("Etag", `"x"`)
			// As larder does: else ServeContent sniffs the first bytes
			// and seeks back, which costs a GET more.
			w.Header().Set("Content-Type", "application/octet-stream")
			http.ServeContent(w, r, "", time.Time{}, rc)
			rc.Close()
			if w.Code != tc.wantStatus || !bytes.Equal(w.Body.Bytes(), tc.wantBody) {
				t.Errorf("status %d, %d bytes; want %d, %d bytes", w.Code, w.Body.Len(), tc.wantStatus, len(tc.wantBody))
			}
			var ranges []string
			for _, r := range s3.Take() {
				if r.Method != http.MethodGet {
					t.Errorf("a %s request reached the store, want GETs alone", r.Method)
					continue
				}
				ranges = append(ranges, r.Range)
			}
			if strings.Join(ranges, "|") != strings.Join(tc.wantRanges, "|") {
				t.Errorf("GETs with ranges %q, want %q", ranges, tc.wantRanges)
			}
		})
	}
}

func TestAnS3BlobCutShortReadsAsAnError(t *testing.T) {
	// A proxy of the test's own, to close under the reader.
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(mustParse(t, backendtest.S3(t))))
	defer proxy.Close()
	bucket := withPrefix(serveBucket(t), "cut-short")
	b, _ := newS3Blobs(t, bucket[:strings.IndexByte(bucket, '?')]+"?endpoint="+proxy.URL+"&region=us-east-1")
	content := bytes.Repeat([]byte("x"), 300<<10)
	d := putBlob(t, b, content)
	rc, _, err := b.Open(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// Seek past the end of what a read-on may skip, then close the proxy:
	// the ranged GET fails rather than reading as a short blob.
	rc.Seek(int64(len(content)-10), io.SeekStart)
	proxy.Close()
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("reading on after the store went away succeeded")
	}
}

func TestAPresignedURLGetsTheBlobAndNothingElse(t *testing.T) {
	bucket := withPrefix(serveBucket(t), "presigned")
	if b, _ := newS3Blobs(t, bucket); b != nil {
		if _, err := b.PresignGet(t.Context(), storage.DigestOf(nil), time.Minute); err == nil {
			t.Error("PresignGet with anonymous credentials succeeded")
		}
	}
	for _, kv := range backendtest.S3Credentials() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	b, _ := newS3Blobs(t, bucket)
	content := []byte("a wheel, say")
	d := putBlob(t, b, content)
	u, err := b.PresignGet(t.Context(), d, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "X-Amz-Signature=") || !strings.Contains(u, "X-Amz-Expires=60") {
		t.Errorf("PresignGet = %s; want a SigV4 URL good for 60 s", u)
	}
	get := func(u string, header ...string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(u); code != 200 || body != string(content) {
		t.Errorf("GET of the presigned URL: %d %q", code, body)
	}
	if code, body := get(u, "Range", "bytes=2-6"); code != 206 || body != "wheel" {
		t.Errorf("a range of the presigned URL: %d %q", code, body)
	}
	other := strings.Replace(u, string(d), string(storage.DigestOf([]byte("another"))), 1)
	tampered := strings.Replace(u, "X-Amz-Signature=", "X-Amz-Signature=0", 1)
	for name, bad := range map[string]string{"another object": other, "a tampered signature": tampered} {
		if code, _ := get(bad); code != http.StatusForbidden {
			t.Errorf("%s under the URL's signature: %d, want 403", name, code)
		}
	}
	if _, err := b.PresignGet(t.Context(), "not-a-digest", time.Minute); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("PresignGet of a malformed digest = %v; want ErrNotFound", err)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
