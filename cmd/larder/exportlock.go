package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// lockfileFilter selects what an export by lockfiles keeps: the file a pin
// names, or the held files of a pinned release that its kind says are the
// pin's (registries.Release.Held), and the documents its kind says prove
// them (registries.Kind.Proofs).
func lockfileFilter(ctx context.Context, store *storage.Store, files []string, c console, f *storage.ExportFilter) error {
	f.Paths = map[string]bool{}
	for _, file := range files {
		lf, err := findLockfile(file)
		if err != nil {
			return err
		}
		pins, errs, err := lf.read()
		if err != nil {
			return err
		}
		paths := map[string]bool{}
		for _, p := range pins {
			if p.Release == nil {
				paths[p.File.Path] = true
				continue
			}
			if err := addReleasePaths(ctx, store, p, paths, map[string]bool{p.Label: true}); err != nil {
				errs = append(errs, err)
			}
		}
		if lf.kind.Proofs != nil {
			docs, notes, err := lf.kind.Proofs(ctx, store, slices.Sorted(maps.Keys(paths)))
			if err != nil {
				return err
			}
			if f.Documents == nil {
				f.Documents = map[storage.DocumentKey]bool{}
			}
			for _, d := range docs {
				f.Documents[d] = true
			}
			errs = append(errs, notes...)
		}
		maps.Copy(f.Paths, paths)
		for _, e := range errs {
			fmt.Fprintf(c.err, "note: %s: %v\n", file, e)
		}
	}
	return nil
}

// addReleasePaths keeps the held files of a pinned release, in every
// registry that knows its package, and those of the releases it needs
// (registries.Release.Needs), read from its held document.
func addReleasePaths(ctx context.Context, store *storage.Store, p registries.Pin, paths, seen map[string]bool) error {
	regs, err := store.RegistriesWithPackage(ctx, p.Release.Package)
	if err != nil {
		return err
	}
	found := false
	for _, reg := range regs {
		arts, err := store.PackageArtifacts(ctx, reg, p.Release.Package)
		if err != nil {
			return err
		}
		for _, a := range arts {
			if !a.Cached() {
				continue
			}
			for _, path := range p.Release.Held(a) {
				paths[path] = true
				found = true
			}
		}
		if p.Release.Needs != nil {
			if err := addNeededPaths(ctx, store, reg, p, paths, seen); err != nil {
				return err
			}
		}
	}
	if !found {
		return fmt.Errorf("%s: no file of it is held", p.Label)
	}
	return nil
}

// addNeededPaths keeps the files of the releases p's held document says
// it needs, in registry reg.
func addNeededPaths(ctx context.Context, store *storage.Store, reg string, p registries.Pin, paths, seen map[string]bool) error {
	a, err := store.DB.Artifact(ctx, reg, p.Release.Document)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !a.Cached()) {
		return nil // nothing held to read: the release's own error says so
	}
	if err != nil {
		return err
	}
	rc, _, err := store.OpenArtifact(ctx, a.SHA256, a.Size)
	if err != nil {
		return err
	}
	doc, err := io.ReadAll(io.LimitReader(rc, 256<<20))
	rc.Close()
	if err != nil {
		return err
	}
	needs, err := p.Release.Needs(doc)
	if err != nil {
		return err
	}
	for _, n := range needs {
		if seen[n.Label] || n.Release == nil {
			continue
		}
		if len(seen) > maxNeeded {
			return fmt.Errorf("%s: more than %d releases needed", p.Label, maxNeeded)
		}
		seen[n.Label] = true
		if err := addReleasePaths(ctx, store, n, paths, seen); err != nil {
			return fmt.Errorf("%s, needed by %s: %w", n.Label, p.Label, err)
		}
	}
	return nil
}
