package pypi

import (
	"context"
	"errors"
	"regexp"
	"slices"
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
// Pages are loaded, and the metadata file pip will read of each when
// larder can tell which (preloadLikelyMetadata), of a page held already
// too, never a wheel or an sdist; only while the upstream is reachable. A
// dependency only an extra asks for is left out; one behind another marker
// (a Python version, a platform) is loaded, as larder does not evaluate
// markers. From an index without PEP 658 metadata files, pip downloads a
// wheel to read its dependencies: larder reads them from the wheel it keeps
// instead (wheelMetadata), unless its page offers the metadata file.

// maxPrefetchedPages bounds the pages loaded for one kept file, and
// prefetchParallel how many of a registry's are loaded at once: an install
// of a hundred packages must not add a hundred requests to the upstream at
// one moment. The others wait their turn.
const (
	maxPrefetchedPages = 100
	prefetchParallel   = 4
)

// prefetchTimeout bounds the loads for one kept file, once their turn
// has come.
const prefetchTimeout = time.Minute

// extraMarker finds a requirement needed only with an extra.
var extraMarker = regexp.MustCompile(`\bextra\b`)

// prefetchDependencyPages loads the project pages the core metadata of a
// (a metadata file, or a wheel without one) names as dependencies, those
// not held already, and with each page, held or loaded, the metadata file
// pip will likely read next.
func (g *Registry) prefetchDependencyPages(ctx context.Context, a storage.Artifact) {
	if !g.up.Reachable() {
		return
	}
	var meta about
	var err error
	switch {
	case strings.HasSuffix(a.Path, ".metadata"):
		meta, err = g.keptMetadata(ctx, a)
	case strings.HasSuffix(a.Path, ".whl") && !g.offersMetadataFile(ctx, a):
		meta, err = g.wheelMetadata(ctx, a)
	default:
		return
	}
	if err != nil {
		g.up.Env().Log.Debug("the dependencies of a kept file could not be read", "registry", g.name, "path", a.Path, "err", err)
		return
	}
	deps := g.dependencyProjects(ctx, a.Package, meta)
	python := g.pythons.of(a.Path)
	ctx, cancel := context.WithTimeout(ctx, prefetchTimeout)
	defer cancel()
	var loads sync.WaitGroup
	for _, dep := range deps {
		loads.Go(func() {
			select {
			case g.prefetchSlots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-g.prefetchSlots }()
			if dep.page != nil {
				g.preloadLikelyMetadata(ctx, dep, *dep.page, python)
				return
			}
			doc, err := g.up.DocumentToAnswer(ctx, g.pageRequest(dep.name))
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					g.up.Env().Log.Debug("a dependency's page could not be loaded ahead", "registry", g.name,
						"project", dep.name, "of", a.Path, "err", err)
				}
				return
			}
			g.preloadLikelyMetadata(ctx, dep, doc.Document, python)
		})
	}
	loads.Wait()
}

// pip, once it has a dependency's page, reads the core metadata file of the
// release it picks, and then asks for the pages that file names: one
// round trip after another, down the tree. When larder can tell which file
// pip reads, it loads that one too, with the page; kept, the file is
// followed in turn (OnKept), so the tree loads ahead of pip's resolver. It
// can tell when the newest final release the requirement allows (by its
// >=, >, <=, <, == and != clauses; any other clause, and larder does not
// guess) has a pure-Python wheel with a metadata file: every pip picks
// that wheel's metadata, whatever its platform. Newest for python, the
// Python that asked for the file whose keep started this (clientPythons),
// when larder knows it: a release whose Requires-Python leaves it out is
// passed over, as pip passes it. Not under a release-age cutoff, which
// hides releases from pip. A wrong guess (a Python larder was not told)
// costs one small file, kept all the same.
func (g *Registry) preloadLikelyMetadata(ctx context.Context, dep dependency, page storage.Document, python string) {
	if g.up.Cutoff(ctx, dep.name).Active() {
		return
	}
	p, err := g.loadProject(ctx, page)
	if err != nil {
		return
	}
	f, ok := likelyWheel(p, dep.name, dep.constraint, python)
	if !ok {
		return
	}
	// The file is announced by the page's rows: wait for them.
	if err := g.up.AwaitCommit(ctx, dep.name, variantPage); err != nil {
		return
	}
	path := filePath(dep.name, f.Filename) + ".metadata"
	g.pythons.note(path, python)
	if err := g.up.Preload(ctx, path); err != nil && !errors.Is(err, context.Canceled) {
		g.up.Env().Log.Debug("a dependency's metadata file could not be loaded ahead", "registry", g.name, "path", path, "err", err)
	}
}

