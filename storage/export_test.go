package storage

import "time"

// SetSharedBlobClock has s's shared blobs read the time from clock.
func SetSharedBlobClock(s *FSBlobs, clock func() time.Time) {
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	s.shared.clock = clock
}

// SweepSharedBlobs runs s's sweep of idle shared blobs now, as its timer
// would.
func SweepSharedBlobs(s *FSBlobs) { s.shared.sweep() }

// SharedSweepPending reports whether s has a sweep of idle blobs waiting.
func SharedSweepPending(s *FSBlobs) bool {
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	return s.shared.sweeper != nil
}

// Resident is b.resident, for the tests outside the package.
func (b *SharedBlob) Resident(off, n int64) bool { return b.resident(off, n) }
