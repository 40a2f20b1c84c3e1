package storage

import (
	"context"
	"fmt"
	"sync/atomic"
)

// counters count, for /metrics, what this process's maintenance took away.
type counters struct {
	evicted     atomic.Int64 // artifacts whose bytes GC dropped
	quarantined atomic.Int64 // blobs set aside as corrupt
}

// Evicted is how many artifacts GC has evicted through this Store since it
// was opened.
func (s *Store) Evicted() int64 { return s.counts.evicted.Load() }

// Quarantined is how many blobs this Store has set aside as corrupt since
// it was opened (by Verify, or by Quarantine for a blob found wrong while
// serving).
func (s *Store) Quarantined() int64 { return s.counts.quarantined.Load() }

// ErrNoQuarantine: the blob store cannot set a blob aside.
var ErrNoQuarantine = fmt.Errorf("the blob store has no quarantine")

// Quarantine sets a corrupt blob aside, when the blob store can, and says
// where it went.
func (s *Store) Quarantine(ctx context.Context, d Digest) (string, error) {
	q, ok := s.Blobs.(Quarantiner)
	if !ok {
		return "", ErrNoQuarantine
	}
	where, err := q.Quarantine(ctx, d)
	if err == nil {
		s.counts.quarantined.Add(1)
	}
	return where, err
}
