package gomod

import (
	"errors"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

func TestRoutesAreReadOnceWithTheirCaseEncoding(t *testing.T) {
	tests := []struct {
		name, path string
		kind       routeKind
		module     string
		version    string
		stored     string // artifactPath, for files
	}{
		{"a list", "/golang.org/x/mod/@v/list", routeList, "golang.org/x/mod", "", ""},
		{"latest", "/golang.org/x/mod/@latest", routeLatest, "golang.org/x/mod", "", ""},
		{"a zip with upper case in its path", "/github.com/!burnt!sushi/toml/@v/v1.6.0.zip", routeFile, "github.com/BurntSushi/toml", "v1.6.0", "github.com/!burnt!sushi/toml/@v/v1.6.0.zip"},
		{"a go.mod of a pseudo-version", "/example.com/m/@v/v0.0.0-20240501120000-abcdefabcdef.mod", routeFile, "example.com/m", "v0.0.0-20240501120000-abcdefabcdef", "example.com/m/@v/v0.0.0-20240501120000-abcdefabcdef.mod"},
		{"an +incompatible version", "/example.com/m/@v/v2.0.0+incompatible.info", routeFile, "example.com/m", "v2.0.0+incompatible", "example.com/m/@v/v2.0.0+incompatible.info"},
		{"a /v2 module", "/example.com/m/v2/@v/v2.1.0.zip", routeFile, "example.com/m/v2", "v2.1.0", "example.com/m/v2/@v/v2.1.0.zip"},
		{"a percent-encoded path", "/example.com/m/@v/v2.0.0%2Bincompatible.zip", routeFile, "example.com/m", "v2.0.0+incompatible", "example.com/m/@v/v2.0.0+incompatible.zip"},
		{"a query for a branch", "/example.com/m/@v/master.info", routeQuery, "example.com/m", "master", ""},
		{"an upper-case version query", "/example.com/m/@v/!v1.info", routeQuery, "example.com/m", "V1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := parseRoute(tt.path)
			if err != nil {
				t.Fatalf("parseRoute(%q): %v", tt.path, err)
			}
			if rt.kind != tt.kind || rt.module != tt.module || rt.version != tt.version {
				t.Fatalf("parseRoute(%q) = kind %d, %q@%q; want kind %d, %q@%q", tt.path, rt.kind, rt.module, rt.version, tt.kind, tt.module, tt.version)
			}
			if tt.stored != "" && rt.artifactPath() != tt.stored {
				t.Fatalf("stored under %q, want %q", rt.artifactPath(), tt.stored)
			}
		})
	}
}

func TestPathsLarderWillNotServeAreRefusedWithAReason(t *testing.T) {
	for _, p := range []string{
		"/github.com/BurntSushi/toml/@v/list", // not case-encoded
		"/nodot/m/@v/list",                    // the first element needs a dot
		"/example.com/m/@v/v1.0.zip",          // not canonical
		"/example.com/m/@v/master.zip",        // files of canonical versions only
		"/example.com/m/@v/v2.0.0.zip",        // v2 needs /v2 or +incompatible
		"/example.com/m/@v/v1.0.0.tgz",
		"/example.com/m/@v/v1.0.0",
		"/example.com/m",
		"/example.com/m/@v/%zz.info",
		"/example.com/../m/@v/list",
	} {
		_, err := parseRoute(p)
		var ns registries.Refused
		if !errors.As(err, &ns) {
			t.Errorf("parseRoute(%q): %v, want a path larder will not serve", p, err)
		}
	}
}

func TestChecksumDatabasePathsAreReadAndFullTilesKnown(t *testing.T) {
	tests := []struct {
		rest string
		kind string
		full bool
		bad  bool
	}{
		{"latest", "latest", false, false},
		{"lookup/github.com/!burnt!sushi/toml@v1.6.0", "lookup", false, false},
		{"lookup/example.com/m@v2.0.0+incompatible", "lookup", false, false},
		{"tile/8/0/000", "tile", true, false},
		{"tile/8/1/x001/234", "tile", true, false},
		{"tile/8/0/000.p/5", "tile", false, false},
		{"tile/8/data/000", "tile", true, false},
		{"lookup/example.com/m", "", false, true},
		{"lookup/example.com/m@latest", "", false, true},
		{"tile/8/0/abc", "", false, true},
		{"supported/x", "", false, true},
		{"", "", false, true},
	}
	for _, tt := range tests {
		p, err := parseSumDBPath(tt.rest)
		if tt.bad {
			var ns registries.Refused
			if !errors.As(err, &ns) {
				t.Errorf("parseSumDBPath(%q): %v, want refused", tt.rest, err)
			}
			continue
		}
		if err != nil || p.kind != tt.kind || p.full != tt.full {
			t.Errorf("parseSumDBPath(%q) = %+v, %v; want %s, full %v", tt.rest, p, err, tt.kind, tt.full)
		}
	}
}
