package rubygems

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

// ClientSetup is bundler's and gem's set-up for this mirror.
func (g *Registry) ClientSetup(baseURL string) []registries.Snippet {
	upstream := g.up.Options().Upstream.String()
	return []registries.Snippet{{
		Client: "bundler",
		Shell:  "bundle config set --global mirror." + strings.TrimSuffix(upstream, "/") + " " + baseURL,
		Note:   "Every Gemfile whose source is " + upstream + " installs through larder; the Gemfile and Gemfile.lock stay as they are.",
	}, {
		Client: "gem",
		// rubygems.org is RubyGems' default source, whatever larder's upstream.
		Shell: "gem sources --add " + baseURL + " --remove https://rubygems.org/\n# or for one install: gem install --clear-sources --source " + baseURL + " NAME",
		Note:  "gem install, gem search --remote and gem list --remote then ask larder alone.",
	}}
}

// Describe tells the UI what larder holds of a gem: its releases (those
// of the info file it holds, and those with files held), newest first,
// with their files and requirements.
func (g *Registry) Describe(ctx context.Context, name string) (registries.PackageInfo, error) {
	pi := registries.PackageInfo{Registry: g.name, Name: name}
	arts, err := g.up.Store().PackageArtifacts(ctx, g.name, name)
	if err != nil {
		return pi, err
	}
	versions := map[string]*registries.VersionInfo{}
	get := func(v string) *registries.VersionInfo {
		if versions[v] == nil {
			versions[v] = &registries.VersionInfo{Version: v, Install: "gem install " + name + " -v " + v}
		}
		return versions[v]
	}
	if doc, err := g.up.Cached(ctx, name, variantInfo); err == nil {
		pi.MetadataFetched = doc.FetchedAt
		if body, err := g.up.Body(ctx, doc); err == nil {
			if inf, err := parseInfo(body); err == nil {
				for _, l := range inf.lines {
					version, platform, _ := splitRelease(l.release)
					vi := get(version)
					if platform == "" || !vi.DependenciesKnown {
						vi.Dependencies, vi.DependenciesKnown = []registries.Dependency{}, true
						for _, d := range l.deps {
							vi.Dependencies = append(vi.Dependencies, registries.Dependency{Name: d.name, Constraint: d.requirement})
						}
						if l.ruby != "" {
							vi.Dependencies = append(vi.Dependencies, registries.Dependency{Name: "ruby", Constraint: l.ruby, Note: "required Ruby"})
						}
					}
				}
			}
		}
	}
	for _, a := range arts {
		vi := get(a.Version)
		vi.Cached = vi.Cached || a.Cached() && strings.HasSuffix(a.Path, ".gem")
		vi.Files = append(vi.Files, registries.FileInfoOf(a))
	}
	if len(versions) == 0 {
		return pi, fmt.Errorf("%s: %w", name, registries.ErrNotFound)
	}
	for _, vi := range versions {
		sort.Slice(vi.Files, func(i, j int) bool { return vi.Files[i].Name < vi.Files[j].Name })
		pi.Versions = append(pi.Versions, *vi)
	}
	sort.Slice(pi.Versions, func(i, j int) bool { return compareVersions(pi.Versions[i].Version, pi.Versions[j].Version) > 0 })
	return pi, nil
}

// compareVersions orders versions as Gem::Version does, near enough for
// a list: segment by segment, numbers as numbers, a segment with letters
// (a pre-release) before any number.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		x, y := "0", "0"
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		switch {
		case xerr == nil && yerr == nil && xn != yn:
			if xn < yn {
				return -1
			}
			return 1
		case xerr != nil && yerr == nil:
			return -1
		case xerr == nil && yerr != nil:
			return 1
		case xerr != nil && yerr != nil && x != y:
			return strings.Compare(x, y)
		}
	}
	return 0
}
