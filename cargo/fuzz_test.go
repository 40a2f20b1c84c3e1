package cargo

import (
	"strings"
	"testing"
)

// FuzzParseRoute: any request path either parses into a crate name and
// version that are safe as path segments, or is refused.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/config.json", "/se/rd/serde", "/3/s/syn", "/1/a", "/api/v1/crates/serde/1.0.0/download",
		"/api/v1/crates/a/1.0.0%2Bx/download", "/..%2f..%2fetc", "/se/rd/%2e%2e", "/%00", "/api/v1/crates/a/1%2F..%2F/download"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, err := parseRoute(path)
		if err != nil || rt.kind == routeConfig {
			return
		}
		if checkName(rt.crate) != nil {
			t.Fatalf("parseRoute(%q) accepted the crate name %q", path, rt.crate)
		}
		for _, s := range []string{rt.crate, rt.version, IndexPath(rt.crate), downloadPath(rt.crate, rt.version)} {
			if strings.Contains(s, "..") || strings.ContainsAny(s, "\\\x00?#%") {
				t.Fatalf("parseRoute(%q) let %q through", path, s)
			}
		}
	})
}

// FuzzParseIndex: an index file is refused, or every line it accepts names
// the crate and a version whose .crate path stays below the mount, and the
// held view of all of them is the file's lines unchanged.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(serdeIndex), "serde")
	f.Add([]byte(`{"name":"Serde","vers":"1.0.0"}`), "serde")
	f.Add([]byte("\n\n{\"name\":\"a\",\"vers\":\"0.0.1-x+y\",\"cksum\":\""+sumA+"\"}"), "a")
	f.Fuzz(func(t *testing.T, body []byte, crate string) {
		lines, err := parseIndex(body, crate)
		if err != nil {
			return
		}
		all := map[string]bool{}
		for _, l := range lines {
			if !strings.EqualFold(l.Name, crate) || checkVersion(l.Vers) != nil {
				t.Fatalf("accepted a line of %q %q in the index file of %q", l.Name, l.Vers, crate)
			}
			if p := l.path(); strings.Contains(p, "..") || !strings.HasPrefix(p, downloadPrefix) {
				t.Fatalf("a line's .crate path %q", p)
			}
			all[l.path()] = true
		}
		kept := keptLines(lines, heldIn(all))
		for _, l := range lines {
			if !strings.Contains(string(kept), string(l.raw)) {
				t.Fatalf("the held view of every line lost %q", l.raw)
			}
		}
	})
}
