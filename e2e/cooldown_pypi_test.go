package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
)

// addWheelAt adds a wheel of name==version uploaded at, with its PEP 658
// metadata.
func addWheelAt(up *pypitest.Server, name, version string, at time.Time) string {
	filename, data := pypitest.Wheel(name, version, nil, "")
	up.AddFile(name, filename, data, pypitest.FileOpts{UploadTime: at, Metadata: pypitest.WheelMetadata(name, version, nil, "")})
	return filename
}

// pypiCooldownConfig mounts "pypi" under a 3-day policy and "pypifree"
// without one, both on up.
func pypiCooldownConfig(up *pypitest.Server) string {
	return pypiConfig(up, `min_release_age = "3d"`) + fmt.Sprintf(`
[[registry]]
name = "pypifree"
kind = "pypi"
upstream = %q
file_hosts = [%q]
`, up.IndexURL, up.FilesURL)
}

func TestPipSkipsFilesYoungerThanMinReleaseAgeAndTheirDownloadsAreRefused(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	now := time.Now()
	addWheelAt(up, "alpha", "1.0.0", now.Add(-30*24*time.Hour))
	young := addWheelAt(up, "alpha", "2.0.0", now.Add(-time.Hour))
	l := startLarder(t, pypiCooldownConfig(up))

	target := filepath.Join(t.TempDir(), "site")
	newPip(t, l.URL+"/pypi/simple/").mustRun("install", "--target", target, "alpha")
	if got := installedDists(t, target); got != "alpha-1.0.0.dist-info" {
		t.Errorf("pip installed %q under a 3-day policy, want alpha-1.0.0 (2.0.0 is an hour old)", got)
	}
	out, err := newPip(t, l.URL+"/pypi/simple/").run("install", "--target", filepath.Join(t.TempDir(), "site"), "alpha==2.0.0")
	if err == nil {
		t.Errorf("pip installed alpha==2.0.0, an hour old, under a 3-day policy:\n%s", out)
	}

	// PEP 691 JSON: the young file and its version are left out.
	resp, body := l.get(t, "/pypi/simple/alpha/", "Accept", "application/vnd.pypi.simple.v1+json")
	var page struct {
		Versions []string `json:"versions"`
		Files    []struct {
			Filename string `json:"filename"`
		} `json:"files"`
	}
	if err := json.Unmarshal(body, &page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("JSON page: %d %v %s", resp.StatusCode, err, body)
	}
	if len(page.Files) != 1 || strings.Join(page.Versions, ",") != "1.0.0" {
		t.Errorf("JSON page under a 3-day policy: versions %v, files %v", page.Versions, page.Files)
	}

	// The wheel and its metadata, asked for directly: 403, and nothing
	// fetched from the file host.
	for _, file := range []string{young, young + ".metadata"} {
		resp, body := l.get(t, "/pypi/files/alpha/"+file)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "alpha@2.0.0") || !strings.Contains(string(body), "min_release_age 3d") {
			t.Errorf("%s: %d %s, want 403 naming the release", file, resp.StatusCode, body)
		}
	}
	for _, r := range up.Requests() {
		if r.Host == "files" && strings.Contains(r.Path, young) {
			t.Errorf("the file host saw %s %s: a refused download was fetched", r.Method, r.Path)
		}
	}
	// The legacy JSON API leaves it out too.
	_, legacy := l.get(t, "/pypi/pypi/alpha/json")
	if strings.Contains(string(legacy), young) || !strings.Contains(string(legacy), "alpha-1.0.0") {
		t.Errorf("legacy JSON under a 3-day policy:\n%s", legacy)
	}
}

func TestPipViewAsOfADateResolvesWhatExistedThen(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	addWheelAt(up, "alpha", "1.0.0", march.Add(-30*24*time.Hour))
	addWheelAt(up, "alpha", "1.1.0", march.Add(-time.Hour))
	late := addWheelAt(up, "alpha", "1.2.0", march.Add(time.Hour))
	// A wheel added to an old release later is dated by its own upload.
	addWheelAt(up, "beta", "1.0.0", march.Add(-30*24*time.Hour))
	lateWheel, data := pypitest.Wheel("beta", "1.0.0", nil, "")
	lateWheel = strings.Replace(lateWheel, "py3-none-any", "cp312-cp312-manylinux_2_17_x86_64", 1)
	up.AddFile("beta", lateWheel, data, pypitest.FileOpts{UploadTime: march.Add(time.Hour)})
	l := startLarder(t, pypiCooldownConfig(up))

	index := l.URL + "/@2026-03-01/pypifree/simple/"
	target := filepath.Join(t.TempDir(), "site")
	newPip(t, index).mustRun("install", "--target", target, "alpha")
	if got := installedDists(t, target); got != "alpha-1.1.0.dist-info" {
		t.Errorf("/@2026-03-01/: pip installed %q, want alpha-1.1.0", got)
	}
	_, html := l.get(t, "/@2026-03-01/pypifree/simple/alpha/")
	if strings.Contains(string(html), late) || !strings.Contains(string(html), "/@2026-03-01/pypifree/files/alpha/") {
		t.Errorf("/@2026-03-01/ page lists a later file, or links outside the view:\n%s", html)
	}
	_, beta := l.get(t, "/@2026-03-01/pypifree/simple/beta/")
	if strings.Contains(string(beta), lateWheel) {
		t.Errorf("/@2026-03-01/ lists a wheel uploaded to beta 1.0.0 after that date:\n%s", beta)
	}
	if resp, body := l.get(t, "/@2026-03-01/pypifree/files/alpha/"+late); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "is not in this view") {
		t.Errorf("/@2026-03-01/: download of a later file: %d %s", resp.StatusCode, body)
	}
	// Without the view the same registry serves everything.
	target = filepath.Join(t.TempDir(), "site")
	newPip(t, l.URL+"/pypifree/simple/").mustRun("install", "--target", target, "alpha")
	if got := installedDists(t, target); got != "alpha-1.2.0.dist-info" {
		t.Errorf("/pypifree/: pip installed %q, want alpha-1.2.0", got)
	}
}
