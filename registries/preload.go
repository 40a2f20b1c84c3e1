package registries

import (
	"context"
	"fmt"
)

// Preload downloads an artifact that a document held announces, before any
// client asks for it: as a client's request would, one download however
// many join it, verified against what the document declares, kept, and
// followed by OnKept's work. It returns once the bytes are verified (a
// client that asks now is answered from them) or the download has ended.
// It does nothing for an artifact already held or being fetched, nor while
// the upstream cannot be asked; an artifact no document held announces is
// an error (storage.ErrNotFound). Nothing is counted as served.
func (u *Upstream) Preload(ctx context.Context, path string) error {
	if u.fillOf(path) != nil {
		return nil
	}
	seen := u.finishedCount()
	a, err := u.Artifact(ctx, path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if a.Cached() || !u.reachableFor(ctx) {
		return nil
	}
	f, err := u.joinFill(ctx, a, seen)
	if err != nil || f == nil {
		return err
	}
	for {
		st := f.state()
		switch {
		case st.done:
			return st.err
		case st.verified:
			return nil
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
