package npm

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tidwall/gjson"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Upstream returns the registry's upstream link.
func (g *Registry) Upstream() *registries.Upstream { return g.up }

// Describe tells the UI what larder holds of a package: the versions its
// cached packument lists (or, without one, the tarballs it holds), newest
// first, with dist-tags and deprecations.
func (g *Registry) Describe(ctx context.Context, name string) (registries.PackageInfo, error) {
	if err := ValidateName(name); err != nil {
		return registries.PackageInfo{}, fmt.Errorf("%w: %v", registries.ErrNotFound, err)
	}
	info := registries.PackageInfo{Registry: g.name, Name: name}
	var doc storage.Document
	found := false
	for _, variant := range []string{variantFull, variantAbbreviated} {
		if d, err := g.up.Cached(ctx, name, variant); err == nil && (!found || d.FetchedAt.After(doc.FetchedAt)) {
			doc, found = d, true
		}
	}
	arts, err := g.up.Store().PackageArtifacts(ctx, g.name, name)
	if err != nil {
		return info, err
	}
	if !found && len(arts) == 0 {
		return info, fmt.Errorf("%s: %w", name, registries.ErrNotFound)
	}
	byVersion := map[string]storage.Artifact{}
	for _, a := range arts {
		byVersion[a.Version] = a
	}
	versions := map[string]*registries.VersionInfo{}
	if found {
		body, err := g.up.Body(ctx, doc)
		if err != nil {
			return info, err
		}
		info.MetadataFetched = doc.FetchedAt
		d := gjson.ParseBytes(body)
		info.Tags = map[string]string{}
		d.Get("dist-tags").ForEach(func(k, v gjson.Result) bool {
			info.Tags[k.String()] = v.String()
			return true
		})
		times := d.Get("time")
		d.Get("versions").ForEach(func(k, v gjson.Result) bool {
			vi := &registries.VersionInfo{Version: k.String(), Deprecated: v.Get("deprecated").String()}
			if t, err := time.Parse(time.RFC3339, times.Get(gjsonKey(k.String())).String()); err == nil {
				vi.Published = t
			}
			versions[vi.Version] = vi
			return true
		})
	}
	for v := range byVersion {
		if versions[v] == nil {
			versions[v] = &registries.VersionInfo{Version: v}
		}
	}
	for _, vi := range versions {
		path := tarballPath(name, vi.Version)
		f := registries.FileInfo{Name: basename(name) + "-" + vi.Version + ".tgz", Path: path}
		if a, ok := byVersion[vi.Version]; ok {
			f.Cached, f.Size, f.SHA256 = a.Cached(), a.Size, string(a.SHA256)
			f.FirstFetch, f.LastServed, f.Hits = a.FirstFetch, a.LastServed, a.Hits
			f.Integrity, f.UpstreamURL = a.Integrity, a.UpstreamURL
		}
		vi.Cached = f.Cached
		vi.Files = []registries.FileInfo{f}
		info.Versions = append(info.Versions, *vi)
	}
	sort.Slice(info.Versions, func(i, j int) bool {
		return compareVersions(info.Versions[i].Version, info.Versions[j].Version) > 0
	})
	return info, nil
}
