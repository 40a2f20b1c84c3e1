package registries

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series every registry reports.
type Metrics struct {
	Requests         *prometheus.CounterVec   // registry, kind (document|artifact), cache
	BytesServed      *prometheus.CounterVec   // registry
	UpstreamRequests *prometheus.CounterVec   // registry, outcome
	UpstreamLatency  *prometheus.HistogramVec // registry
	UpstreamUp       *prometheus.GaugeVec     // registry
	UpstreamState    *prometheus.GaugeVec     // registry, state: 1 for the current one
	UpstreamSince    *prometheus.GaugeVec     // registry: when the current state began
	PinConflicts     *prometheus.CounterVec   // registry
	// ReleaseAgeRefusals: registry, cause (min_release_age or view).
	ReleaseAgeRefusals *prometheus.CounterVec
	UpstreamBytes      *prometheus.CounterVec // registry
	// Redirects: artifacts answered with a redirect to the blob store
	// (blob_redirect), by registry.
	Redirects *prometheus.CounterVec
}

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "larder_requests_total",
			Help: "Requests answered, by registry, kind of resource and cache status (HIT, MISS, REVALIDATED, STALE, ERROR).",
		}, []string{"registry", "kind", "cache"}),
		BytesServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "larder_served_bytes_total",
			Help: "Body bytes sent to clients for artifacts, by registry.",
		}, []string{"registry"}),
		UpstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "larder_upstream_requests_total",
			Help: "Requests to upstreams, by registry and outcome (ok, not_modified, not_found, error, timeout).",
		}, []string{"registry", "outcome"}),
		UpstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "larder_upstream_response_seconds",
			Help:    "Time to the upstream's response headers.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"registry"}),
		UpstreamUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "larder_upstream_up",
			Help: "1 while the upstream is up, 0 while it is suspect or down (or larder is offline).",
		}, []string{"registry"}),
		UpstreamState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "larder_upstream_state",
			Help: "1 for the upstream's current state (up, suspect, down, offline), 0 for the others.",
		}, []string{"registry", "state"}),
		UpstreamSince: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "larder_upstream_state_since_seconds",
			Help: "Unix time at which the upstream entered its current state (larder's start if it never changed).",
		}, []string{"registry"}),
		PinConflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "larder_pin_conflicts_total",
			Help: "Times an upstream declared other bytes for an artifact larder had already pinned; the pinned bytes were kept.",
		}, []string{"registry"}),
		ReleaseAgeRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "larder_release_age_refusals_total",
			Help: "Downloads refused because their release is younger than min_release_age (cause min_release_age) or newer than a /@{date}/ view (cause view).",
		}, []string{"registry", "cause"}),
		UpstreamBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "larder_upstream_received_bytes_total",
			Help: "Body bytes read from upstreams (documents, artifacts and what is relayed), by registry, as received after any decompression by the HTTP client.",
		}, []string{"registry"}),
		Redirects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "larder_artifact_redirects_total",
			Help: "Held artifacts answered with a redirect to a presigned URL of the blob store (blob_redirect), by registry; each is a hit in larder_requests_total too.",
		}, []string{"registry"}),
	}
	reg.MustRegister(m.Redirects, m.Requests, m.BytesServed, m.UpstreamRequests, m.UpstreamLatency, m.UpstreamUp, m.UpstreamState, m.UpstreamSince, m.PinConflicts, m.ReleaseAgeRefusals, m.UpstreamBytes)
	return m
}

// servedCounters are one registry's series for requests answered from the
// cache, looked up once: a label lookup hashes its values on every call,
// which on a cached 10 KB tarball is a visible share of the work.
type servedCounters struct {
	artifactHits, documentHits, bytes prometheus.Counter
}

func newServedCounters(m *Metrics, registry string) servedCounters {
	return servedCounters{
		artifactHits: m.Requests.WithLabelValues(registry, "artifact", string(Hit)),
		documentHits: m.Requests.WithLabelValues(registry, "document", string(Hit)),
		bytes:        m.BytesServed.WithLabelValues(registry),
	}
}
