package gomod

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
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
	// One GONOSUMDB line carries both kinds of pattern: each go env -w
	// replaces the value the line before set.
	if g.private != "" {
		note := "This registry's private patterns: modules the checksum database cannot know, which go must not look up either."
		if g.exclude != "" {
			note = "This registry's private and exclude patterns: modules the checksum database cannot know, or that go fetches from their repositories, which go must not look up in it either."
		}
		snippets = append(snippets, registries.Snippet{
			Client: "go (private modules)",
			Shell:  "go env -w GONOSUMDB=" + joinPatterns(g.private, g.exclude),
			Note:   note,
		})
	} else {
		snippets = append(snippets, registries.Snippet{
			Client: "go (private modules)",
			Shell:  "go env -w GONOSUMDB=" + joinPatterns("*.corp.example.com", g.exclude) + "   # or GOPRIVATE, which also skips the proxy",
			Note:   "Modules the public checksum database cannot know. List them in this registry's private patterns too, or larder refuses them as unknown to the database.",
		})
	}
	if g.exclude != "" {
		snippets = append(snippets, registries.Snippet{
			Client: "go (excluded modules)",
			Shell:  "go env -w GONOPROXY=" + g.exclude,
			Note:   "This registry's exclude patterns: larder answers 404 for them, so go fetches them from their repositories (the GONOSUMDB line above names them too).",
		})
	}
	return snippets
}

// joinPatterns joins comma-separated pattern lists, leaving out empty ones.
func joinPatterns(lists ...string) string {
	var kept []string
	for _, l := range lists {
		if l != "" {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, ",")
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
		if a.Cached() && strings.HasSuffix(a.Path, ".mod") && !vi.DependenciesKnown {
			if data, err := g.heldBytes(ctx, a.SHA256, maxModFile); err == nil {
				if deps, ok := requirements(a.Path, data); ok {
					vi.Dependencies, vi.DependenciesKnown = deps, true
				}
			}
		}
		vi.Files = append(vi.Files, registries.FileInfoOf(a))
	}
	if len(versions) == 0 {
		return info, fmt.Errorf("%s: %w", name, registries.ErrNotFound)
	}
	for _, vi := range versions {
		vi.Install = "go get " + name + "@" + vi.Version
		sort.Slice(vi.Files, func(i, j int) bool { return vi.Files[i].Name < vi.Files[j].Name })
		info.Versions = append(info.Versions, *vi)
	}
	sort.Slice(info.Versions, func(i, j int) bool {
		return semver.Compare(info.Versions[i].Version, info.Versions[j].Version) > 0
	})
	return info, nil
}

// maxModFile bounds a go.mod read for the UI.
const maxModFile = 1 << 20

// heldBytes reads a held blob of at most limit bytes.
func (g *Registry) heldBytes(ctx context.Context, d storage.Digest, limit int64) ([]byte, error) {
	rc, _, err := g.up.Store().OpenArtifact(ctx, d, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, limit))
}

// requirements lists a go.mod's require lines, indirect ones marked.
func requirements(path string, data []byte) ([]registries.Dependency, bool) {
	f, err := modfile.ParseLax(path, data, nil)
	if err != nil {
		return nil, false
	}
	deps := []registries.Dependency{}
	for _, r := range f.Require {
		d := registries.Dependency{Name: r.Mod.Path, Constraint: r.Mod.Version}
		if r.Indirect {
			d.Note = "indirect"
		}
		deps = append(deps, d)
	}
	sort.SliceStable(deps, func(i, j int) bool { return deps[i].Note == "" && deps[j].Note != "" })
	return deps, true
}
