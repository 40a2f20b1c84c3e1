package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// First seen wins: an upstream that later declares other bytes for a version
// larder holds is refused; larder keeps serving the pinned bytes with the
// pinned integrity, and says so in /metrics.
func TestAnUpstreamCannotSwapTheBytesOfAPinnedVersion(t *testing.T) {
	npmUp := npmtest.New()
	defer npmUp.Close()
	npmUp.Publish("leaf", "1.0.0", nil)
	original := npmtest.Tarball("leaf", "1.0.0", nil)
	pyUp := pypitest.New()
	defer pyUp.Close()
	wheel := pyUp.AddWheel("beta", "1.0.0", nil, "")
	_, originalWheel := pypitest.Wheel("beta", "1.0.0", nil, "")
	l := startLarder(t, npmConfig(npmUp, `metadata_ttl = "1s"`)+pypiConfig(pyUp, `metadata_ttl = "1s"`))

	if _, body := l.get(t, "/npm/leaf/-/leaf-1.0.0.tgz"); sha(body) != sha(original) {
		t.Fatal("warming the tarball")
	}
	if _, body := l.get(t, "/pypi/files/beta/"+wheel); sha(body) != sha(originalWheel) {
		t.Fatal("warming the wheel")
	}
	npmUp.PublishTarball("leaf", "1.0.0", append(append([]byte{}, original...), 0), nil) // other bytes, same version
	pyUp.AddFile("beta", wheel, append(append([]byte{}, originalWheel...), 0), pypitest.FileOpts{})
	time.Sleep(1100 * time.Millisecond)

	_, doc := l.get(t, "/npm/leaf")
	var p struct {
		Versions map[string]struct {
			Dist struct{ Integrity, Shasum string } `json:"dist"`
		} `json:"versions"`
	}
	json.Unmarshal(doc, &p)
	if got := p.Versions["1.0.0"].Dist.Integrity; got != sri512(original) {
		t.Errorf("served integrity %s, want the pinned %s", got, sri512(original))
	}
	if _, body := l.get(t, "/npm/leaf/-/leaf-1.0.0.tgz"); sha(body) != sha(original) {
		t.Error("the pinned tarball was replaced")
	}
	c := newProject(t, `{"name":"app","version":"1.0.0","dependencies":{"leaf":"1.0.0"}}`)
	c.mustRun(l.URL+"/npm/", "npm", "install", "--no-audit")

	_, page := l.get(t, "/pypi/simple/beta/", "Accept", "text/html")
	if !strings.Contains(string(page), "#sha256="+sha(originalWheel)) {
		t.Errorf("the page does not carry the pinned sha256:\n%s", page)
	}
	newPip(t, l.URL+"/pypi/simple/").mustRun("install", "--target", filepath.Join(t.TempDir(), "site"), "beta==1.0.0")

	_, metrics := l.get(t, "/metrics")
	for _, want := range []string{`larder_pin_conflicts_total{registry="npm"}`, `larder_pin_conflicts_total{registry="pypi"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !l.logged("UPSTREAM CHANGED THE BYTES") {
		t.Error("the conflict was not logged")
	}
	if _, page := l.get(t, "/r/npm/p/leaf"); !strings.Contains(string(page), "tried to change published bytes") {
		t.Error("the UI does not show the conflict")
	}
	if _, api := l.get(t, "/api/v1/registries/pypi/packages/beta"); !strings.Contains(string(api), `"offered_integrity"`) {
		t.Errorf("the API does not list the conflict:\n%s", api)
	}
}

// An artifact whose document declared no digest is pinned to the bytes first
// stored: when the upstream later declares other bytes for it, npm and pip
// still install, because every document larder serves names the pin.
func TestAnArtifactFirstSeenWithoutADigestStaysInstallable(t *testing.T) {
	npmUp := npmtest.New()
	defer npmUp.Close()
	npmUp.Publish("bare", "1.0.0", nil)
	npmUp.SetDigests("bare", "1.0.0", "", "")
	original := npmtest.Tarball("bare", "1.0.0", nil)
	pyUp := pypitest.New()
	defer pyUp.Close()
	wheel, originalWheel := pypitest.Wheel("gamma", "1.0.0", nil, "")
	pyUp.AddFile("gamma", wheel, originalWheel, pypitest.FileOpts{OmitHashes: true})
	l := startLarder(t, npmConfig(npmUp, `metadata_ttl = "1s"`)+pypiConfig(pyUp, `metadata_ttl = "1s"`))

	l.get(t, "/npm/bare")
	if _, body := l.get(t, "/npm/bare/-/bare-1.0.0.tgz"); sha(body) != sha(original) {
		t.Fatal("warming the tarball")
	}
	l.get(t, "/pypi/simple/gamma/")
	if _, body := l.get(t, "/pypi/files/gamma/"+wheel); sha(body) != sha(originalWheel) {
		t.Fatal("warming the wheel")
	}
	npmUp.PublishTarball("bare", "1.0.0", append(append([]byte{}, original...), 0), nil)
	pyUp.AddFile("gamma", wheel, append(append([]byte{}, originalWheel...), 0), pypitest.FileOpts{})
	time.Sleep(1100 * time.Millisecond)

	c := newProject(t, `{"name":"app","version":"1.0.0","dependencies":{"bare":"1.0.0"}}`)
	c.mustRun(l.URL+"/npm/", "npm", "install", "--no-audit")
	newPip(t, l.URL+"/pypi/simple/").mustRun("install", "--target", filepath.Join(t.TempDir(), "site"), "gamma==1.0.0")

	for _, want := range []string{"stored unverified", "pin-first-seen", "UPSTREAM CHANGED THE BYTES"} {
		if !l.logged(want) {
			t.Errorf("the log does not say %q", want)
		}
	}
}
