package cargo

import (
	"context"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// Cargo dates each version by its index line's pubtime, which crates.io
// writes on every line it publishes (cargo 1.94 reads it for its own
// cooldown); a line without one (older lines of some registries) is dated
// by when larder first saw it listed. The releases of an index file are
// recorded whenever larder reads it, policy or not, so that a policy
// turned on later, or a view of a past date, finds first sights already
// made rather than taking every version for new.

// releasesOf lists the versions of an index file with their pubtimes.
func releasesOf(lines []line) []storage.Release {
	rels := make([]storage.Release, 0, len(lines))
	for _, l := range lines {
		r := storage.Release{Name: l.Vers, Version: l.Vers}
		if t, err := time.Parse(time.RFC3339Nano, l.Pubtime); err == nil {
			r.Published = t
		}
		rels = append(rels, r)
	}
	return rels
}

// recordIndex records the versions a stored index file dates.
func (g *Registry) recordIndex(ctx context.Context, pkg string, doc storage.Document) error {
	return g.up.RecordReleases(ctx, pkg, indexReleasesKey(doc), g.indexReleases(ctx, pkg, doc))
}

func indexReleasesKey(doc storage.Document) string { return "index\x00" + string(doc.Body) }

// indexReleases lists the versions a stored index file dates.
func (g *Registry) indexReleases(ctx context.Context, pkg string, doc storage.Document) func() ([]storage.Release, error) {
	return func() ([]storage.Release, error) {
		body, err := g.up.Body(ctx, doc)
		if err != nil {
			return nil, err
		}
		lines, err := parseIndex(body, pkg)
		if err != nil {
			return nil, err
		}
		return releasesOf(lines), nil
	}
}

// allowedVersions records the versions an index file dates and names
// those the request's cutoff lets it list: nil when it holds nothing
// back, with a key for the render cache.
func (g *Registry) allowedVersions(ctx context.Context, pkg string, doc storage.Document) (map[string]bool, string, error) {
	return g.up.RecordAndAllow(ctx, g.up.Cutoff(ctx, pkg), pkg, indexReleasesKey(doc),
		g.indexReleases(context.WithoutCancel(ctx), pkg, doc))
}

// learnVersion dates the versions of a crate from its index file, for a
// download larder has no date for yet.
func (g *Registry) learnVersion(ctx context.Context, rt route) error {
	doc, err := g.loadIndex(ctx, rt)
	if err != nil {
		return err
	}
	return g.recordIndex(ctx, rt.pkg(), doc.Document)
}
