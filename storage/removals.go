package storage

import (
	"context"
	"sync"
)

// Removal is a change that takes something out of what a Store holds: a
// row that stops pointing at a blob (an artifact evicted or found missing,
// a document deleted by Verify), or a blob that leaves the store (deleted
// or quarantined). Whoever keeps a copy of rows or blobs in memory (the
// registries' rows, small blobs) learns of it through OnRemoved; FSBlobs
// forgets its own open descriptors as it deletes.
type Removal struct {
	// Ref is the row that stopped pointing at Digest; Ref.Registry is ""
	// when only the blob left the store (no row pointed at it by then).
	Ref BlobRef
	// Digest is the blob the row pointed at, or the blob that left; ""
	// when not known (ForgetArtifact of a row the caller already read).
	Digest Digest
}

// removals is a Store's list of observers of Removals.
type removals struct {
	mu   sync.RWMutex
	next int
	fns  map[int]func(Removal)
}

// OnRemoved calls fn, synchronously, after every Removal this Store makes:
// GC's evictions and orphans, Verify's repairs and quarantines,
// ForgetArtifact, an import's rollback. A row's Removal comes once the row
// changed; GC reports it before deleting the blob, so that an observer
// forgets its copy before the bytes are gone (Verify quarantines a corrupt
// blob first: nobody should read it a moment longer). fn must be quick and
// must not call back into the Store's maintenance. The returned stop ends
// the calls.
func (s *Store) OnRemoved(fn func(Removal)) (stop func()) {
	r := &s.removals
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fns == nil {
		r.fns = map[int]func(Removal){}
	}
	id := r.next
	r.next++
	r.fns[id] = fn
	return func() {
		r.mu.Lock()
		delete(r.fns, id)
		r.mu.Unlock()
	}
}

func (s *Store) removed(rm Removal) {
	r := &s.removals
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, fn := range r.fns {
		fn(rm)
	}
}

// deleteBlob deletes a blob, and its copy in the database (see
// MaxInlineArtifact) when nothing names it, and tells the observers.
func (s *Store) deleteBlob(ctx context.Context, d Digest) error {
	err := s.Blobs.Delete(ctx, d)
	if err == nil && !s.DB.readOnly {
		err = s.DB.dropUnnamedInline(ctx, d)
	}
	if err == nil {
		s.removed(Removal{Digest: d})
	}
	return err
}

// ForgetArtifact clears the stored digest of an artifact whose blob is
// gone (see DB.ForgetArtifact), and tells the observers.
func (s *Store) ForgetArtifact(ctx context.Context, registry, path string) error {
	if err := s.DB.ForgetArtifact(ctx, registry, path); err != nil {
		return err
	}
	s.removed(Removal{Ref: BlobRef{Registry: registry, Path: path}})
	return nil
}

// SetMemoryCache says whether the blob store may keep blobs open between
// requests (memory_cache). Off, every OpenShared opens the file afresh and
// its Release closes it: nothing outlives a request, as when several
// larder nodes share one blob store.
func (s *Store) SetMemoryCache(on bool) {
	if k, ok := s.Blobs.(interface{ setKeepOpen(bool) }); ok {
		k.setKeepOpen(on)
	}
}
