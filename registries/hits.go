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
	h.mu.Unlock()
	if err := h.db.RecordServed(ctx, batch); err != nil {
		h.log.Warn("recording hit counts", "err", err, "lost", len(batch))
	}
}

// Close flushes and stops the recorder.
func (h *HitRecorder) Close() {
	close(h.stop)
	<-h.done
}
