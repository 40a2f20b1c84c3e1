package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

// lockHeadSize is how much of a lockfile its format is told from when its
// name does not tell it.
const lockHeadSize = 8 << 10

// lockfile is a lockfile whose format is known.
type lockfile struct {
	path   string
	kind   registries.Kind
	reader registries.LockfileReader
}

// findLockfile tells a lockfile's format from the kinds' readers: by its
// name first, then by its first bytes. A file no format claims, or that two
// claim as surely, is an error naming it and the formats known: never a
// guess.
func findLockfile(path string) (lockfile, error) {
	name := filepath.Base(path)
	lf, n, err := matchLockfile(path, name, nil)
	if err != nil {
		return lockfile{}, err
	}
	if n == 0 {
		head, err := registries.ReadLocalHead(path, lockHeadSize)
		if err != nil {
			return lockfile{}, err
		}
		if lf, n, err = matchLockfile(path, name, head); err != nil {
			return lockfile{}, err
		}
	}
	if n == 0 {
		return lockfile{}, fmt.Errorf("%s: cannot tell which lockfile format it is in; larder reads %s (a file is told by its name, then by its content)",
			path, strings.Join(lockfileFormats(), ", "))
	}
	return lf, nil
}

// matchLockfile finds the format that claims a file most surely; with a nil
// head, by name alone. n is how many claim it.
func matchLockfile(path, name string, head []byte) (lockfile, int, error) {
	best, n := registries.NoMatch, 0
	var found lockfile
	var claims []string
	for _, k := range kinds {
		for _, r := range k.Lockfiles {
			m := r.Match(name, head)
			if head == nil && m != registries.ByName || m == registries.NoMatch || m < best {
				continue
			}
			if m > best {
				best, n, claims = m, 0, nil
			}
			n++
			claims = append(claims, r.Format())
			found = lockfile{path: path, kind: k, reader: r}
		}
	}
	if n > 1 {
		return lockfile{}, n, fmt.Errorf("%s: could be %s; larder does not guess (rename the file to the format's usual name)", path, strings.Join(claims, " or "))
	}
	return found, n, nil
}

// read reads the lockfile's pins; see registries.LockfileReader.
func (l lockfile) read() ([]registries.Pin, []error, error) { return l.reader.Read(l.path) }
