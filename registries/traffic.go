package registries

import (
	"sync"
	"time"
)

// Traffic counts requests answered from the cache and from the upstream, by
// minute, over the last day: what the UI's hit ratio is made of. It lives in
// memory; a restart starts it afresh.
type Traffic struct {
	mu      sync.Mutex
	buckets [24 * 60]trafficBucket
}

type trafficBucket struct {
	minute   int64 // unix minute the counts belong to
	cached   int64
	upstream int64
}

// TrafficTotals are counts over a window.
type TrafficTotals struct {
	Cached   int64 // HIT, REVALIDATED, STALE
	Upstream int64 // MISS
}

// Ratio is the share served from the cache, or -1 when nothing was served.
func (t TrafficTotals) Ratio() float64 {
	if t.Cached+t.Upstream == 0 {
		return -1
	}
	return float64(t.Cached) / float64(t.Cached+t.Upstream)
}

func (t *Traffic) add(status CacheStatus, now time.Time) {
	m := now.Unix() / 60
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &t.buckets[m%int64(len(t.buckets))]
	if b.minute != m {
		*b = trafficBucket{minute: m}
	}
	if status == Miss {
		b.upstream++
	} else {
		b.cached++
	}
}

// Since sums the counts of the last window (at most a day).
func (t *Traffic) Since(window time.Duration, now time.Time) TrafficTotals {
	last := now.Unix() / 60
	first := last - int64(window/time.Minute) + 1
	var tot TrafficTotals
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range t.buckets {
		if b.minute >= first && b.minute <= last {
			tot.Cached += b.cached
			tot.Upstream += b.upstream
		}
	}
	return tot
}
