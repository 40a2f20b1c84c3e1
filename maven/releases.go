package maven

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Maven dates each version of an artifact (group:artifact) by when larder
// first saw it listed in the artifact's maven-metadata.xml: the metadata
// carries no time per version (its lastUpdated is the whole file's), and
// nothing else a client reads does. A snapshot is dated as its version
// (1.0-SNAPSHOT), its builds with it. A metadata file's versions are
// recorded whenever larder reads it, policy or not, so that a policy
// turned on later, or a view of a past date, finds first sights already
// made. A version the metadata does not list has no date, and counts as
// new.

// metadataReleases lists the versions an artifact's metadata names.
func metadataReleases(m *metadata) []storage.Release {
	if m.Versioning == nil || m.Versioning.Versions == nil {
		return nil
	}
	rels := make([]storage.Release, 0, len(m.Versioning.Versions.Version))
	for _, v := range m.Versioning.Versions.Version {
		rels = append(rels, storage.Release{Name: v, Version: v})
	}
	return rels
}

// recordMetadata records the versions a stored artifact metadata file
// lists.
func (g *Registry) recordMetadata(ctx context.Context, pkg string, doc storage.Document) error {
	return g.up.RecordReleases(ctx, pkg, "metadata\x00"+string(doc.Body), func() ([]storage.Release, error) {
		body, err := g.up.Body(ctx, doc)
		if err != nil {
			return nil, err
		}
		m, err := parseMetadata(body)
		if err != nil {
			return nil, err
		}
		return metadataReleases(m), nil
	})
}

// artifactMetadata is the route of the metadata of the artifact rt's file
// (or snapshot metadata) belongs to: org/x/a/maven-metadata.xml for
// org/x/a/1.0/a-1.0.jar and org/x/a/1.0-SNAPSHOT/maven-metadata.xml.
func artifactMetadata(rt route) route {
	dir := rt.path
	for range 2 {
		dir = dir[:max(strings.LastIndexByte(dir, '/'), 0)]
	}
	return route{kind: routeMetadata, dir: dir, path: dir + "/" + metadataFile, group: rt.group, artifact: rt.artifact}
}

// learnVersions dates the versions of rt's artifact from its metadata, for
// a file larder has no date for yet.
func (g *Registry) learnVersions(ctx context.Context, rt route) error {
	if registries.OnQuickPath(ctx) {
		// The quick path waits on no upstream: the handler learns it.
		return fmt.Errorf("%s: %w", rt.path, registries.ErrNotCached)
	}
	meta := artifactMetadata(rt)
	doc, err := g.up.Document(ctx, registries.DocRequest{
		Key: meta.docKey(), Variant: meta.metadataVariant(), URL: g.upstreamURL(meta.path), Prepare: checkMetadata,
	})
	if errors.Is(err, registries.ErrNotFound) {
		// An artifact without metadata lists no version: its files
		// have no date, and are refused as new, not as missing.
		return nil
	}
	if err != nil {
		return err
	}
	return g.recordMetadata(ctx, meta.pkg(), doc.Document)
}

// releaseOf names, for the release-age check, the version rt's file or
// snapshot metadata belongs to.
func (g *Registry) releaseOf(rt route, t *registries.ArtifactTarget) *registries.ArtifactTarget {
	t.Package, t.Version, t.Release = rt.pkg(), rt.version, rt.version
	t.Learn = func(ctx context.Context) error { return g.learnVersions(ctx, rt) }
	return t
}

// checkVersion refuses, with a *registries.HeldBackError, what belongs to
// a version the request's cutoff holds back: a snapshot's metadata or
// moving file, a file's checksum, which are documents, not artifacts
// Mount checks.
func (g *Registry) checkVersion(ctx context.Context, rt route) error {
	if rt.version == "" {
		return nil
	}
	return g.up.CheckRelease(ctx, g.releaseOf(rt, &registries.ArtifactTarget{}))
}

// keepAllowed leaves in an artifact's metadata only the versions allowed
// names; latest and release stay the upstream's when allowed, else are
// the newest version allowed (release: the newest that is no snapshot).
func keepAllowed(m *metadata, allowed map[string]bool) {
	if m.Versioning == nil || m.Versioning.Versions == nil {
		return
	}
	vs := m.Versioning
	kept := vs.Versions.Version[:0:0]
	for _, v := range vs.Versions.Version {
		if allowed[v] {
			kept = append(kept, v)
		}
	}
	vs.Versions.Version = kept
	sorted := slices.SortedFunc(slices.Values(kept), compareVersions)
	if !allowed[vs.Latest] {
		vs.Latest = ""
		if len(sorted) > 0 {
			vs.Latest = sorted[len(sorted)-1]
		}
	}
	if !allowed[vs.Release] {
		vs.Release = ""
		for _, v := range slices.Backward(sorted) {
			if !isSnapshot(v) {
				vs.Release = v
				break
			}
		}
	}
}
