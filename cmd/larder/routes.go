package main

import (
	"context"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/larder-mirror/larder/cmd/larder/front"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
	"github.com/larder-mirror/larder/web"
)

func (a *app) handler() http.Handler {
	r := a.router()
	// A repair of the handlers' own answer to a range no representation
	// has (see ranges.go), not middleware: a quick answer never takes a
	// Range.
	return withoutEmptySuffixRanges(r)
}

// router routes what the quick path leaves to the handlers. It has no
// middleware of its own, and must keep none: what applies to every request
// (access rules, the request log) is the front's chain (app.chain), which
// both engines run around quick answers and handlers alike; a router's
// middleware would miss the quick answers.
func (a *app) router() *chi.Mux {
	r := chi.NewRouter()
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
	r.Handle("/@*", viewHandler(a.regs))
	for _, reg := range a.regs {
		prefix := "/" + reg.Name()
		h := http.StripPrefix(prefix, registries.Mount(reg))
		r.Handle(prefix+"/*", h)
		r.Handle(prefix, http.RedirectHandler(prefix+"/", http.StatusMovedPermanently))
	}
	return r
}

// chain is the middleware every request goes through, under either engine,
// quick answers included: the request log, then the access rules (so that
// refusals are logged too).
func (a *app) chain(acl *access) front.Chain {
	c := front.Chain{requestLogger{log: a.log, out: a.requests}, a.httpMetrics}
	if acl != nil && acl.active() {
		c = append(c, acl)
	}
	return c
}
