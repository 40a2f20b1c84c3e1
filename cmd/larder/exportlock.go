package main

import (
	"context"
	"fmt"
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
			if err := addReleasePaths(ctx, store, p, paths); err != nil {
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
// registry that knows its package.
func addReleasePaths(ctx context.Context, store *storage.Store, p registries.Pin, paths map[string]bool) error {
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
	}
	if !found {
		return fmt.Errorf("%s: no file of it is held", p.Label)
	}
	return nil
}
