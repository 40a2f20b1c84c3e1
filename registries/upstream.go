package registries

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	// NoMemoryCache is memory_cache = false: no rows or blobs are kept in
	// memory (see held.go). The zero value keeps them.
	NoMemoryCache bool
	// Stored, when set, is told the size of every artifact committed (the
	// max_cache_size watch).
	Stored func(size int64)
	// BlobRedirect is blob_redirect: how long the presigned URLs that
	// held artifacts are answered with stay good (see redirect.go). Zero
	// sends the bytes, as does a store that cannot sign URLs.
	BlobRedirect time.Duration
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
	// presigner signs the URLs of blob_redirect; nil when it is off.
	presigner storage.Presigner
	redirects prometheus.Counter
	received  prometheus.Counter // body bytes read from the upstream

	docCacheControl string // documents stay fresh for the metadata TTL
	held            memo[string, storage.Artifact]
	small           smallBlobs
	docRows         memo[docKey, storage.Document]
	answered        answeredDocs  // see DocumentToAnswer
	removals        atomic.Uint64 // storage.Removals seen: see held.go
	heldChanges     atomic.Uint64 // artifacts committed and removals seen: see HeldChanges
	stopRemovals    func()

	kept       func(context.Context, storage.Artifact) // see OnKept
	committing committingBytes                         // see followKept

	latency    latency
	refreshes  chan struct{} // a slot per background revalidation in flight
	refreshMu  sync.Mutex
	refreshing map[string]bool // documents being revalidated in the background

	// The release-age policy (cooldown.go).
	exempt           exemptions
	recorded         memo[string, bool]                       // package and document body whose releases are recorded
	releaseRows      memo[string, map[string]storage.Release] // by package
	allowed          memo[string, bool]                       // package and release allowed for good
	allowedSets      memo[string, allowedSet]                 // by package
	releaseGen       atomic.Uint64                            // releases recorded
	refusalsLogged   memo[string, bool]
	readOnlyReleases memoryReleases
}

// maxBackgroundRefreshes bounds the revalidations that run behind clients'
// backs while the upstream is suspect or slow: each may wait a whole
// time-out, and a dead upstream must not collect a goroutine per document.
const maxBackgroundRefreshes = 4

// NewUpstream sets up the link; Close stops its background probe.
func NewUpstream(env Env, opts Options) *Upstream {
	opts.setDefaults()
	u := &Upstream{opts: opts, env: env, log: env.Log.With("registry", opts.Name), client: newClient(opts)}
	u.fills.m = map[string]*fill{}
	u.fills.parsed = map[string]*parsedEntry{}
	u.fills.ctx, u.fills.stop = context.WithCancel(context.Background())
	u.initHoldings()
	u.initReleases()
	u.served = newServedCounters(env.Metrics, opts.Name)
	u.presigner = presignerOf(env)
	u.redirects = newRedirectCounter(env.Metrics, opts.Name)
	u.docCacheControl = "public, max-age=" + strconv.Itoa(int(opts.MetadataTTL/time.Second))
	u.refreshes, u.refreshing = make(chan struct{}, maxBackgroundRefreshes), map[string]bool{}
	// A probe is one request: a connection, then headers.
	u.health = newHealth(opts.FailuresToDown, opts.ProbeInterval, opts.ConnectTimeout+opts.ResponseTimeout, u.probe, u.healthChanged)
	u.showHealth(u.health.State(), time.Now())
	// Counters start at zero, so that a rate or an alert on them is
	// defined before their first event.
	env.Metrics.PinConflicts.WithLabelValues(opts.Name)
	for _, cause := range []string{"min_release_age", "view"} {
		env.Metrics.ReleaseAgeRefusals.WithLabelValues(opts.Name, cause)
	}
	u.received = env.Metrics.UpstreamBytes.WithLabelValues(opts.Name)
	if env.Hits != nil {
		env.Hits.trackTraffic(opts.Name, &u.traffic)
	}
	return u
}

// healthChanged logs a change of the upstream's state once, and shows it in
// /metrics.
func (u *Upstream) healthChanged(from, to HealthState) {
	u.showHealth(to, to.Since)
	host := u.opts.Upstream.Host
	switch to.Status {
	case StatusSuspect:
		u.log.Warn("upstream suspect; serving stale documents at once while a probe checks it", "upstream", host, "err", to.LastError)
	case StatusDown:
		u.log.Warn("upstream marked down; serving from cache until a probe sees it back", "upstream", host, "err", to.LastError)
	case StatusUp:
		u.log.Info("upstream is back", "upstream", host, "was", string(from.Status), "for", time.Since(from.Since).Round(time.Millisecond))
	}
}

