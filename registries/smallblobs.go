package registries

import (
	"container/list"
	"io"
	"sync"

	"github.com/larder-mirror/larder/storage"
)

// smallBlobs keeps the bytes of small artifacts in memory: for a 10 KB
// tarball, opening, stat-ing and closing its file costs more than sending
// it. Blobs are immutable, so an entry never goes stale; least recently used
// first out, within a byte budget.
type smallBlobs struct {
	off   bool // memory_cache = false: nothing is kept
	mu    sync.Mutex
	size  int64
	order *list.List // of *smallBlob, front: most recent
	items map[storage.Digest]*list.Element
}

type smallBlob struct {
	d storage.Digest
	b []byte
}

const (
	smallBlobMax    = 64 << 10 // artifacts up to this size are kept
	smallBlobBudget = 32 << 20 // in all
)

func (c *smallBlobs) get(d storage.Digest) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[d]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*smallBlob).b, true
	}
	return nil, false
}

func (c *smallBlobs) put(d storage.Digest, b []byte) {
	if c.off {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items, c.order = map[storage.Digest]*list.Element{}, list.New()
	}
	if _, ok := c.items[d]; ok {
		return
	}
	c.items[d] = c.order.PushFront(&smallBlob{d, b})
	c.size += int64(len(b))
	for c.size > smallBlobBudget {
		e := c.order.Back()
		sb := e.Value.(*smallBlob)
		c.order.Remove(e)
		delete(c.items, sb.d)
		c.size -= int64(len(sb.b))
	}
}

func (c *smallBlobs) drop(d storage.Digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[d]; ok {
		c.order.Remove(e)
		delete(c.items, d)
		c.size -= int64(len(e.Value.(*smallBlob).b))
	}
}

// readSmall reads a whole small blob, checking it is what it claims: the
// memory copy must never outlive a corrupt file.
func readSmall(rc io.Reader, d storage.Digest, size int64) ([]byte, bool) {
	b := make([]byte, size)
	if _, err := io.ReadFull(rc, b); err != nil || storage.DigestOf(b) != d {
		return nil, false
	}
	return b, true
}
