package npm

import (
	"context"
	"fmt"
	"sort"
	"strings"
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
		about := d
		if doc.Variant != variantFull {
			// Only the full packument carries the readme and the links.
			if full, err := g.up.Cached(ctx, name, variantFull); err == nil {
				if b, err := g.up.Body(ctx, full); err == nil {
					about = gjson.ParseBytes(b)
				}
			}
		}
		describeAbout(&info, about)
		info.Tags = map[string]string{}
		d.Get("dist-tags").ForEach(func(k, v gjson.Result) bool {
			info.Tags[k.String()] = v.String()
			return true
		})
		times := d.Get("time")
		d.Get("versions").ForEach(func(k, v gjson.Result) bool {
			vi := &registries.VersionInfo{Version: k.String(), Deprecated: v.Get("deprecated").String()}
			vi.Dependencies, vi.DependenciesKnown = dependencies(v), true
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
		vi.Install = "npm install " + name + "@" + vi.Version
		info.Versions = append(info.Versions, *vi)
	}
	sort.Slice(info.Versions, func(i, j int) bool {
		return compareVersions(info.Versions[i].Version, info.Versions[j].Version) > 0
	})
	return info, nil
}

// describeAbout reads what a full packument says of its package: the
// top-level description, readme, license, homepage and repository, else the
// latest version's (the registry copies them up, but not always).
func describeAbout(info *registries.PackageInfo, d gjson.Result) {
	latest := d.Get("versions." + gjsonKey(d.Get("dist-tags.latest").String()))
	pick := func(field string) gjson.Result {
		if r := d.Get(field); r.Exists() && r.Type != gjson.Null && r.String() != "" {
			return r
		}
		return latest.Get(field)
	}
	info.Description = pick("description").String()
	info.Homepage = pick("homepage").String()
	info.License = licenseOf(pick("license"))
	info.Repository = repositoryURL(pick("repository"))
	// The registry puts the latest version's readme at the top level, and
	// "ERROR: No README data found!" where the tarball had none.
	if r := pick("readme").String(); r != "" && !strings.HasPrefix(r, "ERROR: No README") {
		info.Readme = r
		info.ReadmeFormat = "markdown"
		if fn := strings.ToLower(pick("readmeFilename").String()); fn != "" &&
			!strings.HasSuffix(fn, ".md") && !strings.HasSuffix(fn, ".markdown") {
			info.ReadmeFormat = "text"
		}
	}
}

// licenseOf reads "MIT", {"type": "MIT"}, or the old [{"type": …}, …].
func licenseOf(r gjson.Result) string {
	switch {
	case r.IsObject():
		return r.Get("type").String()
	case r.IsArray():
		var names []string
		for _, l := range r.Array() {
			if t := l.Get("type").String(); t != "" {
				names = append(names, t)
			}
		}
		return strings.Join(names, " OR ")
	}
	return r.String()
}

// repositoryURL turns package.json's repository ("git+https://…/x.git",
// {"type": "git", "url": …}, "github:user/repo", "user/repo") into the
// address a browser opens; "" when it is none of those.
func repositoryURL(r gjson.Result) string {
	u := r.String()
	if r.IsObject() {
		u = r.Get("url").String()
	}
	u = strings.TrimSpace(u)
	for _, host := range []struct{ prefix, base string }{
		{"github:", "https://github.com/"}, {"gitlab:", "https://gitlab.com/"}, {"bitbucket:", "https://bitbucket.org/"},
	} {
		if rest, ok := strings.CutPrefix(u, host.prefix); ok {
			return host.base + rest
		}
	}
	if !strings.Contains(u, ":") && strings.Count(u, "/") == 1 {
		return "https://github.com/" + u
	}
	u = strings.TrimPrefix(u, "git+")
	if rest, ok := strings.CutPrefix(u, "git://"); ok {
		u = "https://" + rest
	}
	if rest, ok := strings.CutPrefix(u, "ssh://git@"); ok {
		u = "https://" + rest
	}
	if rest, ok := strings.CutPrefix(u, "git@"); ok { // git@github.com:user/repo.git
		u = "https://" + strings.Replace(rest, ":", "/", 1)
	}
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return ""
	}
	return strings.TrimSuffix(u, ".git")
}

// dependencies lists a version's dependencies, optional and peer ones
// marked, each group sorted by name.
func dependencies(v gjson.Result) []registries.Dependency {
	deps := []registries.Dependency{}
	optional := map[string]bool{}
	v.Get("optionalDependencies").ForEach(func(k, _ gjson.Result) bool {
		optional[k.String()] = true
		return true
	})
	for _, group := range []struct{ field, note string }{
		{"dependencies", ""}, {"optionalDependencies", "optional"}, {"peerDependencies", "peer"},
	} {
		start := len(deps)
		v.Get(group.field).ForEach(func(k, c gjson.Result) bool {
			// npm copies optional dependencies into dependencies too.
			if group.field == "dependencies" && optional[k.String()] {
				return true
			}
			note := group.note
			if group.note == "peer" && v.Get("peerDependenciesMeta."+gjsonKey(k.String())+".optional").Bool() {
				note = "optional peer"
			}
			deps = append(deps, registries.Dependency{Name: k.String(), Constraint: c.String(), Note: note})
			return true
		})
		sort.Slice(deps[start:], func(i, j int) bool { return deps[start+i].Name < deps[start+j].Name })
	}
	return deps
}
