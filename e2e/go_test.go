package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/gomod/gomodtest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// goConfig mounts a go registry on the fake proxy, checked against the
// fake's checksum database (fetched from the fake proxy's sumdb/).
func goConfig(up *gomodtest.Server, extra ...string) string {
	return fmt.Sprintf(`
[[registry]]
name = "go"
kind = "go"
upstream = %q
sumdb = %q
response_timeout = "3s"
%s
`, up.URL, gomodtest.VerifierKey, strings.Join(extra, "\n"))
}

// publishGoGraph publishes a module that needs another one.
func publishGoGraph(up *gomodtest.Server) {
	up.Publish("example.com/dep", "v0.1.0", map[string]string{
		"dep.go": "package dep\n\nfunc Name() string { return \"dep\" }\n",
	})
	up.Publish("example.com/lib", "v1.0.0", map[string]string{
		"lib.go": "package lib\n\nfunc Hello() string { return \"hello\" }\n",
	})
	up.Publish("example.com/lib", "v1.1.0", map[string]string{
		"go.mod": "module example.com/lib\n\ngo 1.21\n\nrequire example.com/dep v0.1.0\n",
		"lib.go": "package lib\n\nimport \"example.com/dep\"\n\nfunc Hello() string { return \"hello \" + dep.Name() }\n",
	})
}

// goProject is a module that requires example.com/lib v1.1.0, with its
// own module cache, build cache and GOPATH, pointed at larder alone.
type goProject struct {
	t   testing.TB
	dir string
	env []string
}

func newGoProject(t *testing.T, l *larder) *goProject {
	return newGoProjectWith(t, l, gomodtest.VerifierKey+" "+l.URL+"/go/sumdb/"+gomodtest.DBName, map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v1.1.0\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/lib\"\n)\n\nfunc main() { fmt.Println(lib.Hello()) }\n",
	})
}

// newGoProjectWith is a project of files whose go command uses larder as
// its GOPROXY and GOSUMDB as its checksum database.
func newGoProjectWith(t testing.TB, l *larder, gosumdb string, files map[string]string) *goProject {
	t.Helper()
	requireTool(t, "go")
	p := &goProject{t: t, dir: t.TempDir()}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Only what this test sets: no GOFLAGS, GONOSUMDB, GOPRIVATE,
	// GOINSECURE or go env file of the machine's.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GO") {
			p.env = append(p.env, kv)
		}
	}
	home := t.TempDir()
	p.env = append(p.env,
		"HOME="+home, "GOENV=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOWORK=off",
		"GOPROXY="+l.URL+"/go",
		"GOSUMDB="+gosumdb,
		"GOPATH="+filepath.Join(home, "gopath"),
		// The build cache holds no modules (its entries are keyed by the
		// bytes compiled): the machine's, so that the standard library is
		// not compiled again for each run of the tests.
		"GOCACHE="+goBuildCache(),
	)
	p.freshCache()
	return p
}

// goBuildCache is the machine's go build cache, or failing that one the
// tests share.
var goBuildCache = sync.OnceValue(func() string {
	if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); filepath.IsAbs(dir) {
			return dir
		}
	}
	return filepath.Join(filepath.Dir(larderBin), "gocache")
})

// freshCache points the project at an empty module cache, and forgets its
// go.sum: go then fetches every module, and verifies each against the
// checksum database, again.
func (p *goProject) freshCache() {
	p.env = append(p.env, "GOMODCACHE="+p.t.TempDir())
	os.Remove(filepath.Join(p.dir, "go.sum"))
}

