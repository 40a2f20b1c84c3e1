package pypi

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// pip's resolver reads a distribution's core metadata (its PEP 658
// .metadata file) and then asks for the project page of each dependency,
// one at a time, each question waiting for the answer before it. So once
// larder keeps a .metadata file, it loads the pages of the dependencies it
// names that it does not hold, several at once: pip's next requests find
// them held, or join their load under way, and a cold install pays the
// upstream's round trip once for them all instead of once per dependency.
// Only pages are loaded, never files, and only while the upstream is
// reachable. A dependency only an extra asks for is left out; one behind
// another marker (a Python version, a platform) is loaded, as larder does
// not know the client's.

// maxPrefetchedPages bounds the pages loaded for one metadata file, and
// prefetchParallel how many of a registry's are loaded at once: an install
// of a hundred packages must not add a hundred requests to the upstream at
// one moment. The others wait their turn.
const (
	maxPrefetchedPages = 100
	prefetchParallel   = 4
)

// prefetchTimeout bounds the loads for one metadata file, once their turn
// has come.
const prefetchTimeout = time.Minute

// extraMarker finds a requirement needed only with an extra.
var extraMarker = regexp.MustCompile(`\bextra\b`)

// prefetchDependencyPages loads the project pages the core metadata file a
// names as dependencies, those not held already.
func (g *Registry) prefetchDependencyPages(ctx context.Context, a storage.Artifact) {
	if !strings.HasSuffix(a.Path, ".metadata") || !g.up.Reachable() {
		return
	}
	names, err := g.dependencyProjects(ctx, a)
	if err != nil {
		g.up.Env().Log.Debug("the dependencies of a metadata file could not be read", "registry", g.name, "path", a.Path, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, prefetchTimeout)
	defer cancel()
	var loads sync.WaitGroup
	for _, name := range names {
		loads.Go(func() {
			select {
			case g.prefetchSlots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-g.prefetchSlots }()
			if _, err := g.up.DocumentToAnswer(ctx, g.pageRequest(name)); err != nil && !errors.Is(err, context.Canceled) {
				g.up.Env().Log.Debug("a dependency's page could not be loaded ahead", "registry", g.name,
					"project", name, "of", a.Path, "err", err)
			}
		})
	}
	loads.Wait()
}

// dependencyProjects are the normalized names of the projects the core
// metadata file a requires (extras aside) whose pages larder does not hold.
func (g *Registry) dependencyProjects(ctx context.Context, a storage.Artifact) ([]string, error) {
	rc, _, err := g.up.Store().OpenArtifact(ctx, a.SHA256, a.Size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	meta, err := aboutFromMetadata(rc)
	if err != nil {
		return nil, err
	}
	var names []string
	seen := map[string]bool{a.Package: true}
	for _, dep := range requirements(meta.RequiresDist) {
		if extraMarker.MatchString(dep.Note) || ValidateName(dep.Name) != nil {
			continue
		}
		name := Normalize(dep.Name)
		if seen[name] {
			continue
		}
		seen[name] = true
		if _, err := g.up.Cached(ctx, name, variantPage); err == nil {
			continue
		}
		if names = append(names, name); len(names) == maxPrefetchedPages {
			break
		}
	}
	return names, nil
}
