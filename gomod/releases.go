package gomod

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Go dates each version by when larder first saw it. The Time of a
// version's .info is no publish time: for a tag it is the time of the
// commit the tag names, for a pseudo-version the time written into the
// version, and the module's author chooses both (git commit --date), so a
// version tagged a minute ago could pass for years old. What larder saw,
// and when:
//
//   - a list, @latest or a version's .info, read from the upstream: each
//     version it names was there when larder fetched that document;
//   - a file of the version larder holds: the version was there when larder
//     first fetched that file (an archive carries the time to an importing
//     larder, so an air-gapped one dates what it imported as the larder
//     that fetched it did).
//
// Sightings are recorded whenever larder reads them, policy or not, so
// that a policy turned on later, or a view of a past date, finds them
// already made; dating needs no request of its own. A held version with no
// such time is first seen when it is first dated, offline too. A version
// neither listed, asked for nor held has no date, and counts as new.

// infoRequest is the .info of one version, as a document with a TTL (the
// variant a version query uses, which a canonical version answers too).
func (g *Registry) infoRequest(rt route, version string) registries.DocRequest {
	esc, err := module.EscapeVersion(version)
	if err != nil {
		// Not a version a list or .info may name: the request fails
		// upstream as any unknown version does.
		esc = version
	}
	return registries.DocRequest{
		Key: rt.module, Variant: variantQuery + version, Package: rt.module,
		URL: g.upstreamURL(filePath(rt.escModule, esc, "info")), Prepare: checkInfo,
	}
}

// heldSince is, for each version of mod larder holds a file of, the
// earliest first fetch of those files (zero when none is known).
func (g *Registry) heldSince(ctx context.Context, mod string) (map[string]time.Time, error) {
	arts, err := g.up.Store().PackageArtifacts(ctx, g.name, mod)
	if err != nil {
		return nil, err
	}
	held := map[string]time.Time{}
	for _, a := range arts {
		if !a.Cached() {
			continue
		}
		t, ok := held[a.Version]
		if !ok || (!a.FirstFetch.IsZero() && (t.IsZero() || a.FirstFetch.Before(t))) {
			held[a.Version] = a.FirstFetch
		}
	}
	return held, nil
}

// recordSeen records versions of mod as seen at seen (zero: now), or when
// larder first fetched a file of one it holds, if that is earlier. key
// names the sighting (a document's body): it is recorded once.
func (g *Registry) recordSeen(ctx context.Context, mod, key string, seen time.Time, versions func() ([]string, error)) error {
	return g.up.RecordReleases(ctx, mod, key, func() ([]storage.Release, error) {
		vs, err := versions()
		if err != nil {
			return nil, err
		}
		held, err := g.heldSince(ctx, mod)
		if err != nil {
			return nil, err
		}
		rels := make([]storage.Release, 0, len(vs))
		for _, v := range vs {
			at := seen
			if h := held[v]; !h.IsZero() && (at.IsZero() || h.Before(at)) {
				at = h
			}
			rels = append(rels, storage.Release{Name: v, Version: v, FirstSeen: at})
		}
		return rels, nil
	})
}

// recordList records the versions a stored list names.
func (g *Registry) recordList(ctx context.Context, mod string, doc storage.Document) error {
	return g.recordSeen(ctx, mod, "list\x00"+string(doc.Body), doc.FetchedAt, func() ([]string, error) {
		body, err := g.up.Body(ctx, doc)
		if err != nil {
			return nil, err
		}
		return listVersions(body), nil
	})
}

// recordInfo records the version a stored .info (or @latest) names.
func (g *Registry) recordInfo(ctx context.Context, mod string, doc storage.Document) error {
	return g.recordSeen(ctx, mod, "info\x00"+string(doc.Body), doc.FetchedAt, func() ([]string, error) {
		v, err := g.infoOf(ctx, doc)
		return []string{v}, err
	})
}

// infoOf is the version a stored .info names.
func (g *Registry) infoOf(ctx context.Context, doc storage.Document) (string, error) {
	body, err := g.up.Body(ctx, doc)
	if err != nil {
		return "", err
	}
	return infoVersion(body)
}

// recordHeld records held versions of mod, by their files.
func (g *Registry) recordHeld(ctx context.Context, mod string, versions []string) error {
	sort.Strings(versions)
	return g.recordSeen(ctx, mod, "held\x00"+strings.Join(versions, "\x00"), time.Time{}, func() ([]string, error) {
		return versions, nil
	})
}

// sighted passes on the failure to record a sighting when c may hold
// something back; with no cutoff it costs only that sighting, and is
// logged rather than failing the request.
func (g *Registry) sighted(c registries.Cutoff, mod string, err error) error {
	if err == nil || c.Active() {
		return err
	}
	g.up.Env().Log.Warn("versions seen were not recorded: a policy turned on later dates them from a later sighting",
		"registry", g.name, "module", mod, "err", err)
	return nil
}

// learnVersion dates one version not dated yet: by the files of it larder
// holds, else by its .info, asked of the upstream (which also tells that
// it exists: a version no one publishes is not recorded).
func (g *Registry) learnVersion(ctx context.Context, rt route, version string) error {
	held, err := g.heldSince(ctx, rt.module)
	if err != nil {
		return err
	}
	if _, ok := held[version]; ok {
		return g.recordHeld(ctx, rt.module, []string{version})
	}
	doc, err := g.up.Document(ctx, g.infoRequest(rt, version))
	if err != nil {
		return err
	}
	return g.recordInfo(ctx, rt.module, doc.Document)
}

