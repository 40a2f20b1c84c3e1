package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/larder-mirror/larder/cmd/larder/front"
)

// httpMetrics counts every answer, quick hits and refusals included (it is
// middleware of the front's chain), by registry and status code, and times
// it. Labels are bounded: a path's first segment is a registry only when one
// is mounted under it.
type httpMetrics struct {
	mounts   map[string]bool
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer, mounts []string) *httpMetrics {
	m := &httpMetrics{
		mounts: map[string]bool{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "larder_http_requests_total",
			Help: "Requests answered, by registry (\"\" for the UI, its API and the probes) and status code.",
		}, []string{"registry", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "larder_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer being decided (a streamed body: to the handler's return).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"registry"}),
	}
	for _, name := range mounts {
		m.mounts[name] = true
		// Start at zero, so that a rate is defined before the first answer.
		m.requests.WithLabelValues(name, "200")
		m.duration.WithLabelValues(name)
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *httpMetrics) Admit(*front.Request) *front.Refusal { return nil }

func (m *httpMetrics) Answered(r *front.Request, o *front.Outcome) {
	registry := ""
	if first, _, _ := strings.Cut(strings.TrimPrefix(r.Path(), "/"), "/"); m.mounts[first] {
		registry = first
	}
	m.requests.WithLabelValues(registry, strconv.Itoa(o.Status)).Inc()
	m.duration.WithLabelValues(registry).Observe(time.Since(r.Start()).Seconds())
}
