package pypi

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Upstream returns the registry's upstream link.
func (g *Registry) Upstream() *registries.Upstream { return g.up }

// Describe tells the UI what larder holds of a project: the versions its
// cached page lists (or, without one, the files it holds), newest first,
// with yanked state and requires-python.
func (g *Registry) Describe(ctx context.Context, name string) (registries.PackageInfo, error) {
	if err := ValidateName(name); err != nil {
		return registries.PackageInfo{}, fmt.Errorf("%w: %v", registries.ErrNotFound, err)
	}
	project := Normalize(name)
	info := registries.PackageInfo{Registry: g.name, Name: project}
	arts, err := g.up.Store().PackageArtifacts(ctx, g.name, project)
	if err != nil {
		return info, err
	}
	held := map[string]storage.Artifact{}
	for _, a := range arts {
		held[a.Path] = a
	}
	var files []File
	doc, err := g.up.Cached(ctx, project, variantPage)
	switch {
	case err == nil:
		p, err := g.loadProject(ctx, doc)
		if err != nil {
			return info, err
		}
		info.MetadataFetched, files = doc.FetchedAt, p.Files
		if p.Name != "" {
			info.Name = p.Name
		}
	case errors.Is(err, storage.ErrNotFound):
		for _, a := range arts {
			if a.Cached() && !isMetadata(a.Path) {
				files = append(files, File{Filename: a.Path[len(filePath(project, "")):]})
			}
		}
		if len(files) == 0 {
			return info, fmt.Errorf("%s: %w", project, registries.ErrNotFound)
		}
	default:
		return info, err
	}
	versions := map[string]*registries.VersionInfo{}
	var order []string
	for _, f := range files {
		v := versionFromFilename(project, f.Filename)
		vi := versions[v]
		if vi == nil {
			vi = &registries.VersionInfo{Version: v, Yanked: true}
			versions[v] = vi
			order = append(order, v)
		}
		// A version is yanked when every one of its files is (PEP 592).
		if !f.Yanked {
			vi.Yanked = false
		} else if vi.YankedReason == "" {
			vi.YankedReason = f.YankedReason
		}
		if f.RequiresPython != "" {
			vi.RequiresPython = f.RequiresPython
		}
		if t, err := time.Parse(time.RFC3339Nano, f.UploadTime); err == nil && (vi.Published.IsZero() || t.Before(vi.Published)) {
			vi.Published = t
		}
		path := filePath(project, f.Filename)
		fi := registries.FileInfo{Name: f.Filename, Path: path, UpstreamURL: f.URL}
		if a, ok := held[path]; ok {
			fi.Cached, fi.Size, fi.SHA256 = a.Cached(), a.Size, string(a.SHA256)
			fi.FirstFetch, fi.LastServed, fi.Hits, fi.Integrity = a.FirstFetch, a.LastServed, a.Hits, a.Integrity
		}
		if !fi.Cached && f.Size != nil {
			fi.Size = *f.Size
		}
		vi.Cached = vi.Cached || fi.Cached
		vi.Files = append(vi.Files, fi)
	}
	for _, v := range order {
		if !versions[v].Yanked {
			versions[v].YankedReason = ""
		}
		versions[v].Install = "pip install " + info.Name + "==" + v
		info.Versions = append(info.Versions, *versions[v])
	}
	sort.SliceStable(info.Versions, func(i, j int) bool {
		return compareVersions(info.Versions[i].Version, info.Versions[j].Version) > 0
	})
	g.describeAbout(ctx, &info, project, arts)
	return info, nil
}

func isMetadata(path string) bool {
	return len(path) > len(".metadata") && path[len(path)-len(".metadata"):] == ".metadata"
}