// allowedHeld names the versions c lets a listing show among versions
// larder holds, dating by their files those not dated yet.
func (g *Registry) allowedHeld(ctx context.Context, c registries.Cutoff, rt route, versions []string) (map[string]bool, error) {
	known, err := g.up.Releases(ctx, rt.module)
	if err != nil {
		return nil, err
	}
	var undated []string
	for _, v := range versions {
		if _, ok := known[v]; !ok {
			undated = append(undated, v)
		}
	}
	if len(undated) > 0 {
		if err := g.recordHeld(ctx, rt.module, undated); err != nil {
			return nil, err
		}
	}
	allowed, _, err := g.up.AllowedReleases(ctx, c, rt.module)
	return allowed, err
}

// filterList keeps the versions allowed lists, in the order given.
func filterList(versions []string, allowed map[string]bool) []string {
	kept := versions[:0:0]
	for _, v := range versions {
		if allowed[v] {
			kept = append(kept, v)
		}
	}
	return kept
}

// listVersions reads a list document's versions.
func listVersions(body []byte) []string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if v := strings.TrimSpace(line); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// newest is the newest of versions, a release before a pre-release; "" for
// none.
func newest(versions []string) string {
	best := ""
	for _, v := range versions {
		switch {
		case best == "":
			best = v
		case (semver.Prerelease(v) == "") != (semver.Prerelease(best) == ""):
			if semver.Prerelease(v) == "" {
				best = v
			}
		case semver.Compare(v, best) > 0:
			best = v
		}
	}
	return best
}

// listUnder is a list document as c lets it be served: its versions
// recorded as seen, and only those c allows.
func (g *Registry) listUnder(ctx context.Context, c registries.Cutoff, rt route, doc storage.Document) (*registries.Rendered, error) {
	if err := g.sighted(c, rt.module, g.recordList(ctx, rt.module, doc)); err != nil {
		return nil, err
	}
	if !c.Active() {
		return g.up.RenderStored(ctx, doc, mediaText)
	}
	body, err := g.up.Body(ctx, doc)
	if err != nil {
		return nil, err
	}
	allowed, _, err := g.up.AllowedReleases(ctx, c, rt.module)
	if err != nil {
		return nil, err
	}
	return renderList(filterList(listVersions(body), allowed)), nil
}

func renderList(versions []string) *registries.Rendered {
	if len(versions) == 0 {
		return registries.NewRendered(nil, mediaText)
	}
	return registries.NewRendered([]byte(strings.Join(versions, "\n")+"\n"), mediaText)
}

// latestUnder is @latest as c lets it be served: the upstream's answer,
// its version recorded as seen, when c allows it, else the .info of the
// newest listed version c allows.
func (g *Registry) latestUnder(ctx context.Context, c registries.Cutoff, rt route, latest storage.Document) (*registries.Rendered, error) {
	if err := g.sighted(c, rt.module, g.recordInfo(ctx, rt.module, latest)); err != nil {
		return nil, err
	}
	if !c.Active() {
		return g.up.RenderStored(ctx, latest, mediaJSON)
	}
	v, err := g.infoOf(ctx, latest)
	if err != nil {
		return nil, err
	}
	rels, err := g.up.Releases(ctx, rt.module)
	if err != nil {
		return nil, err
	}
	if r, ok := rels[v]; ok && c.Allows(r.Version, r, true) {
		return g.up.RenderStored(ctx, latest, mediaJSON)
	}
	var versions []string
	list, err := g.up.Document(ctx, registries.DocRequest{
		Key: rt.module, Variant: variantList, Package: rt.module,
		URL: g.upstreamURL(rt.escModule + "/@v/list"), Prepare: checkList,
	})
	switch {
	case errors.Is(err, registries.ErrNotFound):
		// A module with no tagged version: @latest names its newest
		// pseudo-version, which is all there is.
	case err != nil:
		return nil, err
	default:
		if err := g.recordList(ctx, rt.module, list.Document); err != nil {
			return nil, err
		}
		body, err := g.up.Body(ctx, list.Document)
		if err != nil {
			return nil, err
		}
		versions = listVersions(body)
	}
	allowed, _, err := g.up.AllowedReleases(ctx, c, rt.module)
	if err != nil {
		return nil, err
	}
	best := newest(filterList(versions, allowed))
	if best == "" {
		return nil, g.refuseNewest(ctx, rt, append(versions, v))
	}
	info, err := g.up.Document(ctx, g.infoRequest(rt, best))
	if err != nil {
		return nil, err
	}
	return g.up.RenderStored(ctx, info.Document, mediaJSON)
}

// refuseNewest is @latest's answer when versions exist but c allows none:
// the refusal (403, saying why and until when) of the newest, as its
// download would be. A 404 would send GOPROXY=larder,direct on to fetch
// it from its origin.
func (g *Registry) refuseNewest(ctx context.Context, rt route, versions []string) error {
	v := newest(versions)
	if v != "" {
		if err := g.up.CheckRelease(ctx, &registries.ArtifactTarget{Package: rt.module, Version: v, Release: v}); err != nil {
			return fmt.Errorf("no version of %s is old enough to be served: %w", rt.module, err)
		}
	}
	return fmt.Errorf("%w: no version of %s is old enough for this registry's release-age policy or view", registries.ErrNotFound, rt.module)
}
