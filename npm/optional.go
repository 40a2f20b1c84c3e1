package npm

import (
	"bytes"
	"context"
	"time"

	"github.com/tidwall/gjson"

	"github.com/larder-mirror/larder/storage"
)

// Packages built for one platform (esbuild's, swc's, typescript's native
// builds) are optionalDependencies of a front package, one per platform,
// each declaring its os and cpu. npm and pnpm install the one that fits and
// never ask for the others; yarn classic resolves every one of them before
// it skips those that do not fit, and fails when a packument is missing.
// So once a version's tarball is kept, larder keeps the packuments of that
// version's optional dependencies too: a few small documents, never their
// tarballs, which no install here needs (see platformBound for how the
// offline view shows them). Only the version's own packument is read, and
// only while the upstream is reachable.

// maxOptionalLookups bounds the tarballs whose optional dependencies are
// looked up at once, behind clients' backs: each reads its packument and
// may fetch a few more, and an `npm ci` of a thousand packages must neither
// hold a thousand packuments in memory nor add a thousand requests to the
// upstream at one moment. The others wait their turn.
const maxOptionalLookups = 4

// optionalFetchTimeout bounds the look-up of one tarball's optional
// dependencies, once its turn has come.
const optionalFetchTimeout = time.Minute

// keepOptionalPackuments fetches the packuments of the optional
// dependencies of the version whose tarball a is, those not stored already.
func (g *Registry) keepOptionalPackuments(ctx context.Context, a storage.Artifact) {
	if a.Package == "" || a.Version == "" || !g.up.Reachable() {
		return
	}
	if with, known := g.withOptional.Load(a.Package); known && !with.(bool) {
		return // most packages: their packument need not be read
	}
	select {
	case g.optionalSlots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-g.optionalSlots }()
	ctx, cancel := context.WithTimeout(ctx, optionalFetchTimeout)
	defer cancel()
	for _, name := range g.optionalDependencies(ctx, a.Package, a.Version) {
		if g.holdsPackument(ctx, name) || ValidateName(name) != nil {
			continue
		}
		if _, err := g.loadPackument(ctx, name, variantAbbreviated); err != nil {
			g.up.Env().Log.Info("an optional dependency's packument could not be kept", "registry", g.name,
				"package", name, "of", a.Package+"@"+a.Version, "err", err)
		}
	}
}

// noteOptional remembers whether a packument just fetched names any
// optional dependency, so that a tarball of a package that has none is kept
// without reading its packument again.
func (g *Registry) noteOptional(name string, body []byte) {
	g.withOptional.Store(name, bytes.Contains(body, []byte(`"optionalDependencies"`)))
}

// optionalDependencies are the names of the optional dependencies of
// name@version, as its stored packument lists them.
func (g *Registry) optionalDependencies(ctx context.Context, name, version string) []string {
	var body []byte
	for _, variant := range []string{variantAbbreviated, variantFull} {
		doc, err := g.up.Cached(ctx, name, variant)
		if err != nil {
			continue
		}
		if body, err = g.up.Body(ctx, doc); err == nil {
			break
		}
	}
	var names []string
	gjson.GetBytes(body, "versions."+gjsonKey(version)+".optionalDependencies").ForEach(func(k, _ gjson.Result) bool {
		names = append(names, k.String())
		return true
	})
	return names
}

// holdsPackument reports whether a packument of name is stored, in either
// form (offline, either serves both).
func (g *Registry) holdsPackument(ctx context.Context, name string) bool {
	for _, variant := range []string{variantAbbreviated, variantFull} {
		if _, err := g.up.Cached(ctx, name, variant); err == nil {
			return true
		}
	}
	return false
}
