package pypitest

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pip runs `python3 -m pip args...` against nothing but the fake index,
// skipping the test when pip is not installed.
func pip(t *testing.T, args ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs pip; skipped with -short")
	}
	if err := exec.Command("python3", "-m", "pip", "--version").Run(); err != nil {
		t.Skipf("python3 -m pip is not available: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", append([]string{"-m", "pip"}, args...)...)
	// Only the fake index: drop the machine's PIP_* settings (find-links,
	// extra indexes, ...).
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PIP_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1",
		"PIP_CONFIG_FILE="+os.DevNull,
		"PIP_NO_CACHE_DIR=1",
		"PIP_RETRIES=0",
		"PIP_TIMEOUT=20",
		"HOME="+t.TempDir(),
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPipInstallsAWheelAndItsDependencyFromTheFakeIndex(t *testing.T) {
	s := newServer(t)
	a := s.AddWheel("projA", "1.0", []string{"proj-b>=1.0"}, ">=3.8")
	b1 := s.AddWheel("proj_b", "1.0", nil, "")
	s.AddWheel("proj_b", "2.0", nil, ">=4") // not installable on Python 3
	s.AddSdist("proj_b", "1.0", nil)
	target := t.TempDir()

	out := pip(t, "install", "--no-cache-dir", "--index-url", s.IndexURL, "--target", target, "projA")

	for _, f := range []string{"proja/__init__.py", "proj_b/__init__.py", "proja-1.0.dist-info/METADATA", "proj_b-1.0.dist-info/METADATA"} {
		if _, err := os.Stat(filepath.Join(target, f)); err != nil {
			t.Errorf("pip did not install %s: %v\n%s", f, err, out)
		}
	}
	init, _ := os.ReadFile(filepath.Join(target, "proj_b", "__init__.py"))
	if !strings.Contains(string(init), `__version__ = "1.0"`) {
		t.Errorf("installed proj_b is not 1.0:\n%s", init)
	}
	for _, f := range []string{a, b1} {
		p, _ := url.Parse(s.FileURL(f))
		if s.Count("files", "GET", p.Path) != 1 {
			t.Errorf("%s downloaded %d times", f, s.Count("files", "GET", p.Path))
		}
		if s.Count("files", "GET", p.Path+".metadata") != 1 {
			t.Errorf("pip read %s's PEP 658 metadata %d times, want 1", f, s.Count("files", "GET", p.Path+".metadata"))
		}
	}
	if s.Count("index", "GET", "/simple/proja/") == 0 || s.Count("index", "GET", "/simple/proj-b/") == 0 {
		t.Errorf("pip did not read the project pages: %+v", s.Requests())
	}
	for _, r := range s.Requests() {
		if r.Host == "index" && r.Path == "/simple/proja/" && r.Header.Get("Accept") != pipAccept {
			t.Logf("pip's Accept is %q (the tests assume %q)", r.Header.Get("Accept"), pipAccept)
		}
	}
}

func TestPipDownloadsAnSdistWithoutBuildIsolation(t *testing.T) {
	s := newServer(t)
	sd := s.AddSdist("proj-c", "0.3", []string{"nothing-here"})
	dest := t.TempDir()
	pip(t, "download", "--no-deps", "--no-build-isolation", "--index-url", s.IndexURL, "-d", dest, "proj-c")
	got, err := os.ReadFile(filepath.Join(dest, sd))
	if err != nil {
		t.Fatalf("pip did not download %s: %v", sd, err)
	}
	if _, want := Sdist("proj-c", "0.3", []string{"nothing-here"}); string(got) != string(want) {
		t.Error("the downloaded sdist differs from the served one")
	}
}

func TestPipBuildsAndInstallsAnSdistOffline(t *testing.T) {
	s := newServer(t)
	s.AddSdist("Proj.D", "2.1", []string{"proj-e"})
	s.AddSdist("proj-e", "1.0", nil)
	target := t.TempDir()
	out := pip(t, "install", "--no-cache-dir", "--index-url", s.IndexURL, "--target", target, "proj.d")
	for _, f := range []string{"proj_d/__init__.py", "proj_e/__init__.py", "proj_d-2.1.dist-info/RECORD"} {
		if _, err := os.Stat(filepath.Join(target, f)); err != nil {
			t.Errorf("pip did not install %s: %v\n%s", f, err, out)
		}
	}
}
