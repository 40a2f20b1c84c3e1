package cargo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/larder-mirror/larder/registries"
)

// ClientSetup is cargo's set-up: crates.io replaced by larder's sparse
// registry.
func (g *Registry) ClientSetup(baseURL string) []registries.Snippet {
	return []registries.Snippet{{
		Client: "cargo",
		Shell: "# ~/.cargo/config.toml, or .cargo/config.toml in a project\n" +
			"[source.crates-io]\nreplace-with = \"larder\"\n\n" +
			"[source.larder]\nregistry = \"sparse+" + baseURL + "\"",
		Note: "Every crates.io dependency through larder; Cargo.lock stays as it is. larder is read-only: cargo publish, yank and search go to crates.io itself.",
	}}
}

// Describe tells the UI what larder holds of a crate: the versions its
// held index file lists and those with a .crate held, newest first.
func (g *Registry) Describe(ctx context.Context, name string) (registries.PackageInfo, error) {
	pkg := strings.ToLower(name)
	info := registries.PackageInfo{Registry: g.name, Name: pkg}
	versions := map[string]*registries.VersionInfo{}
	if doc, err := g.up.Cached(ctx, pkg, variantIndex); err == nil {
		info.MetadataFetched = doc.FetchedAt
		if body, err := g.up.Body(ctx, doc); err == nil {
			if lines, err := parseIndex(body, pkg); err == nil {
				for _, l := range lines {
					versions[l.Vers] = versionInfo(l)
					info.Name = l.Name // as published, case and all
				}
			}
		}
	}
	arts, err := g.up.Store().PackageArtifacts(ctx, g.name, pkg)
	if err != nil {
		return info, err
	}
	for _, a := range arts {
		vi := versions[a.Version]
		if vi == nil {
			vi = &registries.VersionInfo{Version: a.Version}
			versions[a.Version] = vi
		}
		vi.Cached = vi.Cached || a.Cached()
		crate := strings.TrimPrefix(a.Path, downloadPrefix)
		crate = crate[:strings.IndexByte(crate, '/')]
		// The path ends in …/download: the UI names the file cargo keeps.
		file := registries.FileInfoOf(a)
		file.Name = crate + "-" + a.Version + ".crate"
		vi.Files = append(vi.Files, file)
	}
	if len(versions) == 0 {
		return info, fmt.Errorf("%s: %w", name, registries.ErrNotFound)
	}
	for _, vi := range versions {
		vi.Install = "cargo add " + info.Name + "@=" + vi.Version
		info.Versions = append(info.Versions, *vi)
	}
	sort.Slice(info.Versions, func(i, j int) bool {
		return semver.Compare("v"+info.Versions[i].Version, "v"+info.Versions[j].Version) > 0
	})
	return info, nil
}

// versionInfo is what an index line says of its version.
func versionInfo(l line) *registries.VersionInfo {
	vi := &registries.VersionInfo{Version: l.Vers, Yanked: l.Yanked, DependenciesKnown: true, Dependencies: []registries.Dependency{}}
	if t, err := time.Parse(time.RFC3339, l.Pubtime); err == nil {
		vi.Published = t
	}
	for _, d := range l.Deps {
		dep := registries.Dependency{Name: d.Name, Constraint: d.Req}
		if d.Package != "" {
			// Renamed in Cargo.toml: name is the key, package the crate.
			dep.Name = d.Package
		}
		var notes []string
		if d.Kind != "" && d.Kind != "normal" {
			notes = append(notes, d.Kind)
		}
		if d.Optional {
			notes = append(notes, "optional")
		}
		if d.Target != nil && *d.Target != "" {
			notes = append(notes, "target "+*d.Target)
		}
		dep.Note = strings.Join(notes, ", ")
		vi.Dependencies = append(vi.Dependencies, dep)
	}
	return vi
}
