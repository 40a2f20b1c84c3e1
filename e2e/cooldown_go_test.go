package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/gomod/gomodtest"
)

// Go dates a version by when larder first saw it: the Time of a .info is
// its commit's, which the author chooses. Every version here claims to be
// a month old, as a tag pushed a minute ago on a backdated commit would;
// a fresh larder under a 3-day policy serves none of them: go mod download
// is refused and says why, with nothing fetched for it, go get @latest is
// refused (a 403, so that GOPROXY=larder,direct would not fetch it from
// its origin) and lists no version, while exempt modules build as usual.
func TestGoUnderMinReleaseAgeRefusesBackdatedVersionsFirstSeenNowAndBuildsThemExempt(t *testing.T) {
	up := gomodtest.New()
	defer up.Close()
	publishGoGraph(up)
	month := time.Now().Add(-30 * 24 * time.Hour)
	for mod, v := range map[string]string{"example.com/dep": "v0.1.0", "example.com/lib": "v1.0.0"} {
		up.SetTime(mod, v, month)
	}
	up.SetTime("example.com/lib", "v1.1.0", month)
	l := startLarder(t, goConfig(up, `min_release_age = "3d"`))

	// A go.mod that names a version: go is refused, and says why.
	p := newGoProject(t, l)
	out, err := p.run("mod", "download")
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "held back by larder's release-age policy") {
		t.Errorf("go mod download of a backdated version first seen now, under a 3-day policy: %v\n%s", err, out)
	}
	if n := up.Count("GET", "/example.com/lib/@v/v1.1.0.zip"); n != 0 {
		t.Errorf("the upstream was asked for the held-back zip %d times", n)
	}

	// Resolving @latest finds nothing old enough, and says so.
	if err := os.WriteFile(filepath.Join(p.dir, "go.mod"), []byte("module example.com/app\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "main.go"), []byte("package main\n\nimport _ \"example.com/lib\"\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := p.run("get", "example.com/lib@latest"); err == nil || !strings.Contains(out, "held back") {
		t.Errorf("go get example.com/lib@latest with no version old enough: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(p.mustRun("list", "-m", "-versions", "example.com/lib")); got != "example.com/lib" {
		t.Errorf("go list -m -versions: %q, want no version", got)
	}

	exempt := startLarder(t, goConfig(up, `min_release_age = "3d"`, `min_release_age_exempt = ["example.com/lib", "example.com/dep"]`))
	newGoProject(t, exempt).built(up, "with the modules exempt")
}
