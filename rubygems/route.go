package rubygems

import (
	"net/url"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

type routeKind int

const (
	routeRoot      routeKind = iota // the mount itself: gem asks whether the source answers
	routeVersions                   // versions
	routeNames                      // names
	routeInfo                       // info/$name
	routeGem                        // gems/$name-$release.gem
	routeSpec                       // quick/Marshal.4.8/$name-$release.gemspec.rz
	routeFullIndex                  // specs.4.8.gz, latest_specs.4.8.gz, prerelease_specs.4.8.gz
)

// route is a request path below the mount, read once.
type route struct {
	kind routeKind
	name string // routeInfo; the file's path for routeVersions, routeNames, routeFullIndex
	// file: the path below the mount and upstream (routeGem, routeSpec),
	// and the readings of its name as a gem's name and release.
	file       string
	candidates []release
}

// parseRoute reads an escaped request path below the mount.
func parseRoute(raw string) (route, error) {
	p, err := url.PathUnescape(strings.TrimPrefix(raw, "/"))
	if err != nil {
		return route{}, registries.Refuse("malformed path: %v", err)
	}
	switch p {
	case "":
		return route{kind: routeRoot}, nil
	case "versions":
		return route{kind: routeVersions, name: p}, nil
	case "names":
		return route{kind: routeNames, name: p}, nil
	case fullIndexAll, fullIndexLatest, fullIndexPrerelease:
		return route{kind: routeFullIndex, name: p}, nil
	case "api/v1/dependencies", "api/v1/dependencies.json":
		return route{}, registries.Refuse("%s: larder serves the compact index (versions, info/NAME), which bundler and gem use; the dependency API is not mirrored", p)
	}
	if name, ok := strings.CutPrefix(p, "info/"); ok {
		if !validName(name) {
			return route{}, registries.Refuse("%s is not a gem's name", quote(name))
		}
		return route{kind: routeInfo, name: name}, nil
	}
	if file, ok := strings.CutPrefix(p, "gems/"); ok {
		stem, ok := strings.CutSuffix(file, ".gem")
		return fileRoute(routeGem, p, stem, ok)
	}
	if file, ok := strings.CutPrefix(p, "quick/Marshal.4.8/"); ok {
		stem, ok := strings.CutSuffix(file, ".gemspec.rz")
		return fileRoute(routeSpec, p, stem, ok)
	}
	return route{}, registries.Refuse("%s is not a path of the compact index (versions, names, info/NAME), a gem (gems/NAME-VERSION.gem) or a gemspec (quick/Marshal.4.8/NAME-VERSION.gemspec.rz)", quote(p))
}

func fileRoute(kind routeKind, p, stem string, ok bool) (route, error) {
	if !ok || strings.Contains(stem, "/") {
		return route{}, registries.Refuse("%s is not a gem's file", quote(p))
	}
	c := fileCandidates(stem)
	if len(c) == 0 {
		return route{}, registries.Refuse("%s: not a gem's NAME-VERSION[-PLATFORM]", quote(stem))
	}
	return route{kind: kind, file: p, candidates: c}, nil
}
