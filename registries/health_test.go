package registries

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockedProbe is a probe that never answers until the test ends, so that
// only the events a test sends change the state.
func blockedProbe(t *testing.T) func(context.Context) error {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return func(ctx context.Context) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return errors.New("probe cut short")
	}
}

func TestHealthGoesSuspectOnOneFailureAndDownAfterTheThreshold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		events  string // F: failure, S: success
		want    HealthStatus
		changes string // the statuses it went through, initials
	}{
		{"no events is up", "", StatusUp, ""},
		{"one failure makes it suspect", "F", StatusSuspect, "s"},
		{"failures below the threshold keep it suspect", "FF", StatusSuspect, "s"},
		{"failures at the threshold mark it down", "FFF", StatusDown, "sd"},
		{"a success brings a suspect upstream up and resets the count", "FFSFF", StatusSuspect, "sus"},
		{"a success brings a down upstream up", "FFFS", StatusUp, "sdu"},
		{"more failures while down keep it down", "FFFFF", StatusDown, "sd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var changes string
			h := newHealth(3, time.Hour, time.Hour, blockedProbe(t), func(from, to HealthState) {
				mu.Lock()
				changes += string(to.Status[0])
				mu.Unlock()
			})
			t.Cleanup(h.close)
			for _, ev := range tt.events {
				if ev == 'F' {
					h.Failure(errors.New("refused"))
				} else {
					h.Success()
				}
			}
			st := h.State()
			if st.Status != tt.want || h.Up() != (tt.want == StatusUp) || st.Up != (tt.want == StatusUp) {
				t.Errorf("state %+v, want %s", st, tt.want)
			}
			if tt.want != StatusUp && (st.Since.IsZero() || st.LastError != "refused") {
				t.Errorf("state %+v does not say since when and why", st)
			}
			if (tt.want == StatusDown) != !st.DownSince.IsZero() {
				t.Errorf("DownSince %v with status %s", st.DownSince, st.Status)
			}
			mu.Lock()
			defer mu.Unlock()
			if changes != tt.changes {
				t.Errorf("went through %q, want %q", changes, tt.changes)
			}
		})
	}
}

func TestTheFirstProbeGoesAtOnceAndItsVerdictIsShared(t *testing.T) {
	t.Parallel()
	answer := make(chan error)
	var probes counter
	h := newHealth(3, time.Hour, time.Hour, func(context.Context) error { probes.inc(); return <-answer }, nil)
	t.Cleanup(h.close)
	h.Failure(errors.New("connection reset"))
	eventually(t, "the probe starts without waiting for the interval", func() bool { return probes.get() == 1 })

	waited := make(chan HealthStatus, 3)
	for range 3 {
		go func() {
			h.AwaitVerdict(context.Background())
			waited <- h.State().Status
		}()
	}
	select {
	case <-waited:
		t.Fatal("AwaitVerdict returned before the probe answered")
	case <-time.After(50 * time.Millisecond):
	}
	answer <- nil
	for range 3 {
		if st := <-waited; st != StatusUp {
			t.Errorf("after a probe that answered: %s, want up", st)
		}
	}
	h.AwaitVerdict(context.Background()) // no probe pending: returns at once
}

func TestAFailedProbeCountsTowardsDown(t *testing.T) {
	t.Parallel()
	h := newHealth(3, time.Millisecond, time.Hour, func(context.Context) error { return errors.New("proxy: no answer") }, nil)
	t.Cleanup(h.close)
	h.Failure(errors.New("connect time-out"))
	eventually(t, "the probe's failures mark it down", func() bool { return h.State().Status == StatusDown })
	if st := h.State(); st.LastError != "proxy: no answer" {
		t.Errorf("last error %q, want the probe's", st.LastError)
	}
}

