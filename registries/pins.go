package registries

import (
	"context"
	"encoding/hex"
	"strings"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// Pins compares what a freshly fetched document announces with what larder
// already holds. The digest of an artifact is pinned the first time it is
// stored; an upstream that later declares other bytes for the same file is
// refused, logged loudly and counted, and the ecosystem puts the pinned
// declaration back into the document it stores, so that clients verify the
// bytes larder actually serves.
//
// It returns, by path, the pinned integrity of every announced artifact
// whose declaration changed.
func (u *Upstream) Pins(ctx context.Context, pkg string, announced []storage.Artifact) (map[string]string, error) {
	held, err := u.env.Store.PackageArtifacts(ctx, u.opts.Name, pkg)
	if err != nil {
		return nil, err
	}
	pinned := make(map[string]storage.Artifact, len(held))
	for _, a := range held {
		if a.Cached() && a.Integrity != "" {
			pinned[a.Path] = a
		}
	}
	changed := map[string]string{}
	for _, a := range announced {
		p, ok := pinned[a.Path]
		if !ok || sameIntegrity(Integrity(p.Integrity), Integrity(a.Integrity)) {
			continue
		}
		changed[a.Path] = p.Integrity
		u.log.Error("UPSTREAM CHANGED THE BYTES OF A PUBLISHED VERSION: keeping the pinned ones",
			"package", pkg, "path", a.Path, "pinned", p.Integrity, "offered", a.Integrity)
		u.env.Metrics.PinConflicts.WithLabelValues(u.opts.Name).Inc()
		if err := u.env.Store.RecordPinConflict(ctx, storage.PinConflict{
			Registry: u.opts.Name, Path: a.Path, Package: pkg,
			Pinned: p.Integrity, Offered: a.Integrity, LastSeen: time.Now(),
		}); err != nil {
			return nil, err
		}
	}
	return changed, nil
}

// sameIntegrity is true when two declarations agree on every algorithm both
// name, and share at least one (a document that only adds sha512 beside the
// sha1 it had is not a change).
func sameIntegrity(a, b Integrity) bool {
	da, errA := a.parse()
	db, errB := b.parse()
	if errA != nil || errB != nil {
		return a == b
	}
	common := 0
	for _, x := range da {
		for _, y := range db {
			if x.algo == y.algo {
				if string(x.sum) != string(y.sum) {
					return false
				}
				common++
			}
		}
	}
	return common > 0 || (len(da) == 0 && len(db) == 0)
}

// HexDigest returns the hex digest an integrity declares for algo, "" if
// none: for ecosystems whose documents carry hex (npm's shasum, PyPI's
// sha256).
func (i Integrity) HexDigest(algo string) string {
	ds, err := i.parse()
	if err != nil {
		return ""
	}
	for _, d := range ds {
		if d.algo == algo {
			return hex.EncodeToString(d.sum)
		}
	}
	return ""
}

// Without returns the declaration without one algorithm's tokens.
func (i Integrity) Without(algo string) Integrity {
	var out Integrity
	for _, tok := range strings.Fields(string(i)) {
		if a, _, _ := strings.Cut(tok, "-"); a != algo {
			out = out.Join(Integrity(tok))
		}
	}
	return out
}