func (p *goProject) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = p.dir, p.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *goProject) mustRun(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// built downloads and builds the project, and checks that go.sum records
// the checksum database's hashes.
func (p *goProject) built(up *gomodtest.Server, what string) {
	p.t.Helper()
	p.mustRun("mod", "download")
	// go says what it downloads on the same stream: the program's line is
	// the last.
	out := strings.Split(strings.TrimSpace(p.mustRun("run", ".")), "\n")
	if last := out[len(out)-1]; last != "hello dep" {
		p.t.Fatalf("%s: the program printed %q", what, last)
	}
	sum, err := os.ReadFile(filepath.Join(p.dir, "go.sum"))
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	lib, dep := up.Version("example.com/lib", "v1.1.0"), up.Version("example.com/dep", "v0.1.0")
	for _, line := range []string{"example.com/lib v1.1.0 " + lib.H1Zip, "example.com/lib v1.1.0/go.mod " + lib.H1Mod, "example.com/dep v0.1.0 " + dep.H1Zip} {
		if !strings.Contains(string(sum), line) {
			p.t.Fatalf("%s: go.sum lacks %q:\n%s", what, line, sum)
		}
	}
}

func TestGoModDownloadThroughLarderColdThenWarmWithTheUpstreamBlackHoledOrRefusedThenOffline(t *testing.T) {
	up := gomodtest.New()
	defer up.Close()
	publishGoGraph(up)
	// Documents are stale after a second: warm runs revalidate them.
	l := startLarder(t, goConfig(up, `metadata_ttl = "1s"`))
	p := newGoProject(t, l)

	p.built(up, "cold")
	zip := "/example.com/lib/@v/v1.1.0.zip"
	if n := up.Count("GET", zip); n != 1 {
		t.Errorf("the upstream was asked for %s %d times, want once", zip, n)
	}
	if l.heldSHA256("go", strings.TrimPrefix(zip, "/")) == "" {
		t.Fatalf("larder holds no %s", zip)
	}

	t.Run("warm, the upstream black-holed", func(t *testing.T) {
		// Every document stale, the upstream up: the first revalidation
		// meets the black hole.
		time.Sleep(1100 * time.Millisecond)
		up.SetMode(faults.Hang)
		defer up.SetMode(faults.Normal)
		p.freshCache()
		start := time.Now()
		p.built(up, "warm, upstream black-holed")
		// One time-out at most, never one per document.
		if took := time.Since(start); took > 40*time.Second {
			t.Errorf("a warm build with the upstream black-holed took %v", took)
		}
		// The stale records were answered, not waited on.
		if !l.logged("cache=STALE") {
			t.Errorf("no document was answered STALE")
		}
	})

	t.Run("warm, the upstream refusing connections", func(t *testing.T) {
		up.SetMode(faults.Refuse)
		defer up.SetMode(faults.Normal)
		p.freshCache()
		p.built(up, "warm, upstream refused")
	})

	t.Run("offline", func(t *testing.T) {
		l.restart("--offline")
		up.SetMode(faults.Refuse)
		defer up.SetMode(faults.Normal)
		p.freshCache()
		p.built(up, "offline")
		// Only held versions are offered: v1.0.0 was never fetched.
		if out := strings.TrimSpace(p.mustRun("list", "-m", "-versions", "example.com/lib")); out != "example.com/lib v1.1.0" {
			t.Errorf("go list -m -versions offline: %q, want only the held v1.1.0", out)
		}
		p.mustRun("get", "example.com/lib@latest")
		if out := strings.TrimSpace(p.mustRun("list", "-m", "example.com/lib")); out != "example.com/lib v1.1.0" {
			t.Errorf("go get example.com/lib@latest offline resolved to %q, want the held v1.1.0", out)
		}
	})
}

func TestGoATamperedZipIsRefusedAndNothingStored(t *testing.T) {
	up := gomodtest.New()
	defer up.Close()
	publishGoGraph(up)
	l := startLarder(t, goConfig(up))
	p := newGoProject(t, l)

	up.SetMode(faults.WrongDigest)
	out, err := p.run("mod", "download")
	if err == nil {
		t.Fatalf("go mod download of tampered zips succeeded:\n%s", out)
	}
	for _, zip := range []string{"example.com/lib/@v/v1.1.0.zip", "example.com/lib/@v/v1.1.0.mod"} {
		if sum := l.storedSHA256("go", zip); sum != "" {
			t.Errorf("larder stored the tampered %s (%s)", zip, sum)
		}
	}
	if !l.logged("integrity check failed") {
		t.Errorf("larder's log does not say it refused the tampered files")
	}
	if files := l.blobFiles("tmp"); len(files) != 0 {
		t.Errorf("files left in blobs/tmp: %v", files)
	}

	up.SetMode(faults.Normal)
	p.freshCache()
	p.built(up, "once the upstream serves the real zips")
}

func TestLarderWarmGoSumThenGoBuildsOffline(t *testing.T) {
	up := gomodtest.New()
	defer up.Close()
	publishGoGraph(up)
	first := startLarder(t, goConfig(up))
	p := newGoProject(t, first)
	p.built(up, "cold, to write go.sum")
	gosum := filepath.Join(t.TempDir(), "go.sum")
	b, err := os.ReadFile(filepath.Join(p.dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gosum, b, 0o644); err != nil {
		t.Fatal(err)
	}

	l := startLarder(t, goConfig(up))
	out, err := runLarder(t, "warm", "--config", l.config, "--url", l.URL, gosum)
	if err != nil {
		t.Fatalf("larder warm go.sum: %v\n%s", err, out)
	}
	l.restart("--offline")
	up.SetMode(faults.Refuse)
	defer up.SetMode(faults.Normal)
	q := newGoProject(t, l)
	q.built(up, "offline, after warm go.sum")
}

// A pseudo-version and a +incompatible version (a v2 without /v2 and
// without a go.mod) go through larder like any other: go resolves, fetches
// and verifies them against the checksum database, and builds.
func TestGoGetsAPseudoVersionAndAnIncompatibleOneThroughLarder(t *testing.T) {
	up := gomodtest.New()
	defer up.Close()
	const pseudo = "v0.0.0-20240501120000-abcdefabcdef"
	up.Publish("example.com/pseudo", pseudo, map[string]string{
		"pseudo.go": "package pseudo\n\nfunc Name() string { return \"pseudo\" }\n",
	})
	up.Publish("example.com/old", "v2.1.0+incompatible", map[string]string{
		"old.go": "package old\n\nfunc Name() string { return \"old\" }\n",
	})
	l := startLarder(t, goConfig(up))
	p := newGoProjectWith(t, l, gomodtest.VerifierKey+" "+l.URL+"/go/sumdb/"+gomodtest.DBName, map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.21\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/old\"\n\t\"example.com/pseudo\"\n)\n\nfunc main() { fmt.Println(pseudo.Name(), old.Name()) }\n",
	})
	p.mustRun("get", "example.com/pseudo@"+pseudo, "example.com/old@v2.1.0+incompatible")
	out := strings.Split(strings.TrimSpace(p.mustRun("run", ".")), "\n")
	if last := out[len(out)-1]; last != "pseudo old" {
		t.Fatalf("the program printed %q", last)
	}
	for _, zip := range []string{"example.com/pseudo/@v/" + pseudo + ".zip", "example.com/old/@v/v2.1.0+incompatible.zip"} {
		if l.heldSHA256("go", zip) == "" {
			t.Errorf("larder holds no %s", zip)
		}
	}
}

// larder warm go.mod fetches every version it requires: a go.mod that
// lists its whole build (go 1.17 on) then builds from larder offline.
func TestLarderWarmGoModThenGoBuildsOffline(t *testing.T) {
	up := gomodtest.New()
	defer up.Close()
	publishGoGraph(up)
	l := startLarder(t, goConfig(up))
	gomod := filepath.Join(t.TempDir(), "go.mod")
	full := "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v1.1.0\n\nrequire example.com/dep v0.1.0 // indirect\n"
	if err := os.WriteFile(gomod, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runLarder(t, "warm", "--config", l.config, "--url", l.URL, gomod); err != nil {
		t.Fatalf("larder warm go.mod: %v\n%s", err, out)
	}
	l.restart("--offline")
	up.SetMode(faults.Refuse)
	defer up.SetMode(faults.Normal)
	p := newGoProject(t, l)
	if err := os.WriteFile(filepath.Join(p.dir, "go.mod"), []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	p.built(up, "offline, after warm go.mod")
}
