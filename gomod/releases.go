package gomod

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Go dates each version by the Time of its .info, as the upstream proxy
// gives it (for a tagged version, the time of the commit the tag names).
// The list of versions carries no times, so under a cutoff larder asks for
// the .info of each listed version it has not dated yet, a few at a time,
// once per version: it is recorded for good.

// maxDatedPerList bounds the .info requests one list makes; versions left
// undated count as new (left out) until a later list dates them.
const maxDatedPerList = 256

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

// infoRelease reads the version and time of a .info.
func infoRelease(body []byte) (storage.Release, error) {
	var info struct {
		Version string
		Time    string
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return storage.Release{}, fmt.Errorf(".info is not JSON: %v", err)
	}
	r := storage.Release{Name: info.Version, Version: info.Version}
	if t, err := time.Parse(time.RFC3339Nano, info.Time); err == nil {
		r.Published = t
	}
	return r, nil
}

// recordInfo records the release a stored .info dates.
func (g *Registry) recordInfo(ctx context.Context, module string, doc storage.Document) (storage.Release, error) {
	var rel storage.Release
	body, err := g.up.Body(ctx, doc)
	if err != nil {
		return rel, err
	}
	if rel, err = infoRelease(body); err != nil {
		return rel, err
	}
	err = g.up.RecordReleases(ctx, module, "info\x00"+string(doc.Body), func() ([]storage.Release, error) {
		return []storage.Release{rel}, nil
	})
	return rel, err
}

// learnVersion dates one version from its .info.
func (g *Registry) learnVersion(ctx context.Context, rt route, version string) error {
	doc, err := g.up.Document(ctx, g.infoRequest(rt, version))
	if err != nil {
		return err
	}
	_, err = g.recordInfo(ctx, rt.module, doc.Document)
	return err
}

// allowedVersions dates the versions not dated yet, newest first, and
// names those c lets a listing show: nil when c holds nothing back.
func (g *Registry) allowedVersions(ctx context.Context, c registries.Cutoff, rt route, versions []string) (map[string]bool, error) {
	if !c.Active() {
		return nil, nil
	}
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
	sort.Slice(undated, func(i, j int) bool { return semver.Compare(undated[i], undated[j]) > 0 })
	if len(undated) > maxDatedPerList {
		undated = undated[:maxDatedPerList]
	}
	if err := g.dateAll(ctx, rt, undated); err != nil {
		return nil, err
	}
	allowed, _, err := g.up.AllowedReleases(ctx, c, rt.module)
	return allowed, err
}

// dateAll dates versions, four at a time. A version whose .info cannot be
// had stays undated (new); a failure of the upstream stops the rest.
func (g *Registry) dateAll(ctx context.Context, rt route, versions []string) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		slots = make(chan struct{}, 4)
	)
	for _, v := range versions {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func(v string) {
			defer func() { <-slots; wg.Done() }()
			err := g.learnVersion(ctx, rt, v)
			if err == nil || errors.Is(err, registries.ErrNotFound) {
				return
			}
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}(v)
	}
	wg.Wait()
	if first != nil && !errors.Is(first, registries.ErrNotCached) {
		return first
	}
	return nil
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

// listAllowed is a list document with only the versions c allows.
func (g *Registry) listAllowed(ctx context.Context, c registries.Cutoff, rt route, doc storage.Document) (*registries.Rendered, error) {
	body, err := g.up.Body(ctx, doc)
	if err != nil {
		return nil, err
	}
	versions := listVersions(body)
	allowed, err := g.allowedVersions(ctx, c, rt, versions)
	if err != nil {
		return nil, err
	}
	return renderList(filterList(versions, allowed)), nil
}

func renderList(versions []string) *registries.Rendered {
	if len(versions) == 0 {
		return registries.NewRendered(nil, mediaText)
	}
	return registries.NewRendered([]byte(strings.Join(versions, "\n")+"\n"), mediaText)
}

// heldAllowed keeps the held versions c allows.
func (g *Registry) heldAllowed(ctx context.Context, c registries.Cutoff, rt route, held map[string]storage.Artifact) (map[string]storage.Artifact, error) {
	versions := make([]string, 0, len(held))
	for v := range held {
		versions = append(versions, v)
	}
	allowed, err := g.allowedVersions(ctx, c, rt, versions)
	if err != nil {
		return nil, err
	}
	kept := map[string]storage.Artifact{}
	for v, a := range held {
		if allowed[v] {
			kept[v] = a
		}
	}
	return kept, nil
}

// latestAllowed is @latest under c: the upstream's answer when c allows
// it, else the .info of the newest listed version c allows.
func (g *Registry) latestAllowed(ctx context.Context, c registries.Cutoff, rt route, latest storage.Document) (*registries.Rendered, error) {
	rel, err := g.recordInfo(ctx, rt.module, latest)
	if err != nil {
		return nil, err
	}
	if rels, err := g.up.Releases(ctx, rt.module); err == nil {
		if r, ok := rels[rel.Name]; ok && c.Allows(r.Version, r, true) {
			return g.render(ctx, latest, mediaJSON)
		}
	}
	list, err := g.up.Document(ctx, registries.DocRequest{
		Key: rt.module, Variant: variantList, Package: rt.module,
		URL: g.upstreamURL(rt.escModule + "/@v/list"), Prepare: checkList,
	})
	if err != nil {
		return nil, err
	}
	body, err := g.up.Body(ctx, list.Document)
	if err != nil {
		return nil, err
	}
	versions := listVersions(body)
	allowed, err := g.allowedVersions(ctx, c, rt, versions)
	if err != nil {
		return nil, err
	}
	v := newest(filterList(versions, allowed))
	if v == "" {
		return nil, fmt.Errorf("%w: no version of %s is old enough for this registry's release-age policy or view", registries.ErrNotFound, rt.module)
	}
	info, err := g.up.Document(ctx, g.infoRequest(rt, v))
	if err != nil {
		return nil, err
	}
	return g.render(ctx, info.Document, mediaJSON)
}
