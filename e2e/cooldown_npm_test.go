package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// publishAged publishes leaf 1.0.0 (30 days old), 1.1.0 (10 days old) and
// 1.2.0 (an hour old, the upstream's latest), and @acme/util 1.0.0 (an hour
// old).
func publishAged(up *npmtest.Server, now time.Time) {
	for v, age := range map[string]time.Duration{"1.0.0": 30 * 24 * time.Hour, "1.1.0": 10 * 24 * time.Hour, "1.2.0": time.Hour} {
		up.Publish("leaf", v, nil)
		up.SetPublished("leaf", v, now.Add(-age))
	}
	up.Publish("@acme/util", "1.0.0", nil)
	up.SetPublished("@acme/util", "1.0.0", now.Add(-time.Hour))
}

// cooldownConfig mounts "npm" under a 3-day policy that spares @acme, and
// "npmfree", where the registry's own min_release_age = "0" turns the
// global one off, both on up.
func cooldownConfig(up *npmtest.Server) string {
	return `min_release_age = "3d"
min_release_age_exempt = ["@acme/*"]
` + npmConfig(up, "") + `
[[registry]]
name = "npmfree"
kind = "npm"
upstream = "` + up.URL + `"
min_release_age = "0"
`
}

func versionOf(t *testing.T, c *client, name string) string {
	t.Helper()
	var pkg struct{ Version string }
	if err := json.Unmarshal([]byte(c.read(filepath.Join("node_modules", name, "package.json"))), &pkg); err != nil {
		t.Fatal(err)
	}
	return pkg.Version
}