func TestHealthProbeBringsItBack(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	healthy := false
	var probes counter
	h := newHealth(1, 10*time.Millisecond, time.Second, func(context.Context) error {
		probes.inc()
		mu.Lock()
		defer mu.Unlock()
		if !healthy {
			return errors.New("connection refused")
		}
		return nil
	}, nil)
	t.Cleanup(h.close)

	h.Failure(errors.New("connection refused"))
	st := h.State()
	if st.Up || st.DownSince.IsZero() || st.LastError != "connection refused" || st.LastErrAt.IsZero() {
		t.Fatalf("after the failure: %+v, want down since now with the error", st)
	}
	eventually(t, "a probe fails", func() bool { return probes.get() >= 1 })
	if h.Up() {
		t.Fatalf("a failed probe brought it back up")
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	eventually(t, "a probe brings it back", h.Up)
}

func TestHealthCloseStopsTheProbe(t *testing.T) {
	t.Parallel()
	var probes counter
	h := newHealth(1, 10*time.Millisecond, time.Second, func(context.Context) error { probes.inc(); return errors.New("down") }, nil)
	h.Failure(errors.New("down"))
	eventually(t, "a probe runs", func() bool { return probes.get() >= 1 })
	h.close()
	h.close() // twice is fine
	n := probes.get()
	time.Sleep(100 * time.Millisecond)
	if probes.get() > n+1 { // one may have been under way
		t.Errorf("probes went on after close: %d, then %d", n, probes.get())
	}
}

func TestUpstreamMarkedDownServesFromCacheUntilAProbeSeesItBack(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/cached", docHandler(`{"v":1}`, `"v1"`, lastModified))
	u := e.upstream(t, f.URL("/"), Options{FailuresToDown: 2, MetadataTTL: time.Nanosecond})
	cachedReq := leftPad(f)
	cachedReq.Key, cachedReq.URL = "cached", f.URL("/cached")
	mustDocument(t, u, cachedReq, Miss)

	// The upstream breaks, probe included.
	f.handle("/", statusHandler(http.StatusServiceUnavailable))
	f.handle("/cached", statusHandler(http.StatusServiceUnavailable))
	f.handle("/left-pad", statusHandler(http.StatusServiceUnavailable))
	// The first failure is the client's 502; the probe that follows it
	// fails too, which makes two.
	if _, err := u.Document(context.Background(), leftPad(f)); StatusOf(err) != http.StatusBadGateway {
		t.Fatalf("Document = %v, want a 502", err)
	}
	eventually(t, "the probe marks it down", func() bool { return u.Health().State().Status == StatusDown })

	t.Run("after FailuresToDown failures it is down", func(t *testing.T) {
		st := u.Health().State()
		if u.Health().Up() || st.Up {
			t.Fatalf("still up after 2 failures")
		}
		if st.DownSince.IsZero() || !strings.Contains(st.LastError, "503") {
			t.Errorf("state %+v does not say since when and why", st)
		}
		if v := e.metricValue(t, "larder_upstream_up", "registry", testRegistry); v != 0 {
			t.Errorf("larder_upstream_up = %v, want 0", v)
		}
	})

	before := f.count("/left-pad") + f.count("/cached")
	t.Run("while down, a cached document is STALE without asking the upstream", func(t *testing.T) {
		mustDocument(t, u, cachedReq, Stale)
	})
	t.Run("while down, an uncached document is a 404 at once that says the upstream is unreachable", func(t *testing.T) {
		_, err := u.Document(context.Background(), leftPad(f))
		if !errors.Is(err, ErrNotCached) || StatusOf(err) != http.StatusNotFound {
			t.Fatalf("Document = %v, want ErrNotCached and 404 (npm and pip retry a 5xx for a minute)", err)
		}
		if msg := ErrorMessage(err); !strings.Contains(msg, "unreachable") || !strings.Contains(msg, "down since") || !strings.Contains(msg, "503") {
			t.Errorf("message %q does not say the upstream is unreachable, since when and why", msg)
		}
	})
	t.Run("while down, requests skip the upstream", func(t *testing.T) {
		if after := f.count("/left-pad") + f.count("/cached"); after != before {
			t.Errorf("upstream received %d requests while down", after-before)
		}
	})

	// The upstream recovers; only the probe can notice.
	f.handle("/", nil)
	f.handle("/left-pad", docHandler(`{"name":"left-pad"}`, `"v1"`, lastModified))
	eventually(t, "the probe sees the upstream back", u.Health().Up)
	t.Run("after the probe it is up again", func(t *testing.T) {
		if v := e.metricValue(t, "larder_upstream_up", "registry", testRegistry); v != 1 {
			t.Errorf("larder_upstream_up = %v, want 1", v)
		}
		mustDocument(t, u, leftPad(f), Miss)
	})
}

func TestAnUpstreamNeverContactedSaysSo(t *testing.T) {
	t.Parallel()
	h := newHealth(3, time.Hour, time.Hour, blockedProbe(t), nil)
	t.Cleanup(h.close)
	if st := h.State(); st.Contacted || !st.LastOK.IsZero() || !st.Up {
		t.Errorf("before any exchange: %+v, want up, not contacted", st)
	}
	before := time.Now()
	h.Success()
	if st := h.State(); !st.Contacted || st.LastOK.Before(before) {
		t.Errorf("after an answer: %+v, want contacted with LastOK", st)
	}

	failed := newHealth(3, time.Hour, time.Hour, blockedProbe(t), nil)
	t.Cleanup(failed.close)
	failed.Failure(errors.New("refused"))
	if st := failed.State(); !st.Contacted || !st.LastOK.IsZero() {
		t.Errorf("after a failure only: %+v, want contacted, never answered", st)
	}
}

// The upstream answers a request while the probe loop sleeps (it is up
// again), then fails once more: that failure gets a probe and a verdict at
// once, not at the loop's next wake an hour later.
func TestAFailureAfterARecoveryGetsAVerdictAtOnce(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	failing.Store(true)
	probes := make(chan struct{}, 16)
	h := newHealth(3, time.Hour, time.Second, func(context.Context) error {
		probes <- struct{}{}
		if failing.Load() {
			return errors.New("refused")
		}
		return nil
	}, nil)
	t.Cleanup(h.close)
	h.Failure(errors.New("refused"))
	within(t, "the first probe", func() struct{} { return <-probes })
	eventually(t, "the first verdict", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.verdict == nil })
	h.Success() // a request answered: up, while the loop sleeps for an hour
	if !h.Up() {
		t.Fatal("not up after a success")
	}
	failing.Store(false)
	h.Failure(errors.New("reset"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.AwaitVerdict(ctx)
	if ctx.Err() != nil {
		t.Fatal("no verdict within 5 s of a failure after a recovery")
	}
	if !h.Up() {
		t.Errorf("the probe found the upstream answering, yet it is %s", h.State().Status)
	}
}
