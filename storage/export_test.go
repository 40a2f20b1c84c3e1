package storage

import "time"

// SetSharedBlobClock has s's shared blobs read the time from clock.
func SetSharedBlobClock(s *FSBlobs, clock func() time.Time) {
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	s.shared.clock = clock
}
