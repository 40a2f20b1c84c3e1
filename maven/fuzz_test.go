package maven

import (
	"strings"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

// FuzzParseRoute: any request path is a route or a refusal, never a
// panic; a route's file path stays inside the layout (no empty, "." or
// ".." segment) and reads back as the same route.
func FuzzParseRoute(f *testing.F) {
	for _, seed := range []string{
		"/org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.jar",
		"/org/apache/commons/commons-lang3/maven-metadata.xml.sha1",
		"/org/x/lib/1.0-SNAPSHOT/lib-1.0-20240101.120000-3-tests.jar",
		"/org/x/lib/1.0-SNAPSHOT/lib-1.0-SNAPSHOT.pom.md5",
		"/org/%2e%2e/lib/1.0/lib-1.0.jar", "/a/b/c/d", "//", "/../../etc/passwd",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		rt, err := parseRoute(raw)
		if err != nil {
			if _, ok := err.(registries.Refused); !ok {
				t.Fatalf("%q: an error that is not a refusal: %v", raw, err)
			}
			return
		}
		for _, seg := range strings.Split(rt.path, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("%q: a route outside the layout: %q", raw, rt.path)
			}
		}
		again, err := parseRoute(rt.requestPath())
		if err != nil || again != rt {
			t.Fatalf("%q: %+v reads back from %q as %+v, %v", raw, rt, rt.requestPath(), again, err)
		}
	})
}
