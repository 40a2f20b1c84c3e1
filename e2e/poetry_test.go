package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
)

// poetryProject is a poetry project whose only package source is larder.
// Debian 12's poetry is 1.3, which spells a sole source `default = true`
// (from 1.5 on: `priority = "primary"`, as the README shows); either way
// PyPI itself is not consulted.
type poetryProject struct {
	t   *testing.T
	dir string
	env []string
}

const poetryPyproject = `[tool.poetry]
name = "app"
version = "0.1.0"
description = "a project installed through larder"
authors = ["larder <larder@example.invalid>"]

[tool.poetry.dependencies]
python = "^3.8"
alpha = "1.0.0"
gamma = "*"

[[tool.poetry.source]]
name = "larder"
url = "INDEX"
default = true

[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
`

func newPoetryProject(t *testing.T, index string) *poetryProject {
	t.Helper()
	requireTool(t, "poetry")
	p := &poetryProject{t: t, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(p.dir, "pyproject.toml"), []byte(strings.ReplaceAll(poetryPyproject, "INDEX", index)), 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	for _, kv := range os.Environ() {
		// Nothing of this machine's pip or poetry set-up, nor a proxy.
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "PIP_"), strings.HasPrefix(name, "POETRY_"),
			strings.EqualFold(name, "http_proxy"), strings.EqualFold(name, "https_proxy"), strings.EqualFold(name, "all_proxy"),
			name == "HOME", name == "XDG_CONFIG_HOME", name == "XDG_CACHE_HOME":
			continue
		}
		p.env = append(p.env, kv)
	}
	p.env = append(p.env,
		"HOME="+home,
		"POETRY_CACHE_DIR="+filepath.Join(home, "cache"),
		"POETRY_CONFIG_DIR="+filepath.Join(home, "config"),
		"POETRY_VIRTUALENVS_IN_PROJECT=true",
		"POETRY_NO_INTERACTION=1",
		"PIP_CONFIG_FILE=/dev/null",
		// A desktop keyring would be asked for the source's credentials.
		"PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring",
	)
	return p
}

func (p *poetryProject) run(args ...string) (string, error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "poetry", append(args, "--no-interaction", "-vv")...)
	cmd.Dir, cmd.Env = p.dir, p.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *poetryProject) mustRun(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatalf("poetry %s: %v\n%s", strings.Join(args, " "), err, tail(out, 60))
	}
	return out
}

// installed lists the dist-info folders in the project's virtualenv.
func (p *poetryProject) installed() string {
	p.t.Helper()
	matches, _ := filepath.Glob(filepath.Join(p.dir, ".venv", "lib", "python3*", "site-packages", "*.dist-info"))
	var names []string
	for _, m := range matches {
		names = append(names, filepath.Base(m))
	}
	return strings.Join(names, " ")
}

func TestPoetryLocksAndInstallsThroughLarderAndAgainOffline(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	publishPython(up)
	l := startLarder(t, pypiConfig(up, ""))
	index := l.URL + "/pypi/simple/"

	p := newPoetryProject(t, index)
	p.mustRun("lock")
	lock, err := os.ReadFile(filepath.Join(p.dir, "poetry.lock"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`name = "alpha"` + "\n" + `version = "1.0.0"`,
		`name = "beta"` + "\n" + `version = "1.0.0"`,  // 2.0.0 requires Python >= 4
		`name = "gamma"` + "\n" + `version = "1.0.0"`, // 2.0.0 is yanked
		"sha256:" + sha(wheelBytes("alpha", "1.0.0", []string{"beta>=1.0"}, ">=3.8")),
		`url = "` + strings.TrimSuffix(index, "/") + `"`, // poetry drops the slash
	} {
		if !strings.Contains(string(lock), want) {
			t.Errorf("poetry.lock lacks %q:\n%s", want, lock)
		}
	}
	for _, host := range []string{up.IndexURL, up.FilesURL} {
		if strings.Contains(string(lock), strings.TrimSuffix(host, "/")) {
			t.Errorf("poetry.lock names the upstream %s", host)
		}
	}

	p.mustRun("install", "--no-root")
	got := p.installed()
	for _, want := range []string{"alpha-1.0.0.dist-info", "beta-1.0.0.dist-info", "gamma-1.0.0.dist-info"} {
		if !strings.Contains(got, want) {
			t.Errorf("installed %q, want %s", got, want)
		}
	}
	requestsOnlyFromLarder(t, up)

	// The lock file again, in a new project with an empty cache, with the
	// upstream gone and larder offline: everything comes from larder's cache.
	up.SetMode(pypitest.ModeRefuse)
	l.restart("--offline")
	again := newPoetryProject(t, index)
	if err := os.WriteFile(filepath.Join(again.dir, "poetry.lock"), lock, 0o644); err != nil {
		t.Fatal(err)
	}
	again.mustRun("install", "--no-root")
	if got := again.installed(); !strings.Contains(got, "alpha-1.0.0.dist-info") || !strings.Contains(got, "beta-1.0.0.dist-info") || !strings.Contains(got, "gamma-1.0.0.dist-info") {
		t.Errorf("offline install from the lock file: %q", got)
	}
}

func wheelBytes(name, version string, requires []string, requiresPython string) []byte {
	_, data := pypitest.Wheel(name, version, requires, requiresPython)
	return data
}
