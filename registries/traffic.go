package registries

import (
	"context"
	"sync"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// TrafficDays is how far back Traffic remembers.
const TrafficDays = 7

// Traffic counts requests answered from the cache and from the upstream, by
// minute, over the last TrafficDays days: what the UI's hit ratios and
// charts are made of. The counts live in memory and in the database: a new
// Upstream reads what its registry answered before a restart, and the
// HitRecorder writes new counts with the hits.
type Traffic struct {
	mu      sync.Mutex
	buckets [TrafficDays * 24 * 60]trafficBucket
	pending map[int64]*trafficBucket // by minute, not yet in the database
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
	var c TrafficTotals
	if status == Miss {
		c.Upstream = 1
	} else {
		c.Cached = 1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addLocked(m, c)
	if t.pending == nil {
		t.pending = map[int64]*trafficBucket{}
	}
	p := t.pending[m]
	if p == nil {
		p = &trafficBucket{minute: m}
		t.pending[m] = p
	}
	p.cached += c.Cached
	p.upstream += c.Upstream
}

func (t *Traffic) addLocked(m int64, c TrafficTotals) {
	b := &t.buckets[m%int64(len(t.buckets))]
	if b.minute != m {
		if b.minute > m {
			return // older than the ring keeps
		}
		*b = trafficBucket{minute: m}
	}
	b.cached += c.Cached
	b.upstream += c.Upstream
}

// Since sums the counts of the last window (at most TrafficDays days).
func (t *Traffic) Since(window time.Duration, now time.Time) TrafficTotals {
	last := now.Unix() / 60
	first := last - int64(window/time.Minute) + 1
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sumLocked(first, last)
}

func (t *Traffic) sumLocked(first, last int64) TrafficTotals {
	var tot TrafficTotals
	if n := int64(len(t.buckets)); last-first >= n {
		first = last - n + 1
	}
	for m := first; m <= last; m++ {
		if b := &t.buckets[m%int64(len(t.buckets))]; b.minute == m {
			tot.Cached += b.cached
			tot.Upstream += b.upstream
		}
	}
	return tot
}

// Series sums the counts of n steps of step each, the last one ending
// with the minute of now, oldest first: the bars of a chart.
func (t *Traffic) Series(now time.Time, step time.Duration, n int) []TrafficTotals {
	per := int64(step / time.Minute)
	if per < 1 {
		per = 1
	}
	last := now.Unix() / 60
	out := make([]TrafficTotals, n)
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range out {
		end := last - int64(n-1-i)*per
		out[i] = t.sumLocked(end-per+1, end)
	}
	return out
}

// load reads the counts a registry's earlier runs wrote.
func (t *Traffic) load(ctx context.Context, db *storage.DB, registry string, now time.Time) error {
	rows, err := db.Traffic(ctx, registry, now.Unix()/60-int64(len(t.buckets))+1)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range rows {
		t.addLocked(r.Minute, TrafficTotals{Cached: r.Cached, Upstream: r.Upstream})
	}
	return nil
}

// takePending hands over the counts not yet written, and forgets them.
func (t *Traffic) takePending(registry string) []storage.TrafficCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []storage.TrafficCount
	for _, p := range t.pending {
		out = append(out, storage.TrafficCount{Registry: registry, Minute: p.minute, Cached: p.cached, Upstream: p.upstream})
	}
	t.pending = nil
	return out
}

// putBack returns counts whose write failed, to be tried again.
func (t *Traffic) putBack(batch []storage.TrafficCount) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = map[int64]*trafficBucket{}
	}
	for _, c := range batch {
		p := t.pending[c.Minute]
		if p == nil {
			p = &trafficBucket{minute: c.Minute}
			t.pending[c.Minute] = p
		}
		p.cached += c.Cached
		p.upstream += c.Upstream
	}
}
