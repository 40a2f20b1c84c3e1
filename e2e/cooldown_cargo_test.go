package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/cargo/cargotest"
)

// Cargo dates versions by their index line's pubtime: under a 3-day
// policy the index file cargo reads has no line of a version an hour old,
// cargo builds with the older one, and the young .crate is refused with
// nothing fetched.
func TestCargoResolvesOnlyVersionsOlderThanMinReleaseAgeAndTheYoungCrateIsRefused(t *testing.T) {
	up := cargotest.New()
	defer up.Close()
	publishCrates(t, up)
	now := time.Now()
	for _, c := range [][2]string{{"xy", "0.1.0"}, {"tiny-dep", "0.1.0"}, {"greet", "1.0.0"}} {
		up.SetPubtime(c[0], c[1], now.Add(-30*24*time.Hour))
	}
	up.SetPubtime("greet", "1.1.0", now.Add(-time.Hour))
	l := startLarder(t, cargoConfig(up, `min_release_age = "3d"`))

	p := newCargoProject(t, l, "1")
	p.mustRun("build")
	out, err := exec.Command(filepath.Join(p.dir, "target", "debug", "app")).CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || got != "hello" {
		t.Fatalf("the program built under a 3-day policy printed %q (%v), want greet 1.0.0's \"hello\"", got, err)
	}
	lock, err := os.ReadFile(filepath.Join(p.dir, "Cargo.lock"))
	if err != nil || !strings.Contains(string(lock), "name = \"greet\"\nversion = \"1.0.0\"") {
		t.Fatalf("Cargo.lock under a 3-day policy (%v):\n%s", err, lock)
	}
	if _, body := l.get(t, greetIndex); strings.Contains(string(body), `"1.1.0"`) {
		t.Fatalf("GET %s lists greet 1.1.0, an hour old:\n%s", greetIndex, body)
	}

	// As a lockfile from elsewhere would have cargo ask for it.
	resp, body := l.get(t, "/cargo/api/v1/crates/greet/1.1.0/download")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "greet@1.1.0") || !strings.Contains(string(body), "min_release_age 3d") {
		t.Fatalf("GET greet 1.1.0's .crate: %d %q, want 403 that says it is held back", resp.StatusCode, body)
	}
	if n := up.Count("GET", cargotest.CratePath("greet", "1.1.0")); n != 0 {
		t.Fatalf("the upstream was asked for the young .crate %d times", n)
	}
}
