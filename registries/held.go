package registries

import (
	"context"

	"github.com/larder-mirror/larder/storage"
)

// What larder holds changes in one place per registry, which keeps the
// copies in memory coherent with the database and the blob store:
//
//   - u.held, artifact rows whose bytes are held, by path (rows.go);
//   - u.docRows, document rows (rows.go);
//   - u.small, the bytes of small blobs, by digest (smallblobs.go);
//   - the blob store's open descriptors (storage.SharedOpener), which the
//     store itself drops as it deletes or quarantines a blob.
//
// A new artifact is committed by commitArtifact; everything that takes
// something away (GC's evictions and orphans for gc and max_cache_size,
// Verify's repairs and quarantines, ForgetArtifact, an import's rollback)
// is a storage.Removal, which the store reports to removed, synchronously,
// before the blob leaves the disk; a blob found missing while serving goes
// through blobGone. Nothing else writes those copies: they are filled
// lazily by Artifact and document, and only with a row read after the last
// removal (see the removals counter), so that a reader that looked before
// an eviction cannot put the evicted row back.
//
// With Env.NoMemoryCache (memory_cache = false) no copy is kept: rows are
// read from the database on each use (the quick path's too, through heldRow
// and docRow), small blobs are read from their files, and the store keeps
// no blob open between requests. That is the mode for several larder nodes
// over one database and one blob store, where a process-local copy could be
// wrong.

// initHoldings sets up the copies in memory, or none, and subscribes to
// the store's removals until Close.
func (u *Upstream) initHoldings() {
	u.held, u.docRows = newHeldRows(), newDocRows()
	if u.env.NoMemoryCache {
		u.held.max, u.docRows.max = 0, 0
		u.small.off = true
	}
	u.stopRemovals = u.env.Store.OnRemoved(u.removed)
}

// initReleases sets up the release-age policy's copies in memory. Without
// memory_cache only what can never become wrong is kept: the releases
// allowed for good, and which document bodies this process has recorded
// (without it, every listing on a cluster would rewrite every release).
func (u *Upstream) initReleases() {
	u.exempt = newExemptions(u.opts.MinReleaseAgeExempt)
	u.recorded.max, u.releaseRows.max, u.allowedSets.max = 100000, 10000, 10000
	if u.env.NoMemoryCache {
		u.releaseRows.max, u.allowedSets.max = 0, 0
	}
	u.allowed.max, u.refusalsLogged.max = 100000, 10000
}

// removed forgets what a storage.Removal took away.
func (u *Upstream) removed(r storage.Removal) {
	u.removals.Add(1)
	u.heldChanges.Add(1)
	if r.Digest != "" {
		u.small.drop(r.Digest)
	}
	if r.Ref.Registry != u.opts.Name {
		return
	}
	switch {
	case r.Ref.Path != "":
		u.held.drop(r.Ref.Path)
	case r.Ref.Key != "":
		u.docRows.drop(docKey{r.Ref.Key, r.Ref.Variant})
	}
}

// commitArtifact writes the row of an artifact whose bytes are kept (a
// durable blob, or bytes the row's transaction writes): the completion
// marker. The row is read back into memory on first use.
func (u *Upstream) commitArtifact(ctx context.Context, a storage.Artifact, kept storage.KeptBlob) error {
	err := u.env.Store.DB.CommitArtifact(ctx, a, kept, u.opts.Now())
	u.held.drop(a.Path)
	u.heldChanges.Add(1)
	if err == nil && u.env.Stored != nil {
		u.env.Stored(kept.Size)
	}
	return err
}

// OnKept sets what an ecosystem does once an artifact's bytes are kept:
// fetch what an install from it will ask for next (PyPI: the pages of the
// dependencies a metadata file names). f runs in a goroutine of its own,
// once the bytes are verified and kept, while the artifact's row commits
// (see followKept), whether a client or warm asked for it, under a context
// that Close ends (and Close waits for it); it reads the bytes with
// OpenKept. Set it before the registry serves.
func (u *Upstream) OnKept(f func(ctx context.Context, a storage.Artifact)) { u.kept = f }

// blobGone deals with a held row a whose blob is not in the store. When
// the database no longer points at it (evicted, repaired, fetched again
// meanwhile) that is no fault: the row as it stands now is returned.
// Otherwise the blob was lost by other means (deleted by hand, a lost
// disk): that is logged, and the row forgotten, so that it is fetched
// again.
func (u *Upstream) blobGone(ctx context.Context, a storage.Artifact) (storage.Artifact, error) {
	u.held.drop(a.Path)
	u.small.drop(a.SHA256)
	cur, err := u.env.Store.DB.Artifact(ctx, a.Registry, a.Path)
	if err != nil {
		return a, err
	}
	if cur.SHA256 != a.SHA256 {
		return cur, nil
	}
	u.log.Error("artifact row points at a missing blob; fetching it again", "path", a.Path, "sha256", a.SHA256)
	if err := u.env.Store.ForgetArtifact(ctx, a.Registry, a.Path); err != nil {
		return a, err
	}
	cur.SHA256, cur.Size = "", 0
	return cur, nil
}

// HeldChanges counts the artifacts this process has committed and the
// removals it has seen: a view written from what is held (HeldView) is
// still right while the count stays. Other processes' changes are not
// counted: with Env.NoMemoryCache, keep no such view.
func (u *Upstream) HeldChanges() uint64 { return u.heldChanges.Load() }

// heldRow is the row of a held artifact, for the quick path: from memory
// only, unless memory_cache is off, when it costs a query.
func (u *Upstream) heldRow(path string) (storage.Artifact, bool) {
	if !u.env.NoMemoryCache {
		return u.held.get(path)
	}
	a, err := u.Artifact(context.Background(), path)
	return a, err == nil && a.Cached()
}

// docRow is a document's row, for the quick path: from memory only, unless
// memory_cache is off, when it costs a query.
func (u *Upstream) docRow(key, variant string) (storage.Document, bool) {
	if !u.env.NoMemoryCache {
		return u.docRows.get(docKey{key, variant})
	}
	d, err := u.document(context.Background(), key, variant)
	return d, err == nil
}
