package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// newTrickleProxy stands between larder and an upstream and sends every body
// slowly, chunk bytes every pause, so that a test can act mid-download.
func newTrickleProxy(t *testing.T, target string, chunk int, pause time.Duration) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, body, err := fetch(strings.TrimSuffix(target, "/")+r.URL.RequestURI(), r.Header.Get("Accept"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		copyHeaders(w, resp, len(body))
		w.WriteHeader(resp.StatusCode)
		for off := 0; off < len(body); off += chunk {
			end := min(off+chunk, len(body))
			if _, err := w.Write(body[off:end]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(pause):
			case <-done:
				return
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(func() { close(done); srv.CloseClientConnections(); srv.Close() })
	return srv
}

// forwardProxy is an HTTP forward proxy (as HTTP_PROXY names) that sends
// every request for any host to target, and counts them.
type forwardProxy struct {
	*httptest.Server
	n atomic.Int64
}

func (p *forwardProxy) count() int { return int(p.n.Load()) }

func newForwardProxy(t *testing.T, target string) *forwardProxy {
	t.Helper()
	p := &forwardProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		p.n.Add(1)
		resp, body, err := fetch(strings.TrimSuffix(target, "/")+r.URL.RequestURI(), r.Header.Get("Accept"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		copyHeaders(w, resp, len(body))
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}))
	t.Cleanup(p.Close)
	return p
}

func fetch(url, accept string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("User-Agent", "larder/test-proxy")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// copyHeaders passes an upstream's headers on, for a body already decoded.
func copyHeaders(w http.ResponseWriter, resp *http.Response, n int) {
	for k, vs := range resp.Header {
		switch k {
		case "Content-Length", "Content-Encoding", "Transfer-Encoding", "Connection":
			continue
		}
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(n))
}
