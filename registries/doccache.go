package registries

import (
	"context"
	"sync"

	"github.com/larder-mirror/larder/storage"
)

// docRows keeps the rows of stored documents in memory. One process holds
// a data folder (storage.Open locks it) and every write to a document row
// goes through this Upstream, so the memory copy is the database's: a fresh
// packument or page is served without a query. Bounded; when full, an
// arbitrary entry makes room.
type docRows struct {
	mu sync.RWMutex
	m  map[docKey]storage.Document
}

type docKey struct{ key, variant string }

const docRowsMax = 200_000

func (c *docRows) get(k docKey) (storage.Document, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.m[k]
	return d, ok
}

func (c *docRows) put(d storage.Document) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[docKey]storage.Document{}
	}
	if len(c.m) >= docRowsMax {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	// A reader that looked before a fetch stored a newer row must not put
	// the older one back.
	if old, ok := c.m[docKey{d.Key, d.Variant}]; ok && old.FetchedAt.After(d.FetchedAt) {
		return
	}
	c.m[docKey{d.Key, d.Variant}] = d
}

// document reads a document row, from memory when it has been read before.
func (u *Upstream) document(ctx context.Context, key, variant string) (storage.Document, error) {
	if d, ok := u.docRows.get(docKey{key, variant}); ok {
		return d, nil
	}
	d, err := u.env.Store.DB.Document(ctx, u.opts.Name, key, variant)
	if err == nil {
		u.docRows.put(d)
	}
	return d, err
}
