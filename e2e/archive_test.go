package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// The air gap: export what a lockfile needs, import it on a machine with no
// network, install offline there. A damaged archive imports nothing.
func TestExportImportThenInstallOfflineAcrossAnAirGap(t *testing.T) {
	npmUp := npmtest.New()
	defer npmUp.Close()
	publishGraph(npmUp)
	npmUp.Publish("unrelated", "1.0.0", nil)
	pyUp := pypitest.New()
	defer pyUp.Close()
	publishPython(pyUp)
	cfg := npmConfig(npmUp, "") + pypiConfig(pyUp, "")
	l := startLarder(t, cfg)

	c := newProject(t, graphPackageJSON)
	c.mustRun(l.URL+"/npm/", "npm", "install", "--no-audit")
	l.get(t, "/npm/unrelated/-/unrelated-1.0.0.tgz")
	p := newPip(t, l.URL+"/pypi/simple/")
	p.mustRun("install", "--target", filepath.Join(t.TempDir(), "site"), "alpha")
	os.WriteFile(filepath.Join(p.dir, "requirements.txt"), []byte("alpha==1.0.0\nbeta==1.0.0\n"), 0o644)
	l.stop()

	archive := filepath.Join(t.TempDir(), "cache.tar")
	out, err := runLarder(t, "export", "--data", l.dir, "--out", archive,
		"--lockfile", filepath.Join(c.dir, "package-lock.json"), "--lockfile", filepath.Join(p.dir, "requirements.txt"))
	if err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}

	// A damaged copy imports nothing and names the entry.
	data, _ := os.ReadFile(archive)
	damaged := filepath.Join(t.TempDir(), "damaged.tar")
	os.WriteFile(damaged, data[:len(data)*2/3], 0o644)
	// The air-gapped side mounts the same registries: their rules (hosts,
	// declared digests) are what the archive is held to.
	gapped := filepath.Join(t.TempDir(), "air-gapped")
	if out, err := runLarder(t, "import", "--config", l.config, "--data", gapped, damaged); err == nil {
		t.Fatalf("a truncated archive imported:\n%s", out)
	}
	if out, err := runLarder(t, "import", "--data", gapped, archive); err == nil || !strings.Contains(out+err.Error(), "upstream URL refused") {
		t.Fatalf("an archive of other upstreams imported under the default registries: %v\n%s", err, out)
	}
	if out, err := runLarder(t, "import", "--config", l.config, "--data", gapped, archive); err != nil || strings.Contains(out, "refused") || strings.Contains(out, "conflict") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if out, err := runLarder(t, "import", "--config", l.config, "--data", gapped, archive); err != nil || !strings.Contains(out, "0 new") {
		t.Errorf("second import should change nothing: %v\n%s", err, out)
	}

	l.dir = gapped
	l.extra = []string{"--offline"}
	l.start()
	npmUp.Reset()
	pyUp.Reset()
	c.removeNodeModules()
	c.freshCache()
	c.mustRun(l.URL+"/npm/", "npm", "ci", "--no-audit")
	installed(t, c, "@acme/top", "@acme/util", "mid", "leaf")
	target := filepath.Join(t.TempDir(), "site")
	newPip(t, l.URL+"/pypi/simple/").mustRun("install", "--target", target, "-r", filepath.Join(p.dir, "requirements.txt"))
	if got := installedDists(t, target); !strings.Contains(got, "alpha-1.0.0") || !strings.Contains(got, "beta-1.0.0") {
		t.Errorf("pip installed %q", got)
	}
	if resp, _ := l.get(t, "/npm/unrelated/-/unrelated-1.0.0.tgz"); resp.StatusCode != 404 {
		t.Errorf("a tarball no lockfile named was exported: %d", resp.StatusCode)
	}
	if n := len(npmUp.Requests()) + len(pyUp.Requests()); n != 0 {
		t.Errorf("the air-gapped larder made %d upstream requests", n)
	}
}
