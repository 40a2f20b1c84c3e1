package registries

import (
	"context"
	"sync"
	"time"
)

// HealthStatus is what larder believes of an upstream.
type HealthStatus string

const (
	// StatusUp: the last exchange succeeded. Requests may wait on the upstream.
	StatusUp HealthStatus = "up"
	// StatusSuspect: an exchange failed within the suspect window and none
	// has succeeded since. Nobody waits on the upstream: stale documents are
	// answered at once and refreshed in the background, and a probe decides
	// when it is back.
	StatusSuspect HealthStatus = "suspect"
	// StatusDown: FailuresToDown failures in a row. Only the probe talks to
	// the upstream until it answers.
	StatusDown HealthStatus = "down"
)

// Health tracks whether an upstream answers. The first failure makes it
// suspect and starts a background probe; FailuresToDown failures in a row
// (the probe's included) make it down. Any answer brings it back up.
type Health struct {
	threshold    int
	interval     time.Duration
	probeTimeout time.Duration
	probe        func(ctx context.Context) error
	onChange     func(from, to HealthState)

	mu        sync.Mutex
	status    HealthStatus
	since     time.Time
	failures  int
	lastErr   string
	lastErrAt time.Time
	lastOK    time.Time // the last answer from the upstream; zero: none yet
	probing   bool
	// verdict is closed when the first probe after the upstream became
	// suspect has answered; nil when no such probe is pending.
	verdict chan struct{}
	closed  chan struct{}
	kick    chan struct{} // wakes a sleeping probe loop for a new failure
}

// HealthState is a snapshot for the UI and /metrics.
type HealthState struct {
	Status    HealthStatus
	Up        bool      // Status == StatusUp
	Since     time.Time // when Status began; zero for an upstream up since start
	DownSince time.Time // when it went down; zero unless down
	LastError string
	LastErrAt time.Time
	// LastOK is when the upstream last answered; zero when it has not
	// since larder started.
	LastOK time.Time
	// Contacted is false until the first exchange with the upstream,
	// answered or failed: "up" then only means nothing has failed yet.
	Contacted bool
}

func newHealth(threshold int, interval, probeTimeout time.Duration, probe func(context.Context) error, onChange func(from, to HealthState)) *Health {
	return &Health{threshold: threshold, interval: interval, probeTimeout: probeTimeout, probe: probe,
		onChange: onChange, status: StatusUp, closed: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// Up reports whether requests may wait on the upstream.
func (h *Health) Up() bool { return h.State().Status == StatusUp }

// State returns a snapshot.
func (h *Health) State() HealthState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stateLocked()
}

func (h *Health) stateLocked() HealthState {
	st := HealthState{Status: h.status, Since: h.since, LastError: h.lastErr, LastErrAt: h.lastErrAt,
		LastOK: h.lastOK, Contacted: !h.lastOK.IsZero() || !h.lastErrAt.IsZero()}
	st.Up = st.Status == StatusUp
	if st.Status == StatusDown {
		st.DownSince = h.since
	}
	return st
}

// Success records an answer from the upstream.
func (h *Health) Success() {
	h.mu.Lock()
	before, after := h.succeedLocked()
	h.mu.Unlock()
	h.changed(before, after)
}

func (h *Health) succeedLocked() (before, after HealthState) {
	h.failures = 0
	before = h.stateLocked()
	h.lastOK = time.Now()
	if h.status != StatusUp {
		h.status, h.since = StatusUp, time.Now()
	}
	return before, h.stateLocked()
}

// Failure records a failed exchange: refused, reset, timed out, a proxy
// that never answered, a stalled body, a 5xx.
func (h *Health) Failure(err error) {
	h.mu.Lock()
	before := h.stateLocked()
	h.failures++
	h.lastErr, h.lastErrAt = err.Error(), time.Now()
	switch {
	case h.failures >= h.threshold && h.status != StatusDown:
		h.status, h.since = StatusDown, time.Now()
	case h.status == StatusUp || before.Status == StatusUp:
		h.status, h.since = StatusSuspect, time.Now()
	}
	startProbe := !h.probing
	// A failure just after the upstream came back (a request answered
	// while the probe loop slept) needs a verdict of its own, at once, not
	// at the loop's next wake, which may be 30 s away.
	kick := !startProbe && before.Status == StatusUp
	if startProbe {
		h.probing = true
	}
	if (startProbe || kick) && h.verdict == nil {
		h.verdict = make(chan struct{})
	}
	after := h.stateLocked()
	h.mu.Unlock()
	h.changed(before, after)
	switch {
	case startProbe:
		go h.probeUntilUp()
	case kick:
		select {
		case h.kick <- struct{}{}:
		default: // already kicked
		}
	}
}

func (h *Health) changed(before, after HealthState) {
	if before.Status != after.Status && h.onChange != nil {
		h.onChange(before, after)
	}
}

// AwaitVerdict waits until the first probe after the upstream became suspect
// has answered, or ctx ends. A request that has nothing cached to fall back
// on waits for that one shared probe rather than for a time-out of its own,
// so that a single transient failure does not turn into a 404 while the
// upstream is fine.
func (h *Health) AwaitVerdict(ctx context.Context) {
	h.mu.Lock()
	v := h.verdict
	h.mu.Unlock()
	if v == nil {
		return
	}
	select {
	case <-v:
	case <-ctx.Done():
	case <-h.closed:
	}
}

func (h *Health) probeUntilUp() {
	var wait time.Duration // the first probe goes at once: it decides for everyone
	for {
		if wait > 0 {
			select {
			case <-h.closed:
				return
			case <-time.After(wait):
			case <-h.kick:
				wait = 0 // a new failure: probe now, and back off afresh
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.probeTimeout)
		err := h.probe(ctx)
		cancel()
		if err != nil {
			h.failureFromProbe(err)
		}
		// The verdict goes out once the state says it: a request it wakes
		// reads the state the probe left, not the one before.
		var before, after HealthState
		h.mu.Lock()
		if err == nil {
			h.probing = false
			before, after = h.succeedLocked()
		}
		if h.verdict != nil {
			close(h.verdict)
			h.verdict = nil
		}
		h.mu.Unlock()
		if err == nil {
			h.changed(before, after)
			return
		}
		select {
		case <-h.closed:
			return
		default:
		}
		if wait == 0 {
			wait = h.interval
		} else if wait *= 2; wait > 30*time.Second {
			wait = 30 * time.Second
		}
	}
}

// failureFromProbe counts a failed probe like any failure, without starting
// another probe loop.
func (h *Health) failureFromProbe(err error) {
	h.mu.Lock()
	before := h.stateLocked()
	h.failures++
	h.lastErr, h.lastErrAt = err.Error(), time.Now()
	if h.failures >= h.threshold && h.status != StatusDown {
		h.status, h.since = StatusDown, time.Now()
	}
	after := h.stateLocked()
	h.mu.Unlock()
	h.changed(before, after)
}

func (h *Health) close() {
	select {
	case <-h.closed:
	default:
		close(h.closed)
	}
}
