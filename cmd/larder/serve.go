package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/larder-mirror/larder/cmd/larder/front"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n\n", serveUsage)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "TOML configuration file")
	listen := fs.String("listen", "", "address to listen on (default 127.0.0.1:7070)")
	data := fs.String("data", "", "data folder (default ./larder-data)")
	offline := fs.Bool("offline", false, "never contact any upstream; serve only what is cached")
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return strayArgument("serve", pos[0])
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			cfg.Listen = *listen
		case "data":
			cfg.Data = *data
		case "offline":
			cfg.Offline = *offline
		}
	})
	if err := cfg.validate("flags"); err != nil {
		return err
	}
	where := *configPath
	if where == "" {
		where = "flags"
	}
	tlsConfig, err := cfg.loadTLS(where)
	if err != nil {
		return err
	}

	logOut := newLogBuffer(os.Stderr, 200*time.Millisecond)
	defer logOut.Close()
	log := newLogger(cfg, logOut)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	acl, err := newAccess(cfg)
	if err != nil {
		return err
	}
	// The address first: a port in use must not leave a new, empty data
	// folder behind.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	app, err := newApp(ctx, cfg, log, newRequestLog(cfg, logOut))
	if err != nil {
		ln.Close()
		return err
	}
	defer app.close()
	// gc, verify and export reach the folder through this process while
	// it holds it.
	stopControl := app.listenControl(log)
	defer stopControl()
	engines := app.serving(acl)
	srv := &http.Server{
		Handler:           engines.std(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       front.ConnContext,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	if max, _ := parseSize(cfg.MaxCacheSize); max > 0 && !app.store.ReadOnly() {
		go app.keepCacheUnder(ctx, max, 10*time.Minute)
	}
	var fast *front.Server
	if cfg.engine() == engineFast {
		fast = engines.fast(log)
	}
	errc := make(chan error, 1)
	go func() {
		switch {
		case cfg.TLSCert != "":
			errc <- srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig, read at start-up
		case fast != nil:
			errc <- fast.Serve(ln)
		default:
			errc <- srv.Serve(ln)
		}
	}()
	for _, r := range app.regs {
		scheme := "http://"
		if cfg.TLSCert != "" {
			scheme = "https://"
		}
		log.Info("mounted", "registry", r.Name(), "kind", r.Kind(), "url", scheme+ln.Addr().String()+"/"+r.Name()+"/")
		if k, ok := kindNamed(r.Kind()); ok && !k.DatesReleases && cfg.MinReleaseAge != "" && cfg.MinReleaseAge != "0" {
			log.Warn("min_release_age does not reach this registry: its kind does not date its releases", "registry", r.Name(), "kind", r.Kind())
		}
	}
	log.Info("larder is serving", "listen", ln.Addr().String(), "data", cfg.Data, "offline", cfg.Offline, "read_only", app.store.ReadOnly(), "http_engine", cfg.engine(),
		"database", databaseName(cfg), "blob_store", blobStoreName(cfg))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shutdown := srv.Shutdown
	if fast != nil {
		shutdown = fast.Shutdown
	}
	if err := shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := parseLogLevel(cfg.LogLevel) // checked by validate
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serving is what larder serves, for either HTTP engine: one handler,
// one chain of middleware, and the quick answers the front gives itself.
type serving struct {
	handler http.Handler
	quick   front.Quick
	chain   front.Chain
}

func (a *app) serving(acl *access) serving {
	return serving{handler: a.handler(), quick: newQuickHits(a.regs).serve, chain: a.chain(acl)}
}

// fast is the fasthttp front.
func (e serving) fast(log *slog.Logger) *front.Server {
	return front.New(front.Config{Handler: e.handler, Quick: e.quick, Chain: e.chain, Log: log})
}

// std is the handler for net/http's server, whose ConnContext must be
// front.ConnContext.
func (e serving) std() http.Handler { return front.NetHTTP(e.chain, e.handler) }

// app is a running larder: the store, the mounted registries and what they share.
type app struct {
	cfg         Config
	log         *slog.Logger
	requests    *requestLog // one line a request, at level info
	store       *storage.Store
	env         registries.Env
	regs        []registries.Registry
	upstreams   []*registries.Upstream
	metrics     *prometheus.Registry
	httpMetrics *httpMetrics
	minFree     int64         // min_free_space, for /readyz
	cacheBytes  atomic.Int64  // the cache's size as of the last eviction, plus what was stored since
	cacheFull   chan struct{} // wakes keepCacheUnder
	notReady    atomic.Bool   // the last /readyz failed: log only changes
}

func newApp(ctx context.Context, cfg Config, log *slog.Logger, requests *requestLog) (*app, error) {
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	// Start-up applies pending migrations (larder migrate does the same on
	// its own): say which, as migrate would.
	if applied := store.AppliedAtOpen(); len(applied) > 0 {
		log.Info("applied database migrations at start-up", "database", databaseName(cfg), "migrations", strings.Join(applied, ","))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var names []string
	for _, rc := range cfg.Registry {
		names = append(names, rc.Name)
	}
	cacheLimit, _ := parseSize(cfg.MaxCacheSize) // checked by validate
	registerStoreMetrics(reg, store, names, cacheLimit)
	renderBytes, _ := parseSize(cfg.RenderCache)
	a := &app{cfg: cfg, log: log, requests: requests, store: store, metrics: reg, cacheFull: make(chan struct{}, 1)}
	a.minFree, _ = parseSize(cfg.MinFreeSpace) // checked by validate
	store.OnCorrupt(a.reportCorrupt)
	store.OnLocksLost(func(keys []string, err error) {
		log.Warn("cluster locks lost with their PostgreSQL session: other nodes may take them while their holders here finish; the next lock opens a new session",
			"locks", keys, "err", err)
	})
	store.SetMemoryCache(cfg.MemoryCache)
	a.env = registries.Env{
		Store:         store,
		Metrics:       registries.NewMetrics(reg),
		Renders:       registries.NewRenderCache(renderBytes),
		Hits:          registries.NewHitRecorder(store.DB, log, 5*time.Second),
		Log:           log,
		NoMemoryCache: !cfg.MemoryCache,
		BlobRedirect:  cfg.blobRedirect(),
	}
	if max, _ := parseSize(cfg.MaxCacheSize); max > 0 {
		a.env.Stored = a.stored(max)
	}
	for _, rc := range cfg.Registry {
		opts, err := registryOptions(cfg, rc)
		if err != nil {
			a.close()
			return nil, err
		}
		up := registries.NewUpstream(a.env, opts)
		a.upstreams = append(a.upstreams, up)
		r, err := mountRegistry(rc, up, cfg.PublicURL)
		if err != nil {
			a.close()
			return nil, err
		}
		a.regs = append(a.regs, r)
	}
	var mounts []string
	for _, r := range a.regs {
		mounts = append(mounts, r.Name())
	}
	a.httpMetrics = newHTTPMetrics(reg, mounts)
	return a, nil
}

// databaseName and blobStoreName say where the metadata and blobs are, for
// the start-up log (a password never shown).
func databaseName(cfg Config) string {
	if cfg.Database == "" {
		return "sqlite (larder.db in data)"
	}
	return storage.RedactedDatabase(cfg.Database)
}

func blobStoreName(cfg Config) string {
	if cfg.BlobStore == "" {
		return "data/blobs"
	}
	return cfg.BlobStore
}

// openStore opens the data folder to serve it. A folder that cannot be
// written (a mounted snapshot carried across an air gap) is served
// read-only, when nothing is ever fetched into it: offline, every registry.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (*storage.Store, error) {
	store, err := storage.OpenWith(ctx, cfg.Data, cfg.backends())
	if err == nil && cfg.BlobRedirect {
		if err = checkBlobRedirect(ctx, store, cfg.blobRedirect()); err != nil {
			store.Close()
			return nil, err
		}
	}
	if !errors.Is(err, storage.ErrReadOnly) || cfg.backends().Shared() {
		return store, err
	}
	if !cfg.allOffline() {
		return nil, fmt.Errorf("%w; larder serves a read-only data folder only offline (--offline, or offline = true), where it never fetches", err)
	}
	store, err = storage.OpenReadOnly(ctx, cfg.Data)
	if err != nil {
		return nil, err
	}
	log.Info("the data folder is read-only: serving what it holds; hits are not counted", "data", cfg.Data)
	return store, nil
}

// checkBlobRedirect signs one URL, so that blob_redirect without
// credentials to sign with stops larder at start rather than sending every
// artifact's bytes with a warning each.
func checkBlobRedirect(ctx context.Context, store *storage.Store, expiry time.Duration) error {
	p, ok := store.Blobs.(storage.Presigner)
	if !ok {
		return errors.New("blob_redirect: the blob store cannot sign URLs; it needs blob_store = \"s3://…\"")
	}
	if _, err := p.PresignGet(ctx, storage.DigestOf(nil), expiry); err != nil {
		return fmt.Errorf("blob_redirect: %w (presigned URLs need credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or ~/.aws/credentials)", err)
	}
	return nil
}

func registryOptions(cfg Config, rc RegistryConfig) (registries.Options, error) {
	// Values were checked by validate; errors here cannot happen.
	upstream, _ := parseHTTPURL(rc.Upstream)
	o := registries.Options{Name: rc.Name, Upstream: upstream, Offline: cfg.Offline || rc.Offline}
	o.MetadataTTL, _ = parseDuration(rc.MetadataTTL)
	o.ConnectTimeout, _ = parseDuration(rc.ConnectTimeout)
	o.ResponseTimeout, _ = parseDuration(rc.ResponseTimeout)
	o.IdleTimeout, _ = parseDuration(rc.IdleTimeout)
	o.MaxDocumentSize, _ = parseSize(rc.MaxDocumentSize)
	o.MaxArtifactSize, _ = parseSize(rc.MaxArtifactSize)
	kind, ok := kindNamed(rc.Kind)
	if !ok {
		return o, fmt.Errorf("registry %s: unknown kind %q (known: %s)", rc.Name, rc.Kind, knownKinds())
	}
	o.Verify, o.Unverifiable, o.MaxConnections = kind.Verify, rc.Unverifiable, rc.MaxConnections
	o.MinReleaseAge, o.MinReleaseAgeExempt = releaseAge(cfg, rc)
	if kind.Decode != nil {
		// What the kind's own keys mean to the upstream client (the
		// hosts it may fetch from besides the upstream).
		if _, err := kind.Decode(rc.Keys, &o); err != nil {
			return o, fmt.Errorf("registry %s: %w", rc.Name, err)
		}
	}
	return o, nil
}

// keepCacheUnder evicts the least recently served artifacts whenever the
// cache grows past max (max_cache_size), checking every interval.
func (a *app) keepCacheUnder(ctx context.Context, max int64, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		a.env.Hits.Flush(ctx) // eviction goes by last served: count the latest hits first
		rep, err := a.store.GC(ctx, storage.GCOptions{MaxSize: max})
		switch {
		case err != nil:
			a.log.Error("max_cache_size: eviction failed", "err", err)
		case len(rep.Evicted) > 0 || rep.Orphans > 0:
			a.log.Info("max_cache_size: evicted least recently served artifacts", "evicted", len(rep.Evicted),
				"freed", rep.BytesFreed+rep.OrphanBytes, "before", rep.Before, "after", rep.After, "limit", max)
		}
		if err == nil {
			a.cacheBytes.Store(rep.After)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.cacheFull:
		}
	}
}

// stored keeps a running total of the cache's size between evictions, and
// wakes keepCacheUnder as soon as a new artifact takes it past the limit,
// rather than at its next tick.
func (a *app) stored(max int64) func(size int64) {
	return func(size int64) {
		if a.cacheBytes.Add(size) > max {
			select {
			case a.cacheFull <- struct{}{}:
			default: // already woken
			}
		}
	}
}

func (a *app) close() {
	for _, up := range a.upstreams {
		up.Close()
	}
	if a.env.Hits != nil {
		a.env.Hits.Close()
	}
	a.store.Close()
}
