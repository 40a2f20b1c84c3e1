package npm

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzParseRoute: any request path either parses into a valid name (and
// never a path that climbs out), or is refused.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"lodash", "@types%2fnode", "@types%2Fnode/-/node-1.0.0.tgz", "a/1.0.0", "-/ping",
		"..%2f..%2fetc", "@a/b/-/b-1.tgz", "%00", "@%2e%2e/x", "a/-/a-..%2f.tgz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, err := parseRoute(path)
		if err != nil || rt.kind == kindEndpoint {
			return
		}
		if err := ValidateName(rt.name); err != nil {
			t.Fatalf("parseRoute(%q) accepted invalid name %q: %v", path, rt.name, err)
		}
		for _, s := range []string{rt.name, rt.version, rt.file} {
			if strings.Contains(s, "..") && !strings.Contains(s, "...") && (strings.HasPrefix(s, "..") || strings.Contains(s, "/..")) {
				t.Fatalf("parseRoute(%q) let %q through", path, s)
			}
			if strings.ContainsAny(s, "\\\x00") {
				t.Fatalf("parseRoute(%q) let %q through", path, s)
			}
		}
		if rt.kind == kindTarball {
			v, ok := tarballVersion(rt.name, rt.file)
			if !ok || strings.Contains(tarballPath(rt.name, v), "/../") {
				t.Fatalf("tarball %q of %q", rt.file, rt.name)
			}
		}
	})
}

// FuzzPackument: whatever an upstream sends, reading, abbreviating and
// rewriting never panics, keeps valid JSON valid, and never points a
// tarball anywhere but larder.
func FuzzPackument(f *testing.F) {
	f.Add([]byte(`{"name":"x","versions":{"1.0.0":{"dist":{"tarball":"https://registry.npmjs.org/x/-/x-1.0.0.tgz","integrity":"sha512-AA=="}}}}`))
	f.Add([]byte(`{"versions":{"1.0.0":{"dist":{"tarball":"http://169.254.169.254/"}},"../x":{"dist":{"tarball":"a"}}}}`))
	f.Add([]byte(`{"versions":{"1.0.0":{"dist":{"tarball":"\u0068ttp://x/\"quoted\""}}},"dist-tags":{"latest":"1.0.0"}}`))
	f.Add([]byte(`{"versions":[]}`))
	f.Add([]byte(`{"name":"x","versions":{"1.0.0":{"dist":{"tarball":1}}}}`))
	up, _ := url.Parse("http://127.0.0.1:4873/")
	res := tarballResolver{upstream: up}
	f.Fuzz(func(t *testing.T, body []byte) {
		if checkDocument(body, "application/json") != nil {
			return
		}
		abbr := abbreviate(body)
		if !gjson.ValidBytes(abbr) {
			t.Fatalf("abbreviate made invalid JSON from %q: %q", body, abbr)
		}
		for _, doc := range [][]byte{body, abbr} {
			out := rewriteTarballs(doc, "x", "http://larder/npm/")
			if !gjson.ValidBytes(out) {
				t.Fatalf("rewrite made invalid JSON from %q: %q", doc, out)
			}
			gjson.GetBytes(out, "versions").ForEach(func(k, v gjson.Result) bool {
				if tb := v.Get("dist.tarball"); tb.Type == gjson.String && !strings.HasPrefix(tb.String(), "http://larder/npm/x/-/x-") {
					t.Fatalf("tarball left pointing at %q", tb.String())
				}
				return true
			})
		}
		arts, _ := announcedTarballs("x", body, res)
		for _, a := range arts {
			if !strings.HasPrefix(a.UpstreamURL, "http://127.0.0.1:4873/") || strings.Contains(a.Path, "/../") {
				t.Fatalf("announced %+v", a)
			}
		}
		if !bytes.Equal(abbreviate(abbr), abbr) {
			t.Fatalf("abbreviate is not idempotent on %q", body)
		}
	})
}
