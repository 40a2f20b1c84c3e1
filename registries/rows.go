package registries

import (
	"context"

	"github.com/larder-mirror/larder/storage"
)

// Document and artifact rows are remembered in memory, so that serving a
// fresh packument or a held tarball needs no database query.

type docKey struct{ key, variant string }

const (
	docRowsMax  = 200_000
	heldRowsMax = 100_000
)

func newDocRows() memo[docKey, storage.Document] {
	return memo[docKey, storage.Document]{max: docRowsMax}
}

func newHeldRows() memo[string, storage.Artifact] {
	return memo[string, storage.Artifact]{max: heldRowsMax}
}

// rememberDoc keeps a document row, unless a newer one is held: a reader
// that looked before a fetch stored a newer row must not put the older back.
func (u *Upstream) rememberDoc(d storage.Document) {
	u.docRows.put(docKey{d.Key, d.Variant}, d, func(held storage.Document) bool {
		return held.FetchedAt.After(d.FetchedAt)
	}, nil)
}

// document reads a document row, from memory when it has been read before.
func (u *Upstream) document(ctx context.Context, key, variant string) (storage.Document, error) {
	if d, ok := u.docRows.get(docKey{key, variant}); ok {
		return d, nil
	}
	gen := u.removals.Load()
	d, err := u.env.Store.DB.Document(ctx, u.opts.Name, key, variant)
	if err == nil {
		u.docRows.put(docKey{key, variant}, d, func(held storage.Document) bool {
			return held.FetchedAt.After(d.FetchedAt)
		}, func() bool { return u.removals.Load() == gen })
	}
	return d, err
}

// Artifact returns an artifact's row, from memory when its bytes are held
// (such a row never changes what is served: the bytes are immutable, and
// every removal forgets it first; see held.go).
func (u *Upstream) Artifact(ctx context.Context, path string) (storage.Artifact, error) {
	if a, ok := u.held.get(path); ok {
		return a, nil
	}
	gen := u.removals.Load()
	a, err := u.env.Store.DB.Artifact(ctx, u.opts.Name, path)
	if err == nil && a.Cached() {
		u.held.put(path, a, nil, func() bool { return u.removals.Load() == gen })
	}
	return a, err
}
