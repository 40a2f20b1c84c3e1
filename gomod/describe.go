package gomod

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/larder-mirror/larder/registries"
)

// ClientSetup is the go command's set-up for this proxy and its mirror of
// the checksum database.
func (g *Registry) ClientSetup(baseURL string) []registries.Snippet {
	proxy := strings.TrimSuffix(baseURL, "/")
	snippets := []registries.Snippet{{
		Client: "go",
		Shell:  "go env -w GOPROXY=" + proxy + "\ngo env -w GOFLAGS=-mod=mod",
		Note:   "Every module through larder. GOFLAGS=-mod=mod lets go update go.mod and go.sum as it resolves.",
	}}
	if g.db != nil {
		sumdbEnv := g.db.name
		if g.db.name != "sum.golang.org" {
			sumdbEnv = g.db.key
		}
		snippets = append(snippets, registries.Snippet{
			Client: "go (checksum database)",
			Shell:  "go env -w GOSUMDB=\"" + sumdbEnv + " " + baseURL + "sumdb/" + g.db.name + "\"",
			Note:   "go verifies every module against " + g.db.name + " through larder's mirror of it, offline too for the modules larder holds.",
		})
	}
	snippets = append(snippets, registries.Snippet{
		Client: "go (private modules)",
		Shell:  "go env -w GONOSUMDB=*.corp.example.com   # or GOPRIVATE, which also skips the proxy",
		Note:   "Modules the public checksum database cannot know. List them in this registry's private patterns too, or larder refuses them as unknown to the database.",
	})
	return snippets
}

// Describe tells the UI what larder holds of a module: its versions
// (those of the list it holds, and those with files held), newest first,
// with their files.
func (g *Registry) Describe(ctx context.Context, name string) (registries.PackageInfo, error) {
	info := registries.PackageInfo{Registry: g.name, Name: name}
	arts, err := g.up.Store().PackageArtifacts(ctx, g.name, name)
	if err != nil {
		return info, err
	}
	versions := map[string]*registries.VersionInfo{}
	if doc, err := g.up.Cached(ctx, name, variantList); err == nil {
		info.MetadataFetched = doc.FetchedAt
		if body, err := g.up.Body(ctx, doc); err == nil {
			for _, v := range strings.Fields(string(body)) {
				versions[v] = &registries.VersionInfo{Version: v}
			}
		}
	}
	for _, a := range arts {
		vi := versions[a.Version]
		if vi == nil {
			vi = &registries.VersionInfo{Version: a.Version}
			versions[a.Version] = vi
		}
		vi.Cached = vi.Cached || a.Cached()
		vi.Files = append(vi.Files, registries.FileInfo{
			Name: a.Path[strings.LastIndexByte(a.Path, '/')+1:], Path: a.Path, Cached: a.Cached(),
			Size: a.Size, SHA256: string(a.SHA256), FirstFetch: a.FirstFetch, LastServed: a.LastServed,
			Hits: a.Hits, Integrity: a.Integrity, UpstreamURL: a.UpstreamURL,
		})
	}
	if len(versions) == 0 {
		return info, fmt.Errorf("%s: %w", name, registries.ErrNotFound)
	}
	for _, vi := range versions {
		sort.Slice(vi.Files, func(i, j int) bool { return vi.Files[i].Name < vi.Files[j].Name })
		info.Versions = append(info.Versions, *vi)
	}
	sort.Slice(info.Versions, func(i, j int) bool {
		return semver.Compare(info.Versions[i].Version, info.Versions[j].Version) > 0
	})
	return info, nil
}
