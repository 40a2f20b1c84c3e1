package main

import (
	"bufio"
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (a *app) handler() http.Handler {
	r := chi.NewRouter()
	r.Use(a.accessLog)
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	r.Get("/readyz", a.ready)
	r.Handle("/metrics", promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{}))
	r.Get("/", a.index)
	for _, reg := range a.regs {
		prefix := "/" + reg.Name()
		h := http.StripPrefix(prefix, reg.Handler())
		r.Handle(prefix+"/*", h)
		r.Handle(prefix, http.RedirectHandler(prefix+"/", http.StatusMovedPermanently))
	}
	return r
}

// ready is 200 when the database answers and the blob folder takes writes.
func (a *app) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	f, err := os.CreateTemp(filepath.Join(a.cfg.Data, "blobs", "tmp"), "ready-*")
	if err != nil {
		http.Error(w, "blob store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	f.Close()
	os.Remove(f.Name())
	io.WriteString(w, "ready\n")
}

var indexPage = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>larder</title></head><body>
<h1>larder</h1>
<p>A protocol-aware mirror for package registries.</p>
{{range .}}<h2>{{.Name}} ({{.Kind}})</h2>
<p>Upstream health: {{if .Up}}up{{else}}down{{end}}</p>
{{range .Snippets}}<h3>{{.Client}}</h3><pre>{{.Shell}}</pre>{{if .Note}}<p>{{.Note}}</p>{{end}}{{end}}
{{end}}
<p><a href="/metrics">metrics</a></p>
</body></html>
`))

func (a *app) index(w http.ResponseWriter, r *http.Request) {
	type regView struct {
		Name, Kind string
		Up         bool
		Snippets   any
	}
	var views []regView
	for i, reg := range a.regs {
		base := a.cfg.PublicURL
		if base == "" {
			base = "http://" + r.Host
		}
		views = append(views, regView{reg.Name(), reg.Kind(), a.upstreams[i].Health().Up(), reg.ClientSetup(base + "/" + reg.Name() + "/")})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	indexPage.Execute(w, views)
}

// accessLog writes one line per request.
func (a *app) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			a.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.RequestURI()),
				slog.Int("status", sw.status),
				slog.Int64("bytes", sw.bytes),
				slog.String("cache", sw.Header().Get("X-Larder-Cache")),
				slog.Duration("took", time.Since(start)),
				slog.String("remote", r.RemoteAddr),
			)
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter records the status and size of a response. It keeps
// io.ReaderFrom (sendfile), http.Flusher and http.Hijacker reachable.
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

func (s *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := s.ResponseWriter.(io.ReaderFrom).ReadFrom(r)
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