func TestNpmInstallSkipsVersionsYoungerThanMinReleaseAgeAndTheirTarballsAreRefused(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	publishAged(up, time.Now())
	l := startLarder(t, cooldownConfig(up))

	// The packument leaves 1.2.0 out, and latest falls back to 1.1.0.
	for _, accept := range []string{"application/json", "application/vnd.npm.install-v1+json"} {
		resp, body := l.get(t, "/npm/leaf", "Accept", accept)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("packument (%s): %d %s", accept, resp.StatusCode, body)
		}
		var doc struct {
			DistTags map[string]string `json:"dist-tags"`
			Versions map[string]any    `json:"versions"`
			Time     map[string]string `json:"time"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.DistTags["latest"] != "1.1.0" || doc.Versions["1.2.0"] != nil || doc.Versions["1.1.0"] == nil || doc.Time["1.2.0"] != "" {
			t.Errorf("packument (%s) under a 3-day policy: latest %q, versions %v, time %v; want latest 1.1.0 and no 1.2.0", accept, doc.DistTags["latest"], keys(doc.Versions), doc.Time)
		}
	}
	if resp, _ := l.get(t, "/npm/leaf/1.2.0"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("version document of the held-back 1.2.0: %d, want 404", resp.StatusCode)
	}
	if resp, body := l.get(t, "/npm/leaf/latest"); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"1.1.0"`) {
		t.Errorf("leaf/latest: %d %s, want 1.1.0", resp.StatusCode, body)
	}

	c := newProject(t, `{"name":"app","version":"1.0.0","private":true,"dependencies":{"leaf":"^1.0.0","@acme/util":"1.0.0"}}`)
	c.mustRun(l.URL+"/npm/", "npm", "install", "--no-audit")
	if v := versionOf(t, c, "leaf"); v != "1.1.0" {
		t.Errorf("npm install resolved leaf %s, want 1.1.0 (1.2.0 is an hour old)", v)
	}
	// Exempt by min_release_age_exempt: an hour old, installed all the same.
	if v := versionOf(t, c, "@acme/util"); v != "1.0.0" {
		t.Errorf("exempt @acme/util: %s", v)
	}

	// A direct download of the young tarball: 403, with the notice, and
	// nothing fetched for it.
	young := npmtest.TarballPath("leaf", "1.2.0")
	resp, body := l.get(t, "/npm/"+young)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("npm-notice"), "leaf@1.2.0") || !strings.Contains(string(body), "min_release_age 3d") || !strings.Contains(string(body), "will be served from") {
		t.Errorf("young tarball: %d, npm-notice %q, body %s", resp.StatusCode, resp.Header.Get("npm-notice"), body)
	}

	// npm ci from a lockfile that names 1.2.0 (written through npmfree,
	// which has no policy) fails, and says why.
	free := newProject(t, `{"name":"app","version":"1.0.0","private":true,"dependencies":{"leaf":"^1.0.0"}}`)
	free.mustRun(l.URL+"/npmfree/", "npm", "install", "--no-audit")
	if v := versionOf(t, free, "leaf"); v != "1.2.0" {
		t.Fatalf("npmfree (min_release_age = \"0\") resolved leaf %s, want 1.2.0", v)
	}
	lock := strings.ReplaceAll(free.read("package-lock.json"), "/npmfree/", "/npm/")
	if err := os.WriteFile(filepath.Join(free.dir, "package-lock.json"), []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	// A warm of that lockfile says so, and fetches nothing for it.
	warmed, err := runLarder(t, "warm", "--config", l.config, "--url", l.URL, filepath.Join(free.dir, "package-lock.json"))
	if err == nil || !strings.Contains(warmed, "leaf@1.2.0") || !strings.Contains(warmed, "held back by larder's release-age policy") {
		t.Errorf("larder warm of a lockfile naming a held-back version: %v\n%s", err, warmed)
	}
	free.removeNodeModules()
	free.freshCache()
	out, err := free.run(l.URL+"/npm/", "npm", "ci", "--no-audit")
	if err == nil {
		t.Fatalf("npm ci of a lockfile naming a held-back version succeeded:\n%s", out)
	}
	if !strings.Contains(out, "403") || !strings.Contains(out, "held back by larder's release-age policy") {
		t.Errorf("npm ci's output does not say why:\n%s", out)
	}
	if n := countTarballFetches(up, "leaf-1.2.0.tgz"); n != 1 {
		t.Errorf("the upstream saw %d requests for leaf-1.2.0.tgz, want 1 (npmfree's): the refused downloads fetched it", n)
	}

	// The UI marks it, with when it will be served, and shows the views.
	_, api := l.get(t, "/api/v1/registries/npm/packages/leaf")
	var pkg struct {
		Versions []struct {
			Version       string `json:"version"`
			HeldBack      bool   `json:"held_back"`
			HeldBackUntil string `json:"held_back_until"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(api, &pkg); err != nil {
		t.Fatalf("package API: %v\n%s", err, api)
	}
	for _, v := range pkg.Versions {
		if (v.Version == "1.2.0") != v.HeldBack || (v.HeldBack && v.HeldBackUntil == "") {
			t.Errorf("package API: %s held_back %v until %q", v.Version, v.HeldBack, v.HeldBackUntil)
		}
	}
	if _, page := l.get(t, "/r/npm/p/leaf"); !strings.Contains(string(page), "held back") {
		t.Error("the package page does not mark the held-back version")
	}
	if _, setup := l.get(t, "/setup"); !strings.Contains(string(setup), "/@P3D/npm/") || !strings.Contains(string(setup), "younger than <strong>3d</strong>") {
		t.Error("the set-up page shows neither the policy nor a /@P3D/ view")
	}

	_, metrics := l.get(t, "/metrics")
	if !strings.Contains(string(metrics), `larder_release_age_refusals_total{cause="min_release_age",registry="npm"}`) {
		t.Errorf("/metrics does not count the refusals:\n%s", grepLines(string(metrics), "release_age"))
	}
	if n := strings.Count(l.flushedLog(), "download refused: release held back"); n != 1 {
		t.Errorf("the log names the refusal %d times, want once", n)
	}
}

func TestNpmViewAsOfADateResolvesWhatExistedThen(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	now := time.Now()
	publishAged(up, now)
	l := startLarder(t, cooldownConfig(up))

	// Twenty days ago only leaf 1.0.0 existed; with no policy on npmfree,
	// the view alone decides.
	date := now.Add(-20 * 24 * time.Hour).UTC().Format(time.RFC3339)
	for _, label := range []string{date, "P20D"} {
		c := newProject(t, `{"name":"app","version":"1.0.0","private":true,"dependencies":{"leaf":"^1.0.0"}}`)
		reg := l.URL + "/@" + label + "/npmfree/"
		c.mustRun(reg, "npm", "install", "--no-audit")
		if v := versionOf(t, c, "leaf"); v != "1.0.0" {
			t.Errorf("/@%s/: npm installed leaf %s, want 1.0.0", label, v)
		}
		if lock := c.read("package-lock.json"); !strings.Contains(lock, "/@"+label+"/npmfree/leaf/-/leaf-1.0.0.tgz") {
			t.Errorf("/@%s/: the lockfile does not resolve through the view:\n%s", label, lock)
		}
		resp, _ := l.get(t, "/@"+label+"/npmfree/"+npmtest.TarballPath("leaf", "1.1.0"))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("npm-notice"), "is not in this view") {
			t.Errorf("/@%s/: tarball of 1.1.0 (published after the view): %d %q", label, resp.StatusCode, resp.Header.Get("npm-notice"))
		}
	}
	// A date in the view's past and the policy together: the earlier
	// cutoff wins. Eleven days ago on npm: 1.0.0 only (1.1.0 is 10 days
	// old).
	c := newProject(t, `{"name":"app","version":"1.0.0","private":true,"dependencies":{"leaf":"^1.0.0"}}`)
	c.mustRun(l.URL+"/@P11D/npm/", "npm", "install", "--no-audit")
	if v := versionOf(t, c, "leaf"); v != "1.0.0" {
		t.Errorf("/@P11D/npm/: leaf %s, want 1.0.0", v)
	}
	// A view never bypasses the policy: an hour ago on npm is still 1.1.0.
	_, body := l.get(t, "/@PT1H/npm/leaf")
	if !strings.Contains(string(body), `"latest":"1.1.0"`) {
		t.Errorf("/@PT1H/npm/leaf under a 3-day policy: %s", body)
	}
	if resp, body := l.get(t, "/@yesterday/npm/leaf"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/@yesterday/: %d %s, want 400", resp.StatusCode, body)
	}
}

func countTarballFetches(up *npmtest.Server, file string) int {
	n := 0
	for _, r := range up.Requests() {
		if strings.HasSuffix(r.Path, "/"+file) {
			n++
		}
	}
	return n
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func grepLines(s, what string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, what) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func TestPnpmResolvesOnlyWhatThePolicyAndTheViewAllow(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	publishAged(up, time.Now())
	l := startLarder(t, cooldownConfig(up))
	for reg, want := range map[string]string{"/npm/": "1.1.0", "/@P20D/npmfree/": "1.0.0", "/npmfree/": "1.2.0"} {
		c := newProject(t, `{"name":"app","version":"1.0.0","private":true,"dependencies":{"leaf":"^1.0.0"}}`)
		c.mustRun(l.URL+reg, "pnpm", "install", "--reporter=append-only")
		if v := versionOf(t, c, "leaf"); v != want {
			t.Errorf("pnpm through %s resolved leaf %s, want %s", reg, v, want)
		}
	}
}
