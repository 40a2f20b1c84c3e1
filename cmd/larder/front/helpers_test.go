package front

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// startFront serves h with the fasthttp front on a loopback port.
func startFront(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := New(Config{Handler: h})
	done := make(chan struct{})
	go func() {
		f.Serve(ln)
		close(done)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.Shutdown(ctx)
		<-done
	})
	return "http://" + ln.Addr().String()
}

// startStd serves h with net/http's server, as larder runs it.
func startStd(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(NetHTTP(nil, h))
	srv.Config.ConnContext = ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// engines runs a test against the front and against net/http's own server:
// the front must look the same to a handler and to a client.
func engines(t *testing.T, h http.Handler, test func(t *testing.T, base string)) {
	t.Run("fasthttp", func(t *testing.T) { test(t, startFront(t, h)) })
	t.Run("net/http", func(t *testing.T) { test(t, startStd(t, h)) })
}

var noProxy = &http.Client{
	Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// lockedBuffer is a log sink safe for handlers on many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
