package registries

import (
	"context"
	"sync"
	"time"
)

// Health tracks whether an upstream answers. After FailuresToDown failures in
// a row it is down: requests stop waiting on it and go to the cache, and a
// background probe checks it, backing off, until it answers again.
type Health struct {
	threshold int
	interval  time.Duration
	probe     func(ctx context.Context) error
	onChange  func(up bool)

	mu        sync.Mutex
	failures  int
	down      bool
	downSince time.Time
	lastErr   string
	lastErrAt time.Time
	probing   bool
	closed    chan struct{}
}

// HealthState is a snapshot for the UI and /metrics.
type HealthState struct {
	Up        bool
	DownSince time.Time
	LastError string
	LastErrAt time.Time
}

func newHealth(threshold int, interval time.Duration, probe func(context.Context) error, onChange func(bool)) *Health {
	return &Health{threshold: threshold, interval: interval, probe: probe, onChange: onChange, closed: make(chan struct{})}
}

// Up reports whether requests should try the upstream.
func (h *Health) Up() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.down
}

// State returns a snapshot.
func (h *Health) State() HealthState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return HealthState{Up: !h.down, DownSince: h.downSince, LastError: h.lastErr, LastErrAt: h.lastErrAt}
}

// Success records an answer from the upstream.
func (h *Health) Success() {
	h.mu.Lock()
	h.failures = 0
	wasDown := h.down
	h.down = false
	h.mu.Unlock()
	if wasDown && h.onChange != nil {
		h.onChange(true)
	}
}

// Failure records a failed exchange: refused, timed out, 5xx, or a request
// that waited past its patience without an answer.
func (h *Health) Failure(err error) {
	h.mu.Lock()
	h.failures++
	h.lastErr, h.lastErrAt = err.Error(), time.Now()
	markDown := !h.down && h.failures >= h.threshold
	if markDown {
		h.down, h.downSince = true, time.Now()
	}
	startProbe := h.down && !h.probing
	if startProbe {
		h.probing = true
	}
	h.mu.Unlock()
	if markDown && h.onChange != nil {
		h.onChange(false)
	}
	if startProbe {
		go h.probeUntilUp()
	}
}

func (h *Health) probeUntilUp() {
	wait := h.interval
	for {
		select {
		case <-h.closed:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.probe(ctx)
		cancel()
		if err == nil {
			h.mu.Lock()
			h.probing = false
			h.mu.Unlock()
			h.Success()
			return
		}
		h.mu.Lock()
		h.lastErr, h.lastErrAt = err.Error(), time.Now()
		h.mu.Unlock()
		if wait *= 2; wait > 30*time.Second {
			wait = 30 * time.Second
		}
	}
}

func (h *Health) close() {
	select {
	case <-h.closed:
	default:
		close(h.closed)
	}
}
