package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
	"github.com/larder-mirror/larder/web"
)

func (a *app) handler() http.Handler {
	r := chi.NewRouter()
	r.Use(a.accessLog)
	r.Use(withoutEmptySuffixRanges)
	// Load balancers probe with HEAD as often as with GET.
	healthz := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }
	r.Get("/healthz", healthz)
	r.Head("/healthz", healthz)
	r.Get("/readyz", a.ready)
	r.Head("/readyz", a.ready)
	if shared, ok := a.store.Blobs.(storage.SharedOpener); ok {
		// Registered with the route it is read through. Register, not
		// MustRegister: a second handler of one app serves the same gauge.
		a.metrics.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "larder_blob_files_open",
			Help: "Blob files held open to be sent by sendfile, in use or kept for the next request (at most 256 unused, each for a minute).",
		}, func() float64 { return float64(shared.OpenFiles()) }))
	}
	r.Handle("/metrics", promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{}))
	// The UI and its JSON API answer everything the routes above and the
	// registry mounts below do not.
	ui := web.New(web.Config{Registries: a.regs, Store: a.store, DataDir: a.cfg.Data, PublicURL: a.cfg.PublicURL, Log: a.log})
	go ui.Warm(context.Background())
	r.Handle("/", ui)
	r.Handle("/*", ui)
	for _, reg := range a.regs {
		prefix := "/" + reg.Name()
		h := http.StripPrefix(prefix, registries.Mount(reg))
		r.Handle(prefix+"/*", h)
		r.Handle(prefix, http.RedirectHandler(prefix+"/", http.StatusMovedPermanently))
	}
	return r
}

// accessLog writes one line per request.
func (a *app) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if !a.log.Enabled(r.Context(), slog.LevelInfo) {
				return
			}
			end := time.Now()
			a.requests.write(requestEntry{
				at:     end,
				method: r.Method,
				path:   r.URL.RequestURI(),
				status: sw.status,
				bytes:  sw.bytes,
				cache:  registries.HeaderValue(sw.Header(), "X-Larder-Cache"),
				took:   end.Sub(start),
				remote: r.RemoteAddr,
			})
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter records the status and size of a response. It keeps
// io.ReaderFrom (sendfile), registries.KeepingWriter, http.Flusher and
// http.Hijacker reachable.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

func (s *statusWriter) WriteKept(p []byte) (int, error) {
	var n int
	var err error
	if k, ok := s.ResponseWriter.(registries.KeepingWriter); ok {
		n, err = k.WriteKept(p)
	} else {
		n, err = s.ResponseWriter.Write(p)
	}
	s.bytes += int64(n)
	return n, err
}

func (s *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		// HTTP/2's writer has no ReadFrom; hide ours from io.Copy.
		n, err = io.Copy(struct{ io.Writer }{s.ResponseWriter}, r)
	}
	s.bytes += n
	return n, err
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := s.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, fmt.Errorf("hijacking not supported")
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
