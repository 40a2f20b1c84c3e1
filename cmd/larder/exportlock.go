package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/larder-mirror/larder/npm"
	"github.com/larder-mirror/larder/pypi"
	"github.com/larder-mirror/larder/storage"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// lockfilePaths turns lockfiles into the artifact paths an export keeps: an
// npm package's tarball; a Python pin's held files of that version (those
// matching its hashes, when it has some), with their metadata files.
func lockfilePaths(ctx context.Context, store *storage.Store, files []string, c console) (map[string]bool, error) {
	paths := map[string]bool{}
	for _, file := range files {
		var errs []error
		var err error
		if lockfileKind(file) == "npm" {
			var pkgs []npm.LockedPackage
			pkgs, errs, err = npm.ReadLockfile(file)
			for _, p := range pkgs {
				paths[p.TarballPath()] = true
			}
		} else {
			var locked []pypi.LockedFile
			locked, errs, err = pypi.ReadPythonLockfile(file)
			for _, lf := range locked {
				if err := addPythonPaths(ctx, store, lf, paths); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		for _, e := range errs {
			fmt.Fprintf(c.err, "note: %s: %v\n", file, e)
		}
	}
	return paths, nil
}

func addPythonPaths(ctx context.Context, store *storage.Store, lf pypi.LockedFile, paths map[string]bool) error {
	project := pypi.Normalize(lf.Project)
	want := map[string]bool{}
	for _, h := range lf.Hashes {
		if algo, hex, ok := strings.Cut(h, ":"); ok && algo == "sha256" {
			want[hex] = true
		}
	}
	registries, err := store.RegistriesWithPackage(ctx, project)
	if err != nil {
		return err
	}
	found := false
	for _, reg := range registries {
		arts, err := store.PackageArtifacts(ctx, reg, project)
		if err != nil {
			return err
		}
		for _, a := range arts {
			if !a.Cached() || strings.HasSuffix(a.Path, ".metadata") {
				continue
			}
			name := a.Path[strings.LastIndexByte(a.Path, '/')+1:]
			switch {
			case lf.Filename != "":
				if name != lf.Filename {
					continue
				}
			case len(want) > 0:
				if !want[string(a.SHA256)] {
					continue
				}
			case pypi.Normalize(a.Version) != pypi.Normalize(lf.Version):
				continue
			}
			paths[a.Path], paths[a.Path+".metadata"] = true, true
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%s==%s: no file of it is held", project, lf.Version)
	}
	return nil
}
