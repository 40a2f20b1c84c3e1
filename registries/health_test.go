package registries

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHealthCountsConsecutiveFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events string // F: failure, S: success
		wantUp bool
	}{
		{"no events is up", "", true},
		{"failures below the threshold stay up", "FF", true},
		{"failures at the threshold mark it down", "FFF", false},
		{"a success resets the count", "FFSFF", true},
		{"a success brings it back up", "FFFS", true},
		{"more failures while down keep it down", "FFFFF", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var changes []bool
			h := newHealth(3, time.Hour, func(context.Context) error { return errors.New("still down") }, func(up bool) {
				mu.Lock()
				changes = append(changes, up)
				mu.Unlock()
			})
			t.Cleanup(h.close)
			want := []bool{}
			up := true
			failures := 0
			for _, ev := range tt.events {
				if ev == 'F' {
					h.Failure(errors.New("refused"))
					if failures++; failures == 3 && up {
						up = false
						want = append(want, false)
					}
				} else {
					h.Success()
					failures = 0
					if !up {
						up = true
						want = append(want, true)
					}
				}
			}
			if h.Up() != tt.wantUp || h.State().Up != tt.wantUp {
				t.Errorf("Up() = %v, want %v", h.Up(), tt.wantUp)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(changes) != len(want) {
				t.Errorf("onChange calls %v, want %v", changes, want)
			}
		})
	}
}

func TestHealthProbeBringsItBack(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	healthy := false
	var probes counter
	h := newHealth(1, 10*time.Millisecond, func(context.Context) error {
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
	h := newHealth(1, 10*time.Millisecond, func(context.Context) error { probes.inc(); return errors.New("down") }, nil)
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
	for i := range 2 {
		_, err := u.Document(context.Background(), leftPad(f))
		if StatusOf(err) != http.StatusBadGateway {
			t.Fatalf("failure %d: Document = %v, want a 502", i+1, err)
		}
	}

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
	t.Run("while down, an uncached document is ErrNotCached, a 502 that says down", func(t *testing.T) {
		_, err := u.Document(context.Background(), leftPad(f))
		if !errors.Is(err, ErrNotCached) || StatusOf(err) != http.StatusBadGateway {
			t.Fatalf("Document = %v, want ErrNotCached and 502 (npm retries it; a 404 is final)", err)
		}
		if !strings.Contains(ErrorMessage(err), "down") {
			t.Errorf("message %q does not say the upstream is down", ErrorMessage(err))
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
