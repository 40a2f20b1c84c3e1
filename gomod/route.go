package gomod

import (
	"errors"
	"net/url"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"
)

type routeKind int

const (
	routeList   routeKind = iota // $module/@v/list
	routeLatest                  // $module/@latest
	routeQuery                   // $module/@v/$query.info, a version that is not canonical
	routeFile                    // $module/@v/$version.{info,mod,zip}
	routeSumDB                   // sumdb/$db/...
)

// route is a request path below the mount, read once.
type route struct {
	kind routeKind
	// module and version, decoded; escModule and escVersion as the
	// protocol encodes them.
	module, escModule   string
	version, escVersion string
	ext                 string // "info", "mod" or "zip" for routeFile
	// db and rest for routeSumDB: "sum.golang.org", "lookup/m@v".
	db, rest string
}

// artifactPath is where a file route is stored: its encoded path.
func (rt route) artifactPath() string {
	return filePath(rt.escModule, rt.escVersion, rt.ext)
}

func filePath(escModule, escVersion, ext string) string {
	return escModule + "/@v/" + escVersion + "." + ext
}

// parseRoute reads an escaped request path below the mount.
func parseRoute(raw string) (route, error) {
	p, err := url.PathUnescape(strings.TrimPrefix(raw, "/"))
	if err != nil {
		return route{}, registries.Refuse("malformed path: %v", err)
	}
	if rest, ok := strings.CutPrefix(p, "sumdb/"); ok {
		db, rest, _ := strings.Cut(rest, "/")
		return route{kind: routeSumDB, db: db, rest: rest}, nil
	}
	if esc, ok := strings.CutSuffix(p, "/@latest"); ok {
		rt, err := moduleRoute(esc)
		rt.kind = routeLatest
		return rt, err
	}
	esc, file, ok := strings.Cut(p, "/@v/")
	if !ok {
		return route{}, registries.Refuse("%q is not a path of the module proxy protocol ($module/@v/list, $module/@v/$version.info, .mod, .zip, $module/@latest)", p)
	}
	rt, err := moduleRoute(esc)
	if err != nil {
		return rt, err
	}
	if file == "list" {
		rt.kind = routeList
		return rt, nil
	}
	i := strings.LastIndexByte(file, '.')
	if i < 0 {
		return route{}, registries.Refuse("%q: want list, or a version's .info, .mod or .zip", file)
	}
	rt.escVersion, rt.ext = file[:i], file[i+1:]
	if rt.ext != "info" && rt.ext != "mod" && rt.ext != "zip" {
		return route{}, registries.Refuse("%q: want a version's .info, .mod or .zip", file)
	}
	if rt.version, err = module.UnescapeVersion(rt.escVersion); err != nil {
		return route{}, registries.Refuse("%s: %v", rt.module, err)
	}
	if module.CanonicalVersion(rt.version) != rt.version {
		if rt.ext != "info" {
			// The go command asks for .mod and .zip of canonical versions only.
			return route{}, registries.Refuse("%s@%s: not a canonical version (.mod and .zip are served for canonical versions only)", rt.module, rt.version)
		}
		if strings.ContainsAny(rt.version, "/\\") || rt.version == "" {
			return route{}, registries.Refuse("%s@%s: not a version query larder passes on", rt.module, rt.version)
		}
		rt.kind = routeQuery
		return rt, nil
	}
	if err := module.Check(rt.module, rt.version); err != nil {
		return route{}, registries.Refuse("%v", err)
	}
	rt.kind = routeFile
	return rt, nil
}

// moduleRoute reads an encoded module path: it must decode, be a valid
// module path, and be the one encoding of it.
func moduleRoute(esc string) (route, error) {
	mod, err := module.UnescapePath(esc)
	if err != nil {
		return route{}, registries.Refuse("%q is not a module path: %v", esc, err)
	}
	if err := module.CheckPath(mod); err != nil {
		return route{}, registries.Refuse("%v", err)
	}
	return route{module: mod, escModule: esc}, nil
}

// sumdbPath is one path of the checksum database below sumdb/$db/.
type sumdbPath struct {
	kind string // "latest", "lookup", "tile"
	// full: a full tile, which never changes once the log has it.
	full bool
	// mod and version of a lookup, decoded.
	mod, version string
}

var errNotDBPath = errors.New("not a path of the checksum database (supported, latest, lookup/$module@$version, tile/...)")

func parseSumDBPath(rest string) (sumdbPath, error) {
	switch {
	case rest == "latest":
		return sumdbPath{kind: "latest"}, nil
	case strings.HasPrefix(rest, "lookup/"):
		escPath, escVers, ok := strings.Cut(strings.TrimPrefix(rest, "lookup/"), "@")
		if !ok {
			return sumdbPath{}, registries.Refuse("%q: want lookup/$module@$version", rest)
		}
		mod, err := module.UnescapePath(escPath)
		if err != nil {
			return sumdbPath{}, registries.Refuse("%v", err)
		}
		v, err := module.UnescapeVersion(escVers)
		if err != nil {
			return sumdbPath{}, registries.Refuse("%v", err)
		}
		if err := module.Check(mod, v); err != nil || module.CanonicalVersion(v) != v {
			return sumdbPath{}, registries.Refuse("%s@%s: not a module version the database records", mod, v)
		}
		return sumdbPath{kind: "lookup", mod: mod, version: v}, nil
	case strings.HasPrefix(rest, "tile/"):
		t, err := tlog.ParseTilePath(rest)
		if err != nil {
			return sumdbPath{}, registries.Refuse("%q: %v", rest, err)
		}
		return sumdbPath{kind: "tile", full: t.W == 1<<uint(t.H)}, nil
	}
	return sumdbPath{}, registries.Refuse("%q: %v", rest, errNotDBPath)
}
