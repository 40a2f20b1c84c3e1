package registries

import (
	"context"
	"sync"

	"github.com/larder-mirror/larder/storage"
)

// heldCache remembers the rows of artifacts whose bytes are held: such a row
// never changes what is served (the bytes are immutable), so serving a
// cached tarball needs no database query. Bounded; when full, an arbitrary
// entry makes room.
type heldCache struct {
	mu sync.RWMutex
	m  map[string]storage.Artifact
}

const heldCacheMax = 100_000

func (c *heldCache) get(path string) (storage.Artifact, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.m[path]
	return a, ok
}

func (c *heldCache) put(a storage.Artifact) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]storage.Artifact{}
	}
	if len(c.m) >= heldCacheMax {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[a.Path] = a
}

func (c *heldCache) drop(path string) {
	c.mu.Lock()
	delete(c.m, path)
	c.mu.Unlock()
}

// Artifact returns an artifact's row, from memory when its bytes are held.
func (u *Upstream) Artifact(ctx context.Context, path string) (storage.Artifact, error) {
	if a, ok := u.held.get(path); ok {
		return a, nil
	}
	a, err := u.env.Store.DB.Artifact(ctx, u.opts.Name, path)
	if err == nil && a.Cached() {
		u.held.put(a)
	}
	return a, err
}
