package npm

import (
	"context"
	"time"

	"github.com/tidwall/gjson"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// npm dates each version by the packument's time[version], the registry's
// publish time (a full packument has it; the registry's abbreviated form
// does not, so larder reads the full one while a cutoff applies). A version
// without one is dated by when larder first saw it.

// releasesOf lists the versions of a packument with their publish times.
func releasesOf(body []byte) []storage.Release {
	doc := gjson.ParseBytes(body)
	times := doc.Get("time")
	var rels []storage.Release
	doc.Get("versions").ForEach(func(k, _ gjson.Result) bool {
		v := k.String()
		r := storage.Release{Name: v, Version: v}
		if t, err := time.Parse(time.RFC3339Nano, times.Get(gjsonKey(v)).String()); err == nil {
			r.Published = t
		}
		rels = append(rels, r)
		return true
	})
	return rels
}

// allowedVersions records the versions p dates and names those c lets a
// document show: nil when c holds nothing back, with a render key.
func (g *Registry) allowedVersions(ctx context.Context, c registries.Cutoff, name string, p packument) (map[string]bool, string, error) {
	if !c.Active() {
		return nil, "", nil
	}
	err := g.up.RecordReleases(ctx, name, string(p.digest), func() ([]storage.Release, error) {
		body, err := p.load()
		if err != nil {
			return nil, err
		}
		return releasesOf(body), nil
	})
	if err != nil {
		return nil, "", err
	}
	return g.up.AllowedReleases(ctx, c, name)
}