// likelyWheel is the pure-Python wheel, with a metadata file, of the newest
// final release of project that constraint allows, when that release has
// one and no file of it is yanked. With python set, files whose
// Requires-Python leaves it out are not candidates.
func likelyWheel(p Project, project, constraint, python string) (File, bool) {
	clauses, ok := parseClauses(constraint)
	if !ok {
		return File{}, false
	}
	excluded := func(f File) bool {
		allowed, known := pythonAllows(f.RequiresPython, python)
		return known && !allowed
	}
	newest := ""
	for _, f := range p.Files {
		v := versionFromFilename(project, f.Filename)
		pv, ok := parsePyVersion(v)
		if !ok || f.Yanked || pv.pre >= 0 || pv.dev >= 0 || !clauses.allow(v) || excluded(f) {
			continue
		}
		if newest == "" || compareVersions(v, newest) > 0 {
			newest = v
		}
	}
	if newest == "" {
		return File{}, false
	}
	var pick File
	found := false
	for _, f := range p.Files {
		v := versionFromFilename(project, f.Filename)
		if compareVersions(v, newest) != 0 {
			continue
		}
		if f.Yanked {
			return File{}, false
		}
		if !found && f.CoreMetadata && pureWheel(f.Filename) && !excluded(f) {
			pick, found = f, true
		}
	}
	return pick, found
}

// pureWheel says whether a wheel installs on any platform under Python 3.
func pureWheel(filename string) bool {
	name, ok := strings.CutSuffix(filename, "-none-any.whl")
	if !ok {
		return false
	}
	i := strings.LastIndexByte(name, '-')
	return i >= 0 && slices.Contains(strings.Split(name[i+1:], "."), "py3")
}

// dependency is a project a metadata file requires, and the specifiers
// it requires of it.
type dependency struct {
	name, constraint string
	// page is the project's page larder holds; nil when it holds none.
	page *storage.Document
}

// keptMetadata reads the kept core metadata file a.
func (g *Registry) keptMetadata(ctx context.Context, a storage.Artifact) (about, error) {
	rc, _, err := g.up.OpenKept(ctx, a)
	if err != nil {
		return about{}, err
	}
	defer rc.Close()
	return aboutFromMetadata(rc)
}

// offersMetadataFile says whether the index offers the PEP 658 metadata file
// of wheel a (its page announced one): pip reads that instead of the
// wheel's, and keeping it loads the dependencies. When larder cannot tell,
// it says so too, and the wheel is left unopened.
func (g *Registry) offersMetadataFile(ctx context.Context, a storage.Artifact) bool {
	_, err := g.up.Store().DB.Artifact(ctx, a.Registry, a.Path+".metadata")
	return !errors.Is(err, storage.ErrNotFound)
}

// dependencyProjects are the projects that meta, the core metadata of a
// file of project, requires (extras aside), by normalized name, each with
// its page when larder holds it.
func (g *Registry) dependencyProjects(ctx context.Context, project string, meta about) []dependency {
	var deps []dependency
	seen := map[string]bool{project: true}
	for _, dep := range requirements(meta.RequiresDist) {
		if extraMarker.MatchString(dep.Note) || ValidateName(dep.Name) != nil {
			continue
		}
		name := Normalize(dep.Name)
		if seen[name] {
			continue
		}
		seen[name] = true
		d := dependency{name: name, constraint: dep.Constraint}
		if page, err := g.up.Cached(ctx, name, variantPage); err == nil {
			d.page = &page
		}
		if deps = append(deps, d); len(deps) == maxPrefetchedPages {
			break
		}
	}
	return deps
}
