package cargo

import (
	"errors"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

func TestIndexPathsFollowTheRegistryIndexLayout(t *testing.T) {
	for name, want := range map[string]string{
		"a": "1/a", "ab": "2/ab", "abc": "3/a/abc", "serde": "se/rd/serde", "tiny-dep": "ti/ny/tiny-dep",
		"Inflector": "in/fl/inflector", "XY": "2/xy", "Abc": "3/a/abc",
	} {
		if got := IndexPath(name); got != want {
			t.Errorf("IndexPath(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestRoutesReadEveryPathOfTheSparseProtocolAndRefuseTheRest(t *testing.T) {
	good := []struct {
		path string
		want route
	}{
		{"/config.json", route{kind: routeConfig}},
		{"/1/a", route{kind: routeIndex, crate: "a"}},
		{"/2/xy", route{kind: routeIndex, crate: "xy"}},
		{"/3/s/syn", route{kind: routeIndex, crate: "syn"}},
		{"/se/rd/serde", route{kind: routeIndex, crate: "serde"}},
		{"/se/rd/serde_json", route{kind: routeIndex, crate: "serde_json"}},
		{"/api/v1/crates/serde/1.0.0/download", route{kind: routeDownload, crate: "serde", version: "1.0.0"}},
		{"/api/v1/crates/Inflector/0.11.4/download", route{kind: routeDownload, crate: "Inflector", version: "0.11.4"}},
		{"/api/v1/crates/a/1.0.0-rc.1+build.5/download", route{kind: routeDownload, crate: "a", version: "1.0.0-rc.1+build.5"}},
		{"/api/v1/crates/a/1.0.0%2Bbuild/download", route{kind: routeDownload, crate: "a", version: "1.0.0+build"}},
	}
	for _, tt := range good {
		got, err := parseRoute(tt.path)
		if err != nil || got != tt.want {
			t.Errorf("parseRoute(%q) = %+v, %v; want %+v", tt.path, got, err, tt.want)
		}
	}
	bad := []string{
		"/", "/serde", "/se/rd/", "/SE/RD/serde", "/se/rd/Serde", "/xx/yy/serde", "/3/a/syn", "/1/ab",
		"/se/rd/ser%2Fde", "/../../etc/passwd", "/se/rd/..", "/2/..", "/se/rd/serde%00",
		"/api/v1/crates/serde/1.0.0", "/api/v1/crates/serde/1.0.0/download/x", "/api/v1/crates/../1.0.0/download",
		"/api/v1/crates/serde/../download", "/api/v1/crates/serde/v1.0.0/download", "/api/v1/crates/serde/1.0.0%2F..%2F/download",
		"/api/v1/crates/" + string(make([]byte, 65)) + "/1.0.0/download", "/%zz",
	}
	for _, p := range bad {
		_, err := parseRoute(p)
		var ns registries.Refused
		if !errors.As(err, &ns) {
			t.Errorf("parseRoute(%q) = %v, want a path larder does not serve", p, err)
		}
	}
}

func TestAnIndexPathInTheWrongPlaceNamesTheRightOne(t *testing.T) {
	_, err := parseRoute("/SE/RD/serde")
	if err == nil || !strings.Contains(err.Error(), "se/rd/serde") {
		t.Fatalf("parseRoute of an upper-case prefix: %v, want the path of serde's index file", err)
	}
}
