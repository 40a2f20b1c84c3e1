package npm

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/larder-mirror/larder/registries"
)

// While larder cannot ask the upstream (offline, or the upstream is down) a
// packument is a view of what is cached: only versions whose tarball larder
// holds, and dist-tags that point at them. A client resolving "^1.2.0" or
// "latest" then picks a version it can actually install.
//
// One exception: a package none of whose tarballs is held, but whose
// versions are built for particular platforms (they declare os or cpu),
// keeps those versions listed. Such packages are optional dependencies
// pinned exactly by a front package, one per platform; a client on another
// platform needs only their metadata, to skip them, and yarn classic fails
// the whole install when it cannot resolve one (see optional.go). Once a
// version of a package is held, only held versions are listed, platform
// builds or not: a range (fsevents "~2.3.2") must resolve to a held one.
// Tags point only at held versions. The release-age cutoff knows no
// exception: a version too young is never listed.

// heldVersions returns the versions of a package whose tarballs are held,
// and a key that changes whenever that set does.
func (g *Registry) heldVersions(ctx context.Context, name string) (map[string]bool, string, error) {
	paths, err := g.up.Store().CachedPaths(ctx, g.name, name)
	if err != nil {
		return nil, "", err
	}
	return versionsOf(name, paths), registries.HeldKey(paths), nil
}

// versionsOf are the versions of name whose tarballs are among paths.
func versionsOf(name string, paths map[string]bool) map[string]bool {
	held := make(map[string]bool, len(paths))
	for p := range paths {
		if v, ok := tarballVersion(name, p[strings.LastIndexByte(p, '/')+1:]); ok {
			held[v] = true
		}
	}
	return held
}

// viewFilter says which versions a view of a packument keeps.
type viewFilter struct {
	allowed map[string]bool // what the release-age cutoff allows; nil: all
	held    map[string]bool // what is held; nil: all
	// unheldPlatformBuilds keeps versions built for particular platforms
	// though they are not held: for a package none of whose tarballs is.
	unheldPlatformBuilds bool
}

// offers reports whether a client may pick v: a tag may point at it.
func (f viewFilter) offers(v string) bool {
	return (f.allowed == nil || f.allowed[v]) && (f.held == nil || f.held[v])
}

// lists reports whether the view lists v, whose version document is raw.
func (f viewFilter) lists(v string, raw []byte) bool {
	if f.allowed != nil && !f.allowed[v] {
		return false
	}
	return f.held == nil || f.held[v] || (f.unheldPlatformBuilds && platformBound(raw))
}

// cachedView filters a packument to the versions f keeps, and their times.
// A tag pointing at a version not offered falls back to the newest version
// offered not newer than it (and not a pre-release, unless the tag pointed
// at one), and goes when there is none: latest stays installable, and
// next or beta move back along their own line.
func cachedView(body []byte, f viewFilter) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	var versions map[string]json.RawMessage
	if raw, ok := doc["versions"]; ok {
		if err := json.Unmarshal(raw, &versions); err != nil {
			return nil, err
		}
	}
	kept := map[string]json.RawMessage{}
	for v, raw := range versions {
		if f.lists(v, raw) {
			kept[v] = raw
		}
	}
	var tags map[string]string
	if raw, ok := doc["dist-tags"]; ok {
		json.Unmarshal(raw, &tags)
	}
	newTags := map[string]string{}
	for tag, v := range tags {
		if _, listed := kept[v]; listed && f.offers(v) {
			newTags[tag] = v
		} else if best := newestOfferedUpTo(kept, f, v); best != "" {
			newTags[tag] = best
		}
	}
	if _, ok := newTags["latest"]; !ok && tags["latest"] == "" {
		if best := newestOfferedUpTo(kept, f, ""); best != "" {
			newTags["latest"] = best
		}
	}
	if raw, ok := doc["time"]; ok {
		// The times of versions left out go too: pnpm reads time to
		// pick versions (resolution-mode=time-based).
		var times map[string]json.RawMessage
		if json.Unmarshal(raw, &times) == nil {
			for v := range times {
				if _, isVersion := versions[v]; isVersion {
					if _, listed := kept[v]; !listed {
						delete(times, v)
					}
				}
			}
			doc["time"], _ = json.Marshal(times)
		}
	}
	var err error
	if doc["versions"], err = json.Marshal(kept); err != nil {
		return nil, err
	}
	if doc["dist-tags"], err = json.Marshal(newTags); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// newestOfferedUpTo is what a tag that pointed at target points at in a
// view without it: the newest version offered not newer than target (any,
// when target is ""), a pre-release only when target is one.
func newestOfferedUpTo(kept map[string]json.RawMessage, f viewFilter, target string) string {
	best := ""
	for v := range kept {
		if !f.offers(v) {
			continue
		}
		if _, ok := parseSemver(v); !ok || (isPrerelease(v) && !isPrerelease(target)) {
			continue
		}
		if target != "" && compareVersions(v, target) > 0 {
			continue
		}
		if best == "" || compareVersions(v, best) > 0 {
			best = v
		}
	}
	return best
}

// platformBound reports whether a version document declares the operating
// systems or processors it is built for.
func platformBound(version []byte) bool {
	for _, key := range []string{"os", "cpu"} {
		if list := gjson.GetBytes(version, key); list.IsArray() && len(list.Array()) > 0 {
			return true
		}
	}
	return false
}

// anyPlatformBound reports whether a packument lists a version built for
// particular platforms.
func anyPlatformBound(body []byte) bool {
	found := false
	gjson.GetBytes(body, "versions").ForEach(func(_, v gjson.Result) bool {
		found = platformBound([]byte(v.Raw))
		return !found
	})
	return found
}

func isPrerelease(v string) bool {
	sv, ok := parseSemver(v)
	return ok && len(sv.pre) > 0
}

// offlineView renders the cached-only view of a packument, or explains why
// there is nothing to install.
func (g *Registry) offlineView(ctx context.Context, name, variant string, p packument, base string, allowed map[string]bool, ageKey string) (*registries.Rendered, error) {
	held, heldKey, err := g.heldVersions(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(held) == 0 {
		if !g.up.Gone() {
			// A passing upstream failure (or a suspect upstream) with
			// nothing held: the stale document is still the best answer.
			return g.render(ctx, name, variant, p, base, allowed, ageKey)
		}
		body, err := p.load()
		if err != nil {
			return nil, err
		}
		if !anyPlatformBound(body) {
			return nil, g.up.NotCached("any tarball of " + name)
		}
	}
	filter := viewFilter{allowed: allowed, held: held, unheldPlatformBuilds: len(held) == 0}
	key := strings.Join([]string{g.name, name, variant, string(p.digest), base, boolKey(p.derived), "held", heldKey, ageKey}, "\x00")
	return g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		body, err := p.load()
		if err != nil {
			return nil, err
		}
		view, err := cachedView(body, filter)
		if err != nil {
			return nil, err
		}
		return registries.NewRendered(rewriteTarballs(view, name, base), contentTypeOf(variant)), nil
	})
}
