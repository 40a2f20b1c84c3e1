package maven

import (
	"sync"
	"time"
)

// missingFiles remembers, for a while, the paths the upstream said it does
// not have: Maven and Gradle probe for files that do not exist, and each
// probe would otherwise cost an upstream round trip. It is bounded: past
// maxMissing paths, those whose time is up are dropped, and if none is,
// all of them.
type missingFiles struct {
	ttl time.Duration // <= 0: nothing is remembered
	now func() time.Time

	mu    sync.Mutex
	until map[string]time.Time
}

const maxMissing = 100_000

func newMissingFiles(ttl time.Duration, now func() time.Time) *missingFiles {
	return &missingFiles{ttl: ttl, now: now, until: map[string]time.Time{}}
}

func (m *missingFiles) add(path string) {
	if m.ttl <= 0 {
		return
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.until) >= maxMissing {
		for p, t := range m.until {
			if !now.Before(t) {
				delete(m.until, p)
			}
		}
		if len(m.until) >= maxMissing {
			clear(m.until)
		}
	}
	m.until[path] = now.Add(m.ttl)
}

func (m *missingFiles) has(path string) bool {
	if m.ttl <= 0 {
		return false
	}
	m.mu.Lock()
	t, ok := m.until[path]
	m.mu.Unlock()
	return ok && m.now().Before(t)
}
