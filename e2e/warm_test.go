package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// runLarder runs a larder subcommand to completion.
func runLarder(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, larderBin, args...).CombinedOutput()
	return string(out), err
}

// Lockfiles written by npm, pnpm and yarn through larder are warmed into a
// fresh data folder, which then serves all three installs offline.
func TestWarmFromNpmLockfilesThenInstallOffline(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	publishGraph(up)
	l := startLarder(t, npmConfig(up, ""))
	reg := l.URL + "/npm/"

	projects := map[string]*client{}
	for _, tool := range []string{"npm", "pnpm", "yarn"} {
		c := newProject(t, graphPackageJSON)
		switch tool {
		case "npm":
			c.mustRun(reg, "npm", "install", "--no-audit")
		case "pnpm":
			c.mustRun(reg, "pnpm", "install", "--reporter=append-only")
		case "yarn":
			c.mustRun(reg, "yarn", "install", "--non-interactive", "--registry", reg)
		}
		projects[tool] = c
	}
	// npm-shrinkwrap.json is a package-lock.json under another name.
	shrinkwrap := filepath.Join(t.TempDir(), "npm-shrinkwrap.json")
	lockBytes, _ := os.ReadFile(filepath.Join(projects["npm"].dir, "package-lock.json"))
	os.WriteFile(shrinkwrap, lockBytes, 0o644)
	lockfiles := []string{
		shrinkwrap,
		filepath.Join(projects["npm"].dir, "package-lock.json"),
		filepath.Join(projects["pnpm"].dir, "pnpm-lock.yaml"),
		filepath.Join(projects["yarn"].dir, "yarn.lock"),
	}

	// A new, empty data folder behind the same address.
	l.stop()
	l.dir = filepath.Join(t.TempDir(), "warmed")
	out, err := runLarder(t, append([]string{"warm", "--config", l.config, "--data", l.dir}, lockfiles...)...)
	if err != nil {
		t.Fatalf("larder warm: %v\n%s", err, out)
	}
	if !strings.Contains(out, "5 fetched") && !strings.Contains(out, "0 failed") {
		t.Errorf("warm summary:\n%s", out)
	}
	// Warming again finds everything cached.
	out, err = runLarder(t, append([]string{"warm", "--config", l.config, "--data", l.dir}, lockfiles...)...)
	if err != nil || !strings.Contains(out, "0 fetched") {
		t.Errorf("second warm: %v\n%s", err, out)
	}

	l.extra = []string{"--offline"}
	l.start()
	up.Reset()
	// Warming is not use: nothing it fetched counts a hit or was served.
	for _, name := range []string{"leaf", "@acme/top"} {
		resp, err := http.Get(l.URL + "/api/v1/registries/npm/packages/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var pkg struct {
			Hits       int64   `json:"hits"`
			LastServed *string `json:"last_served"`
		}
		err = json.NewDecoder(resp.Body).Decode(&pkg)
		resp.Body.Close()
		if err != nil || pkg.Hits != 0 || pkg.LastServed != nil {
			t.Errorf("%s after warming: %d hits, last served %v (%v); want none", name, pkg.Hits, deref(pkg.LastServed), err)
		}
	}
	for tool, c := range projects {
		c.removeNodeModules()
		c.freshCache()
		switch tool {
		case "npm":
			c.mustRun(reg, "npm", "ci", "--no-audit")
		case "pnpm":
			c.mustRun(reg, "pnpm", "install", "--frozen-lockfile", "--offline=false", "--reporter=append-only")
		case "yarn":
			c.mustRun(reg, "yarn", "install", "--frozen-lockfile", "--non-interactive", "--registry", reg)
		}
		if !c.exists("node_modules/@acme/top/package.json") || !c.exists("node_modules/leaf/package.json") {
			t.Errorf("%s: offline install from the warmed cache did not install", tool)
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("the offline larder made %d upstream requests", n)
	}
}

func TestWarmFromRequirementsAndPylockThenPipInstallsOffline(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	publishPython(up)
	l := startLarder(t, pypiConfig(up, ""))

	dir := t.TempDir()
	_, alpha := pypitest.Wheel("alpha", "1.0.0", []string{"beta>=1.0"}, ">=3.8")
	_, beta := pypitest.Wheel("beta", "1.0.0", nil, "")
	os.WriteFile(filepath.Join(dir, "base.txt"), []byte(fmt.Sprintf("beta==1.0.0 --hash=sha256:%s\n", sha(beta))), 0o644)
	os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte(fmt.Sprintf("# app\n-r base.txt\nalpha==1.0.0 \\\n    --hash=sha256:%s\n", sha(alpha))), 0o644)
	gammaName, gamma := pypitest.Wheel("gamma", "1.0.0", nil, "")
	os.WriteFile(filepath.Join(dir, "pylock.toml"), []byte(fmt.Sprintf(`lock-version = "1.0"
created-by = "hand"

[[packages]]
name = "gamma"
version = "1.0.0"
wheels = [{name = %q, url = %q, hashes = {sha256 = %q}}]
`, gammaName, up.FileURL(gammaName), sha(gamma))), 0o644)

	// Warm through the running larder.
	out, err := runLarder(t, "warm", "--config", l.config, "--url", l.URL, filepath.Join(dir, "requirements.txt"), filepath.Join(dir, "pylock.toml"))
	if err != nil || !strings.Contains(out, "3 fetched") {
		t.Fatalf("larder warm: %v\n%s", err, out)
	}

	l.restart("--offline")
	up.Reset()
	p := newPip(t, l.URL+"/pypi/simple/")
	p.dir = dir
	target := filepath.Join(t.TempDir(), "site")
	p.mustRun("install", "--require-hashes", "-r", "requirements.txt", "--target", target)
	p.mustRun("install", "--target", target, "--upgrade", "gamma==1.0.0")
	if got := installedDists(t, target); !strings.Contains(got, "alpha-1.0.0") || !strings.Contains(got, "beta-1.0.0") || !strings.Contains(got, "gamma-1.0.0") {
		t.Errorf("installed %q", got)
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("the offline larder made %d upstream requests", n)
	}
}

func TestWarmReportsWhatItCannotFetch(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	l := startLarder(t, npmConfig(up, ""))
	lock := filepath.Join(t.TempDir(), "package-lock.json")
	os.WriteFile(lock, []byte(`{"name":"x","lockfileVersion":3,"packages":{"":{},
"node_modules/leaf":{"version":"1.0.0","integrity":"sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="},
"node_modules/ghost":{"version":"9.9.9"}}}`), 0o644)
	out, err := runLarder(t, "warm", "--config", l.config, "--url", l.URL, lock)
	if err == nil {
		t.Fatalf("warm succeeded with a wrong integrity and a missing package:\n%s", out)
	}
	for _, want := range []string{"2 failed", "leaf@1.0.0", "integrity", "ghost@9.9.9", "404"} {
		if !strings.Contains(out, want) {
			t.Errorf("warm output lacks %q:\n%s", want, out)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "never"
	}
	return *s
}
