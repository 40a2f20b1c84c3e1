package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// gc, verify and export on a data folder a larder serves work through that
// larder, which goes on serving.
func TestMaintenanceWorksThroughTheRunningLarder(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	publishGraph(up)
	l := startLarder(t, npmConfig(up, ""))
	reg := l.URL + "/npm/"
	newProject(t, graphPackageJSON).mustRun(reg, "npm", "install", "--no-audit")

	out, err := runLarder(t, "verify", "--data", l.dir)
	if err != nil || !strings.Contains(out, "working through it") || !strings.Contains(out, "0 missing, 0 corrupt") {
		t.Fatalf("verify through the running larder: %v\n%s", err, out)
	}
	archive := filepath.Join(t.TempDir(), "cache.tar")
	out, err = runLarder(t, "export", "--data", l.dir, "--out", archive)
	if err != nil || !strings.Contains(out, "5 artifacts") {
		t.Fatalf("export through the running larder: %v\n%s", err, out)
	}
	if out, err := runLarder(t, "import", "--config", l.config, "--data", filepath.Join(t.TempDir(), "copy"), archive); err != nil {
		t.Fatalf("the archive the running larder wrote does not import: %v\n%s", err, out)
	}
	out, err = runLarder(t, "gc", "--data", l.dir, "--max-size", "1B")
	if err != nil || !strings.Contains(out, "evicted 5 artifacts") {
		t.Fatalf("gc through the running larder: %v\n%s", err, out)
	}
	if l.storedSHA256("npm", npmtest.TarballPath("leaf", "1.1.0")) != "" {
		t.Error("gc through the running larder evicted nothing")
	}

	// It went on serving, and fetches again what gc evicted.
	c := newProject(t, graphPackageJSON)
	c.mustRun(reg, "npm", "install", "--no-audit")
	installed(t, c, "@acme/top", "leaf")
	if up.Count("GET", "/"+npmtest.TarballPath("leaf", "1.1.0")) != 2 {
		t.Errorf("the evicted tarball was fetched %d times, want twice", up.Count("GET", "/"+npmtest.TarballPath("leaf", "1.1.0")))
	}
}
