package registries

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// HitRecorder counts what is served and writes the counts in batches: one
// SQLite write per request would serialise every download on the write lock.
type HitRecorder struct {
	db  *storage.DB
	log *slog.Logger

	mu      sync.Mutex
	pending map[hitKey]*storage.Served
	traffic map[string]*Traffic // by registry: their counts go out with the hits
	pruned  time.Time           // when old traffic was last deleted
	stop    chan struct{}
	done    chan struct{}
}

type hitKey struct{ registry, pkg, path string }

// NewHitRecorder starts a recorder that flushes every interval until Close.
func NewHitRecorder(db *storage.DB, log *slog.Logger, interval time.Duration) *HitRecorder {
	h := &HitRecorder{db: db, log: log, pending: map[hitKey]*storage.Served{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				h.Flush(context.Background())
			case <-h.stop:
				h.Flush(context.Background())
				return
			}
		}
	}()
	return h
}

// Add counts one hit on a package, and on an artifact when path is not empty.
func (h *HitRecorder) Add(registry, pkg, path string) {
	k := hitKey{registry, pkg, path}
	now := time.Now()
	h.mu.Lock()
	s := h.pending[k]
	if s == nil {
		s = &storage.Served{Registry: registry, Package: pkg, Path: path}
		h.pending[k] = s
	}
	s.Hits++
	s.At = now
	h.mu.Unlock()
}

// Record counts one hit, as Add does, unless ctx is a warm fill
// (NotServed).
func (h *HitRecorder) Record(ctx context.Context, registry, pkg, path string) {
	if Served(ctx) {
		h.Add(registry, pkg, path)
	}
}

// Flush writes what is pending.
func (h *HitRecorder) Flush(ctx context.Context) {
	h.mu.Lock()
	batch := make([]storage.Served, 0, len(h.pending))
	for _, s := range h.pending {
		batch = append(batch, *s)
	}
	h.pending = map[hitKey]*storage.Served{}
	traffic := make(map[string]*Traffic, len(h.traffic))
	for name, t := range h.traffic {
		traffic[name] = t
	}
	prune := time.Since(h.pruned) > time.Hour
	if prune {
		h.pruned = time.Now()
	}
	h.mu.Unlock()
	if err := h.db.RecordServed(ctx, batch); err != nil {
		h.log.Warn("recording hit counts", "err", err, "lost", len(batch))
	}
	var counts []storage.TrafficCount
	for name, t := range traffic {
		counts = append(counts, t.takePending(name)...)
	}
	if err := h.db.AddTraffic(ctx, counts); err != nil {
		h.log.Warn("recording traffic", "err", err)
		for name, t := range traffic {
			var mine []storage.TrafficCount
			for _, c := range counts {
				if c.Registry == name {
					mine = append(mine, c)
				}
			}
			t.putBack(mine)
		}
	}
	if prune {
		// A day beyond what the charts show.
		if err := h.db.PruneTraffic(ctx, time.Now().Unix()/60-(TrafficDays+1)*24*60); err != nil {
			h.log.Warn("pruning old traffic", "err", err)
		}
	}
}

// trackTraffic writes a registry's traffic with the hits, after reading
// what its earlier runs wrote.
func (h *HitRecorder) trackTraffic(registry string, t *Traffic) {
	if err := t.load(context.Background(), h.db, registry, time.Now()); err != nil {
		h.log.Warn("reading past traffic", "registry", registry, "err", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.traffic == nil {
		h.traffic = map[string]*Traffic{}
	}
	h.traffic[registry] = t
}

// Close flushes and stops the recorder.
func (h *HitRecorder) Close() {
	close(h.stop)
	<-h.done
}
