package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/larder-mirror/larder/cmd/larder/front"
)

// plain serves h alone: no quick answers, no middleware.
func plain(h http.Handler) serving { return serving{handler: h} }

// startFront serves s with the fasthttp front on a loopback port.
func startFront(t *testing.T, s serving) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := s.fast(slog.New(slog.NewTextHandler(io.Discard, nil)))
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

// startStd serves s with net/http's server, as serve does.
func startStd(t *testing.T, s serving) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(s.std())
	srv.Config.ConnContext = front.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// engines runs a test against the front and against net/http's own
// server: larder must look the same to a client under either.
func engines(t *testing.T, s serving, test func(t *testing.T, base string)) {
	t.Run("fasthttp", func(t *testing.T) { test(t, startFront(t, s)) })
	t.Run("net/http", func(t *testing.T) { test(t, startStd(t, s)) })
}

var noProxy = &http.Client{
	Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
