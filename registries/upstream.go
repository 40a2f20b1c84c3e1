package registries

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/larder-mirror/larder/storage"
)

// Env is what every mounted registry shares within one larder.
type Env struct {
	Store   *storage.Store
	Metrics *Metrics
	Renders *RenderCache
	Hits    *HitRecorder
	Log     *slog.Logger
}

// Upstream is one registry's link to its upstream: the cache policy for
// documents and the download-once path for artifacts.
type Upstream struct {
	opts   Options
	env    Env
	log    *slog.Logger
	client *http.Client
	health *Health
	docs   singleflight.Group
	fills  fillTable

	traffic Traffic
	served  servedCounters

	docCacheControl string // documents stay fresh for the metadata TTL
	held            memo[string, storage.Artifact]
	small           smallBlobs
	docRows         memo[docKey, storage.Document]
}

// NewUpstream sets up the link; Close stops its background probe.
func NewUpstream(env Env, opts Options) *Upstream {
	opts.setDefaults()
	u := &Upstream{opts: opts, env: env, log: env.Log.With("registry", opts.Name), client: newClient(opts)}
	u.fills.m = map[string]*fill{}
	u.held, u.docRows = newHeldRows(), newDocRows()
	u.served = newServedCounters(env.Metrics, opts.Name)
	u.docCacheControl = "public, max-age=" + strconv.Itoa(int(opts.MetadataTTL/time.Second))
	up := env.Metrics.UpstreamUp.WithLabelValues(opts.Name)
	up.Set(1)
	if opts.Offline {
		up.Set(0)
	}
	u.health = newHealth(opts.FailuresToDown, opts.ProbeInterval, u.probe, func(isUp bool) {
		if isUp {
			up.Set(1)
			u.log.Info("upstream is back", "upstream", opts.Upstream.Host)
		} else {
			up.Set(0)
			u.log.Warn("upstream marked down; serving from cache until a probe sees it back", "upstream", opts.Upstream.Host, "err", u.health.State().LastError)
		}
	})
	return u
}

// Options returns the options in force, defaults filled in.
func (u *Upstream) Options() Options { return u.opts }

// Health returns the upstream's health tracker.
func (u *Upstream) Health() *Health { return u.health }

// Store returns the data store.
func (u *Upstream) Store() *storage.Store { return u.env.Store }

// Env returns the shared environment.
func (u *Upstream) Env() Env { return u.env }

// Close stops background work.
func (u *Upstream) Close() { u.health.close() }

// reachable reports whether a request should go to the upstream now.
func (u *Upstream) reachable() bool { return !u.opts.Offline && u.health.Up() }

// Reachable reports whether larder may ask the upstream now: not offline,
// and not marked down. Ecosystems use it to serve the cached-only view.
func (u *Upstream) Reachable() bool { return u.reachable() }

// NotCached explains why something that is not cached cannot be fetched:
// a 404 offline, a 502 naming the upstream while it is down.
func (u *Upstream) NotCached(what string) error { return u.notCached(what) }

func (u *Upstream) notCached(what string) error {
	if u.opts.Offline {
		return fmt.Errorf("%w: %s was never cached and larder is offline", ErrNotCached, what)
	}
	// Down, not offline: a 502 that names the upstream (DESIGN.md), which
	// npm retries, rather than a 404 it would take as final.
	st := u.health.State()
	return &UpstreamError{Upstream: u.opts.Upstream.Host, Status: http.StatusBadGateway,
		Err: fmt.Errorf("%w: %s was never cached and the upstream is down since %s (%s)",
			ErrNotCached, what, st.DownSince.Format(time.RFC3339), st.LastError)}
}

// probe asks the upstream's base URL for anything at all: any HTTP answer
// below 500 means it is reachable again.
func (u *Upstream) probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.opts.Upstream.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := u.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("probe: upstream answered %s", resp.Status)
	}
	return nil
}