func (u *Upstream) showHealth(st HealthState, since time.Time) {
	m := u.env.Metrics
	current := string(st.Status)
	if u.opts.Offline {
		current = "offline"
	}
	for _, s := range []string{string(StatusUp), string(StatusSuspect), string(StatusDown), "offline"} {
		v := 0.0
		if s == current {
			v = 1
		}
		m.UpstreamState.WithLabelValues(u.opts.Name, s).Set(v)
	}
	up := 0.0
	if current == string(StatusUp) {
		up = 1
	}
	m.UpstreamUp.WithLabelValues(u.opts.Name).Set(up)
	if since.IsZero() {
		since = time.Now()
	}
	m.UpstreamSince.WithLabelValues(u.opts.Name).Set(float64(since.UnixNano()) / 1e9)
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
func (u *Upstream) Close() {
	u.health.close()
	u.stopRemovals()
	if !u.fills.close(closeWaitsForCommits) {
		u.log.Warn("closing with artifact commits still under way", "waited", closeWaitsForCommits)
	}
}

// closeWaitsForCommits bounds how long Close waits for verified artifacts
// to be made durable: an fsync and a row each, unless the disk is failing.
const closeWaitsForCommits = 20 * time.Second

// reachable reports whether a request may wait on the upstream now: not
// offline, and neither suspect nor down.
func (u *Upstream) reachable() bool { return !u.opts.Offline && u.health.Up() }

// Reachable reports whether larder may ask the upstream now: not offline,
// and neither suspect nor down. Ecosystems use it to serve the cached-only
// view.
func (u *Upstream) Reachable() bool { return u.reachable() }

// Gone reports whether the upstream is out of reach for good as far as
// larder knows: offline, or down. A suspect upstream is not gone: one
// failure may pass, and a stale document is then a better answer than
// nothing.
func (u *Upstream) Gone() bool {
	return u.opts.Offline || u.health.State().Status == StatusDown
}

// reachableFor is reachable for a request that has no cached copy to fall
// back on: while the upstream is suspect, it waits for the verdict of the
// one probe that follows the failure (shared by every such request), so a
// single transient failure is not turned into a 404.
func (u *Upstream) reachableFor(ctx context.Context) bool {
	if u.opts.Offline {
		return false
	}
	if st := u.health.State(); st.Status == StatusSuspect {
		u.health.AwaitVerdict(ctx)
	}
	return u.health.Up()
}

// NotCached explains why something that is not cached cannot be fetched: a
// 404 (DESIGN.md), so that npm, pip and go fail fast instead of retrying a
// 5xx for a minute, with a message that says why.
func (u *Upstream) NotCached(what string) error { return u.notCached(what) }

func (u *Upstream) notCached(what string) error {
	if u.opts.Offline {
		return fmt.Errorf("%w: %s was never cached and larder is offline", ErrNotCached, what)
	}
	st := u.health.State()
	return fmt.Errorf("%w: %s was never cached and upstream %s is unreachable (%s since %s: %s)",
		ErrNotCached, what, u.opts.Upstream.Host, st.Status, st.Since.Format(time.RFC3339), st.LastError)
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
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("probe: upstream answered %s", resp.Status)
	}
	if err != nil {
		// A body that stalls or is cut fails documents and artifacts
		// (bodyFailed); it fails the probe too, or an upstream whose
		// bodies stall would be "back" after each probe and never down.
		return fmt.Errorf("probe: reading the answer: %w", err)
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
	id := u.latency.begin(start)
	resp, err := u.client.Do(req)
	u.env.Metrics.UpstreamLatency.WithLabelValues(u.opts.Name).Observe(time.Since(start).Seconds())
	if err != nil {
		u.latency.forget(id)
		// A client that hung up says nothing about the upstream.
		clientGone := errors.Is(ctx.Err(), context.Canceled)
		cancel()
		ue := upstreamErr(req.URL.Host, err).(*UpstreamError)
		outcome := "error"
		if ue.Status == http.StatusGatewayTimeout {
			outcome = "timeout"
		}
		u.env.Metrics.UpstreamRequests.WithLabelValues(u.opts.Name, outcome).Inc()
		switch {
		case errors.Is(err, errRedirectRefused):
			// It answered: the upstream is as well as an answer says.
			u.health.Success()
		case !clientGone:
			u.health.Failure(ue)
		}
		return nil, ue
	}
	u.latency.end(id, time.Now())
	body := newIdleBody(resp.Body, u.opts.IdleTimeout, cancel)
	body.received = u.received
	resp.Body = body
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

// bodyFailed records a body that stalled, was cut or came short as a
// failure of the upstream, and classifies it for the client. Only fills
// of artifacts and documents read bodies, detached from any client: no
// hang-up can be mistaken for it.
func (u *Upstream) bodyFailed(resp *http.Response, err error) error {
	ue := upstreamErr(resp.Request.URL.Host, err)
	u.health.Failure(ue)
	return ue
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
	return fmt.Errorf("%w: %s is not the upstream or an allowed host", errRedirectRefused, req.URL.Redacted())
}

// errRedirectRefused: the upstream answered, with a redirect larder will
// not follow. A policy of larder's, not a failure of the upstream.
var errRedirectRefused = errors.New("redirect refused")

// statusError turns an unexpected upstream status into an error.
func statusError(resp *http.Response) error {
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return fmt.Errorf("%s: %w", resp.Request.URL.Redacted(), ErrNotFound)
	}
	return &UpstreamError{Upstream: resp.Request.URL.Host, Status: http.StatusBadGateway, Answered: resp.StatusCode,
		Err: fmt.Errorf("answered %s", resp.Status)}
}

// SameHost reports whether a and b name the same scheme, host and port.
func SameHost(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && a.Host == b.Host
}

// Passthrough forwards a request that larder does not cache (search, audit)
// to the upstream path given, with only the headers that describe the body.
// When larder is offline or the upstream suspect or down it answers 503 at once: clients treat
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
	rb.received = u.received
	defer rb.Close() // stops its timer
	io.Copy(w, rb)
}
