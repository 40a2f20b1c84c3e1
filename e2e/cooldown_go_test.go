package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/gomod/gomodtest"
)

func TestGoResolvesOnlyVersionsOlderThanMinReleaseAgeAndRefusesTheYoungOne(t *testing.T) {
	up := gomodtest.New()
	defer up.Close()
	publishGoGraph(up)
	now := time.Now()
	up.SetTime("example.com/dep", "v0.1.0", now.Add(-30*24*time.Hour))
	up.SetTime("example.com/lib", "v1.0.0", now.Add(-30*24*time.Hour))
	up.SetTime("example.com/lib", "v1.1.0", now.Add(-time.Hour))
	l := startLarder(t, goConfig(up, `min_release_age = "3d"`))

	// A go.mod that names the young version: go is refused, and says why.
	p := newGoProject(t, l)
	out, err := p.run("mod", "download")
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "held back by larder's release-age policy") {
		t.Errorf("go mod download of a version an hour old under a 3-day policy: %v\n%s", err, out)
	}
	if n := up.Count("GET", "/example.com/lib/@v/v1.1.0.zip"); n != 0 {
		t.Errorf("the upstream was asked for the young zip %d times", n)
	}

	// Resolving @latest picks the old one; the list shows only it.
	if err := os.WriteFile(filepath.Join(p.dir, "go.mod"), []byte("module example.com/app\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "main.go"), []byte("package main\n\nimport _ \"example.com/lib\"\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.mustRun("get", "example.com/lib@latest")
	if mod, _ := os.ReadFile(filepath.Join(p.dir, "go.mod")); !strings.Contains(string(mod), "example.com/lib v1.0.0") {
		t.Errorf("go get example.com/lib@latest under a 3-day policy:\n%s", mod)
	}
	if got := strings.TrimSpace(p.mustRun("list", "-m", "-versions", "example.com/lib")); got != "example.com/lib v1.0.0" {
		t.Errorf("go list -m -versions: %q, want only v1.0.0", got)
	}
}
