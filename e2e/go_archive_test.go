package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/gomod/gomodtest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// The air gap for Go: export what a go.sum names, with the checksum
// database's records and tiles that prove it, import it into a larder that
// has never seen the upstream, and there the go command downloads and
// verifies every module (no go.sum yet: each is looked up in the database
// through larder's mirror) with the upstream refused and larder offline.
func TestGoExportByGoSumImportThenGoVerifiesOfflineAcrossAnAirGap(t *testing.T) {
	up := gomodtest.New()
	defer up.Close()
	publishGoGraph(up)
	l := startLarder(t, goConfig(up))
	p := newGoProject(t, l)
	p.built(up, "cold")
	// Held, but named by no go.sum line: not exported.
	if resp, _ := l.get(t, "/go/example.com/lib/@v/v1.0.0.zip"); resp.StatusCode != 200 {
		t.Fatalf("lib v1.0.0.zip: %d", resp.StatusCode)
	}
	l.stop()

	archive := filepath.Join(t.TempDir(), "go.tar")
	out, err := runLarder(t, "export", "--data", l.dir, "--out", archive, "--lockfile", filepath.Join(p.dir, "go.sum"))
	if err != nil || strings.Contains(out, "note:") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	gapped := filepath.Join(t.TempDir(), "air-gapped")
	out, err = runLarder(t, "import", "--config", l.config, "--data", gapped, archive)
	if err != nil || strings.Contains(out, "refused") || strings.Contains(out, "conflict") || strings.Contains(out, "not imported") {
		t.Fatalf("import: %v\n%s", err, out)
	}

	up.SetMode(faults.Refuse)
	defer up.SetMode(faults.Normal)
	l.dir = gapped
	l.extra = []string{"--offline"}
	l.start()
	zipsBefore := up.Count("GET", "/example.com/lib/@v/v1.1.0.zip")
	q := newGoProject(t, l)
	q.built(up, "offline, from the imported archive")
	if n := up.Count("GET", "/example.com/lib/@v/v1.1.0.zip"); n != zipsBefore {
		t.Errorf("the air-gapped larder asked the upstream for the zip")
	}
	if resp, _ := l.get(t, "/go/example.com/lib/@v/v1.0.0.zip"); resp.StatusCode != 404 {
		t.Errorf("a version no go.sum line named was exported: %d", resp.StatusCode)
	}
}
