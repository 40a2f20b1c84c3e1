package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Config is what the UI needs from the rest of larder.
type Config struct {
	// Registries are the mounted registries, shown in this order.
	Registries []registries.Registry
	// Store is the data store the pages read.
	Store *storage.Store
	// DataDir is the data folder; the overview shows its volume's free
	// space. "" shows none.
	DataDir string
	// PublicURL is larder's external base URL (behind a reverse proxy);
	// "" means the scheme and Host of each request. Links the UI makes
	// to itself keep its path.
	PublicURL string
	// Log receives the errors behind 500 pages; nil discards them.
	Log *slog.Logger
	// CatalogMaxAge is how old a registry's package list may grow before it
	// is read again (in the background, the old one answering meanwhile).
	// Zero means 5 seconds; negative reads on every request (tests).
	CatalogMaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler serves the UI and the JSON API.
type Handler struct {
	cfg       Config
	regs      map[string]registries.Registry
	catalog   *storage.Catalog
	publicURL string // without a trailing "/"
	prefix    string // the path of PublicURL, e.g. "/larder", or ""
	now       func() time.Time
	log       *slog.Logger
	pages     map[string]*template.Template
	mux       *http.ServeMux
}

// New builds the handler. Mount it at "/": it answers its own paths and a
// 404 page for the rest.
func New(cfg Config) *Handler {
	h := &Handler{
		cfg:       cfg,
		regs:      map[string]registries.Registry{},
		catalog:   storage.NewCatalog(cfg.Store.DB, cfg.CatalogMaxAge),
		publicURL: strings.TrimSuffix(cfg.PublicURL, "/"),
		now:       cfg.Now,
		log:       cfg.Log,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.publicURL != "" {
		if u, err := url.Parse(h.publicURL); err == nil {
			h.prefix = strings.TrimSuffix(u.Path, "/")
		}
	}
	for _, r := range cfg.Registries {
		h.regs[r.Name()] = r
	}
	h.pages = parsePages(h.funcs())

	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", h.overviewPage)
	m.HandleFunc("GET /setup", h.setupPage)
	m.HandleFunc("GET /r/{registry}", h.registryPage)
	m.HandleFunc("GET /r/{registry}/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, h.prefix+"/r/"+url.PathEscape(r.PathValue("registry")), http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /r/{registry}/p/{name...}", h.packagePage)
	m.HandleFunc("GET /static/{file}", serveAsset)
	m.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("file", "favicon.svg")
		serveAsset(w, r)
	})
	m.HandleFunc("GET /api/v1/registries", h.apiRegistries)
	m.HandleFunc("GET /api/v1/registries/{registry}", h.apiRegistry)
	m.HandleFunc("GET /api/v1/registries/{registry}/packages", h.apiPackages)
	m.HandleFunc("GET /api/v1/registries/{registry}/packages/{name...}", h.apiPackage)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		h.writeJSONError(w, http.StatusNotFound, "no such API path: "+r.URL.Path)
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.notFound(w, r, "Page not found", "There is no page at "+r.URL.Path+".")
	})
	h.mux = m
	return h
}

// Warm reads every registry's package list ahead of the first visit: with
// 100,000 packages that read takes a good part of a second.
func (h *Handler) Warm(ctx context.Context) {
	for _, reg := range h.cfg.Registries {
		if _, err := h.catalog.List(ctx, reg.Name(), storage.PackageQuery{Limit: 1}); err != nil {
			h.log.Warn("reading the package list for the UI", "registry", reg.Name(), "err", err)
		}
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// Nothing inline: every style and script is a file under /static/.
	hd.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// The UI only reads.
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the UI and its API only read", http.StatusMethodNotAllowed)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// origin is larder's base URL as the client sees it, without a trailing "/".
func (h *Handler) origin(r *http.Request) string {
	if h.publicURL != "" {
		return h.publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// registryBase is the URL clients point at for a registry, ending in "/".
func (h *Handler) registryBase(r *http.Request, reg registries.Registry) string {
	return h.origin(r) + "/" + url.PathEscape(reg.Name()) + "/"
}

// registry finds the registry a path names.
func (h *Handler) registry(r *http.Request) (registries.Registry, bool) {
	reg, ok := h.regs[r.PathValue("registry")]
	return reg, ok
}

// Paths of the UI's own pages, under the prefix.

func (h *Handler) registryPath(name string) string { return h.prefix + "/r/" + url.PathEscape(name) }

func (h *Handler) packagePath(registry, pkg string) string {
	return h.registryPath(registry) + "/p/" + escapeSegments(pkg)
}

func (h *Handler) apiRegistryPath(name string) string {
	return h.prefix + "/api/v1/registries/" + url.PathEscape(name)
}

func (h *Handler) apiPackagePath(registry, pkg string) string {
	return h.apiRegistryPath(registry) + "/packages/" + escapeSegments(pkg)
}

// escapeSegments escapes each "/"-separated part of a name such as
// "@scope/name", keeping the slashes.
func escapeSegments(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// page is what every HTML page's layout reads.
type page struct {
	Title      string
	Nav        string // "overview", "setup", or a registry's name
	Prefix     string
	Registries []string
	Data       any
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes a page into a buffer first: a template error is a 500
// page, never half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Prefix = h.prefix
	for _, reg := range h.cfg.Registries {
		p.Registries = append(p.Registries, reg.Name())
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := h.pages[name].ExecuteTemplate(buf, "layout", p); err != nil {
		h.log.Error("rendering a page", "page", name, "path", r.URL.Path, "err", err)
		if name != "error" {
			h.serverError(w, r, errors.New("the page could not be rendered"))
		} else {
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// link is a way somewhere, for error pages.
type link struct {
	Href, Text string
}

type errorData struct {
	Status  int
	Heading string
	Message string
	Links   []link
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, message string, links ...link) {
	links = append(links, link{h.prefix + "/", "Back to the overview"})
	h.render(w, r, status, "error", page{Title: heading, Data: errorData{status, heading, message, links}})
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, heading, message string, links ...link) {
	h.errorPage(w, r, http.StatusNotFound, heading, message, links...)
}

func (h *Handler) noSuchRegistry(w http.ResponseWriter, r *http.Request) {
	h.notFound(w, r, "No such registry", "larder has no registry named “"+r.PathValue("registry")+"”.")
}

func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("web", "path", r.URL.Path, "err", err)
	h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong",
		"larder could not answer this page: "+registries.ErrorMessage(err)+". The log has the details.")
}

func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	enc := json.NewEncoder(buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		h.log.Error("encoding JSON", "path", r.URL.Path, "err", err)
		h.writeJSONError(w, http.StatusInternalServerError, "encoding the answer failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

func (h *Handler) writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
