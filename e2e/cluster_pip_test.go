package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/pypi/pypitest"
)

// pip through the load balancer of three nodes: cold, every file and
// every project page is asked of the upstream once, whichever node each
// request reached; warm, pip is answered from the shared database and
// bucket, with the upstream up (no new upstream request) and refused.
func TestThreeNodesBehindNginxServePipColdThenWarm(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	publishPython(up)
	c := startCluster(t, 3, pypiConfig(up, ""))
	index := c.URL + "/pypi/simple/"
	wantDists := []string{"alpha-1.0.0.dist-info", "beta-1.0.0.dist-info", "gamma-1.0.0.dist-info", "delta_pkg-0.3.0.dist-info"}
	install := func(what string) {
		t.Helper()
		target := filepath.Join(t.TempDir(), "site")
		out := newPip(t, index).mustRun("install", "--target", target, "alpha", "gamma", "Delta_Pkg")
		got := installedDists(t, target)
		for _, want := range wantDists {
			if !strings.Contains(got, want) {
				t.Errorf("%s: installed %q, want %s\n%s", what, got, want, out)
			}
		}
	}
	// What pip fetches: the project pages of the index host, and a wheel
	// and its PEP 658 metadata per project chosen, on the files host.
	pages := []string{"/simple/alpha/", "/simple/beta/", "/simple/gamma/", "/simple/delta-pkg/"}
	type wheel struct{ path, sha256 string }
	wheels := map[string]wheel{} // by filename
	for _, w := range []struct {
		name, version, requiresPython string
		requires                      []string
	}{{"alpha", "1.0.0", ">=3.8", []string{"beta>=1.0"}}, {"beta", "1.0.0", "", nil}, {"gamma", "1.0.0", "", nil}, {"Delta_Pkg", "0.3.0", "", nil}} {
		name, data := pypitest.Wheel(w.name, w.version, w.requires, w.requiresPython)
		wheels[name] = wheel{"/" + strings.TrimPrefix(up.FileURL(name), up.FilesURL), sha(data)}
	}
	oncePerThing := func(when string) {
		t.Helper()
		for _, page := range pages {
			if n := up.Count("index", "GET", page); n != 1 {
				t.Errorf("%s: the index host saw %d requests for %s, want 1 (a page within its TTL is asked once by the cluster)", when, n, page)
			}
		}
		for _, w := range wheels {
			for _, p := range []string{w.path, w.path + ".metadata"} {
				if n := up.Count("files", "GET", p); n != 1 {
					t.Errorf("%s: the files host saw %d requests for %s, want 1", when, n, p)
				}
			}
		}
	}

	install("cold")
	requestsOnlyFromLarder(t, up)
	oncePerThing("cold")
	if n := up.Count("files", "GET", "/"+strings.TrimPrefix(up.FileURL(pypitest.WheelFilename("beta", "2.0.0")), up.FilesURL)); n != 0 {
		t.Errorf("beta 2.0.0 (requires-python >=4) was downloaded %d times", n)
	}
	// Each file is held once: a row in PostgreSQL naming a blob in the
	// bucket whose digest is the upstream's.
	for name, w := range wheels {
		// A row appears a moment after its file was verified and served.
		sum := awaitRow(func() string {
			var sum string
			c.db().QueryRow(`SELECT sha256 FROM artifacts WHERE registry = 'pypi' AND path LIKE '%/' || $1`, name).Scan(&sum)
			return sum
		})
		if sum != w.sha256 || !c.inBucket(sum) {
			t.Errorf("%s: row names %q (want %s), in the bucket: %v", name, sum, w.sha256, c.inBucket(sum))
		}
	}

	// Warm with the upstream up: no node asks it again, whichever node
	// each request reaches.
	install("warm")
	oncePerThing("warm")

	// Warm with the upstream refusing: every node answers from the shared
	// backends alone.
	up.SetMode(pypitest.ModeRefuse)
	defer up.SetMode(pypitest.ModeNormal)
	install("warm, upstream refused")
}
