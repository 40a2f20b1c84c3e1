package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/rubygems/rubygemstest"
)

// RubyGems dates a release by when larder first lists it (the compact
// index carries no time): a fresh larder under a 3-day policy lists no
// release of a gem it has just read, so bundler finds none to install
// and the .gem is refused with nothing fetched, while an exempt gem
// installs as usual, /versions and its info file agreeing for bundler.
func TestBundleUnderMinReleaseAgeInstallsOnlyTheExemptGemOfAFreshLarder(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	publishGems(t, up)
	l := startLarder(t, gemsConfig(up, `min_release_age = "3d"`, `min_release_age_exempt = ["larder-dep"]`))
	p := newBundleProject(t, l)

	// The exempt gem installs: its info file and /versions are served
	// whole, and agree.
	if err := os.WriteFile(filepath.Join(p.dir, "Gemfile"), []byte("source \"https://rubygems.org\"\n\ngem \"larder-dep\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.mustRun("bundle", "install")
	if lock, _ := os.ReadFile(filepath.Join(p.dir, "Gemfile.lock")); !strings.Contains(string(lock), "larder-dep (0.1.0)") {
		t.Fatalf("Gemfile.lock of the exempt gem:\n%s", lock)
	}

	// larder-lib was first seen just now: no release of it is old enough.
	os.Remove(filepath.Join(p.dir, "Gemfile.lock"))
	if err := os.WriteFile(filepath.Join(p.dir, "Gemfile"), []byte("source \"https://rubygems.org\"\n\ngem \"larder-lib\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := p.run("bundle", "install")
	if err == nil || !strings.Contains(out, "larder-lib") {
		t.Fatalf("bundle install of a gem larder first saw now, under a 3-day policy: %v\n%s", err, out)
	}
	t.Logf("bundler's words, the first time:\n%s", out)
	// Again, once larder has read its info file: /versions now lists what
	// that file lists (nothing), with its MD5.
	out, err = p.run("bundle", "install")
	if err == nil || !strings.Contains(out, "larder-lib") {
		t.Fatalf("bundle install again: %v\n%s", err, out)
	}
	resp, body := l.get(t, "/gems/gems/larder-lib-1.1.0.gem")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "larder-lib@1.1.0") || !strings.Contains(string(body), "min_release_age 3d") {
		t.Fatalf("GET larder-lib-1.1.0.gem: %d %q, want 403 that says it is held back", resp.StatusCode, body)
	}
	for _, f := range []string{"/gems/larder-lib-1.0.0.gem", "/gems/larder-lib-1.1.0.gem"} {
		if n := up.Count("GET", f); n != 0 {
			t.Fatalf("the upstream was asked for %s %d times, held back", f, n)
		}
	}
	t.Logf("bundler's words:\n%s", out)
}

// Under a release-age policy /versions is still append-only for bundler:
// once larder has read the gems a Gemfile names, a gem published upstream
// reaches bundler as the tail of its copy (a 206), not the whole file.
func TestBundleUnderMinReleaseAgeGetsTheTailOfVersionsAfterAnUpstreamAppend(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	publishGems(t, up)
	l := startLarder(t, gemsConfig(up, `min_release_age = "3d"`, `min_release_age_exempt = ["larder-dep"]`, `metadata_ttl = "1s"`))
	p := newBundleProject(t, l)
	if err := os.WriteFile(filepath.Join(p.dir, "Gemfile"), []byte("source \"https://rubygems.org\"\n\ngem \"larder-dep\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.mustRun("bundle", "install")
	// Again, after larder has read larder-dep's info file: bundler's copy
	// of /versions is then the one larder writes while it knows that gem.
	time.Sleep(1100 * time.Millisecond)
	p.freshInstall()
	p.mustRun("bundle", "install")

	tails := regexp.MustCompile(`path=/gems/versions status=206`)
	before := len(tails.FindAllString(l.flushedLog(), -1))
	time.Sleep(1100 * time.Millisecond)
	up.Publish(rubygemstest.Gem{Name: "larder-other", Version: "3.0.0", Body: []byte("not installed")})
	p.freshInstall()
	p.mustRun("bundle", "install")
	if log := l.flushedLog(); len(tails.FindAllString(log, -1)) == before {
		t.Fatalf("after an upstream append, larder sent bundler no tail of /versions (206):\n%s", tail(log, 30))
	}
}
