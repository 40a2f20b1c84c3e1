package cargo

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

type routeKind int

const (
	routeConfig   routeKind = iota // config.json
	routeIndex                     // an index file
	routeDownload                  // api/v1/crates/{crate}/{version}/download
)

// route is a request path below the mount, read once.
type route struct {
	kind    routeKind
	crate   string // as asked for: an index file's is lower case
	version string // routeDownload
}

// pkg is the name the crate's rows and documents are kept under: the
// lower-case name, as its index file is named.
func (rt route) pkg() string { return strings.ToLower(rt.crate) }

const downloadPrefix = "api/v1/crates/"

// parseRoute reads an escaped request path below the mount.
func parseRoute(raw string) (route, error) {
	p, err := url.PathUnescape(strings.TrimPrefix(raw, "/"))
	if err != nil {
		return route{}, registries.Refuse("malformed path: %v", err)
	}
	if p == "config.json" {
		return route{kind: routeConfig}, nil
	}
	if rest, ok := strings.CutPrefix(p, downloadPrefix); ok {
		parts := strings.Split(rest, "/")
		if len(parts) != 3 || parts[2] != "download" {
			return route{}, registries.Refuse("%q: want %s{crate}/{version}/download", p, downloadPrefix)
		}
		if err := checkName(parts[0]); err != nil {
			return route{}, registries.Refused{Err: err}
		}
		if err := checkVersion(parts[1]); err != nil {
			return route{}, registries.Refused{Err: err}
		}
		return route{kind: routeDownload, crate: parts[0], version: parts[1]}, nil
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return route{}, registries.Refuse("%q is not a path of a sparse registry (config.json, an index file such as se/rd/serde, %s{crate}/{version}/download)", p, downloadPrefix)
	}
	name := p[i+1:]
	if err := checkName(name); err != nil {
		return route{}, registries.Refused{Err: err}
	}
	if want := IndexPath(name); p != want {
		// cargo asks for the lower-case name at its one prefix.
		return route{}, registries.Refuse("%q: the index file of %q is %s", p, name, want)
	}
	return route{kind: routeIndex, crate: name}, nil
}

// maxNameLen bounds a crate name; crates.io allows 64 characters.
const maxNameLen = 64

// checkName accepts a crate name as cargo and crates.io do: ASCII letters,
// digits, "-" and "_", at most 64 of them.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%q is not a crate name: want 1 to %d characters", name, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !registries.IsAlnum(c) && c != '-' && c != '_' {
			return fmt.Errorf("%q is not a crate name: only ASCII letters, digits, - and _", name)
		}
	}
	return nil
}

// maxVersionLen bounds a version string.
const maxVersionLen = 128

// checkVersion accepts what a semver version may hold: letters, digits,
// ".", "-" and "+", starting with a digit. cargo parses it; larder only
// keeps it from making a path of anything else.
func checkVersion(v string) error {
	if v == "" || len(v) > maxVersionLen || v[0] < '0' || v[0] > '9' {
		return fmt.Errorf("%q is not a crate version", v)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !registries.IsAlnum(c) && c != '.' && c != '-' && c != '+' {
			return fmt.Errorf("%q is not a crate version", v)
		}
	}
	return nil
}

// IndexPath is where the index file of a crate lives: 1/a, 2/ab, 3/a/abc,
// ab/cd/abcd…, the name in lower case.
func IndexPath(name string) string {
	n := strings.ToLower(name)
	return prefixOf(n) + "/" + n
}

// prefixOf is the directory of a name's index file, in the name's own case
// (config.json's {prefix}).
func prefixOf(name string) string {
	switch len(name) {
	case 1:
		return "1"
	case 2:
		return "2"
	case 3:
		return "3/" + name[:1]
	}
	return name[:2] + "/" + name[2:4]
}

// downloadPath is the path below the mount a .crate is served and kept at.
func downloadPath(crate, version string) string {
	return downloadPrefix + crate + "/" + version + "/download"
}