// get sends a GET upstream with only larder's own headers. The response's
// body is cut after IdleTimeout without progress. The caller closes it.
func (u *Upstream) get(ctx context.Context, rawURL string, header http.Header) (*http.Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	ctx = withRedirectPolicy(ctx, u.allowRedirect)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", userAgent)
	start := time.Now()
	resp, err := u.client.Do(req)
	u.env.Metrics.UpstreamLatency.WithLabelValues(u.opts.Name).Observe(time.Since(start).Seconds())
	if err != nil {
		cancel()
		outcome := "error"
		if ue := upstreamErr(req.URL.Host, err).(*UpstreamError); ue.Status == http.StatusGatewayTimeout {
			outcome = "timeout"
		}
		u.env.Metrics.UpstreamRequests.WithLabelValues(u.opts.Name, outcome).Inc()
		u.health.Failure(err)
		return nil, upstreamErr(req.URL.Host, err)
	}
	resp.Body = newIdleBody(resp.Body, u.opts.IdleTimeout, cancel)
	switch {
	case resp.StatusCode >= 500:
		u.env.Metrics.UpstreamRequests.WithLabelValues(u.opts.Name, "error").Inc()
		u.health.Failure(fmt.Errorf("%s answered %s", req.URL.Host, resp.Status))
	case resp.StatusCode == http.StatusNotModified:
		u.env.Metrics.UpstreamRequests.WithLabelValues(u.opts.Name, "not_modified").Inc()
		u.health.Success()
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		u.env.Metrics.UpstreamRequests.WithLabelValues(u.opts.Name, "not_found").Inc()
		u.health.Success()
	default:
		u.env.Metrics.UpstreamRequests.WithLabelValues(u.opts.Name, "ok").Inc()
		u.health.Success()
	}
	return resp, nil
}

// allowRedirect follows an upstream redirect only to the upstream itself or
// to a host the registry may fetch from: a redirect must not make larder an
// open proxy any more than a document may.
func (u *Upstream) allowRedirect(req *http.Request) error {
	if req.URL.User == nil && SameHost(req.URL, u.opts.Upstream) {
		return nil
	}
	for _, h := range u.opts.AlsoFrom {
		if req.URL.User == nil && SameHost(req.URL, h) {
			return nil
		}
	}
	return fmt.Errorf("redirect to %s refused: not the upstream or an allowed host", req.URL.Redacted())
}

// statusError turns an unexpected upstream status into an error.
func statusError(resp *http.Response) error {
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return fmt.Errorf("%s: %w", resp.Request.URL.Redacted(), ErrNotFound)
	}
	return &UpstreamError{Upstream: resp.Request.URL.Host, Status: http.StatusBadGateway,
		Err: fmt.Errorf("answered %s", resp.Status)}
}

// SameHost reports whether a and b name the same scheme, host and port.
func SameHost(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && a.Host == b.Host
}

// Passthrough forwards a request that larder does not cache (search, audit)
// to the upstream path given, with only the headers that describe the body.
// When the upstream is offline or down it answers 503 at once: clients treat
// audit and search failures as non-fatal, and an install must never wait.
func (u *Upstream) Passthrough(w http.ResponseWriter, r *http.Request, upstreamURL string) {
	if !u.reachable() {
		writeJSONError(w, http.StatusServiceUnavailable, fmt.Sprintf("upstream %s is not reachable from larder (offline or down)", u.opts.Upstream.Host))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), u.opts.ResponseTimeout+u.opts.IdleTimeout)
	defer cancel()
	body := io.LimitReader(r.Body, 32<<20)
	req, err := http.NewRequestWithContext(ctx, r.Method, upstreamURL, body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, h := range []string{"Content-Type", "Content-Encoding", "Accept", "Npm-Command"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set("User-Agent", userAgent)
	req.ContentLength = r.ContentLength
	resp, err := u.client.Do(req)
	if err != nil {
		if r.Context().Err() == nil { // a client that left says nothing about the upstream
			u.health.Failure(err)
		}
		ue := upstreamErr(req.URL.Host, err).(*UpstreamError)
		writeJSONError(w, ue.Status, ue.Error())
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		u.health.Failure(fmt.Errorf("%s answered %s", req.URL.Host, resp.Status))
	} else {
		u.health.Success()
	}
	for _, h := range []string{"Content-Type", "Content-Encoding", "Content-Length"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	rb := newIdleBody(resp.Body, u.opts.IdleTimeout, cancel)
	defer rb.Close() // stops its timer
	io.Copy(w, rb)
}
