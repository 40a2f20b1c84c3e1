package registries

import "sync"

// memo is a bounded map for rows that only this process writes (one larder
// holds a data folder at a time), so a copy in memory is as good as the
// database's. When full, an arbitrary entry makes room: a miss costs only a
// query.
type memo[K comparable, V any] struct {
	mu  sync.RWMutex
	m   map[K]V
	max int
}

func (c *memo[K, V]) get(k K) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

// put stores v unless keep says the value already held should stay, or
// current (when not nil) says v is no longer current: it is asked under the
// lock drop takes, so a drop that made v stale is never undone. A memo
// whose max is 0 keeps nothing.
func (c *memo[K, V]) put(k K, v V, keep func(held V) bool, current func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 || (current != nil && !current()) {
		return
	}
	if c.m == nil {
		c.m = map[K]V{}
	}
	if held, ok := c.m[k]; ok && keep != nil && keep(held) {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = v
}

func (c *memo[K, V]) drop(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}
