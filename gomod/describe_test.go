package gomod

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

func TestAGoModsRequirementsAreTheVersionsDependencies(t *testing.T) {
	deps, ok := requirements("example.com/m/@v/v1.0.0.mod", []byte(`module example.com/m

go 1.22

require (
	golang.org/x/text v0.14.0 // indirect
	example.com/dep v1.2.3
)
`))
	want := []registries.Dependency{{Name: "example.com/dep", Constraint: "v1.2.3"}, {Name: "golang.org/x/text", Constraint: "v0.14.0", Note: "indirect"}}
	if !ok || !reflect.DeepEqual(deps, want) {
		t.Errorf("got %+v, %v; want %+v", deps, ok, want)
	}
	if deps, ok := requirements("m.mod", []byte("module example.com/m\n")); !ok || deps == nil || len(deps) != 0 {
		t.Errorf("no requirements: %#v, %v", deps, ok)
	}
	if _, ok := requirements("m.mod", []byte("require (((")); ok {
		t.Error("a go.mod that does not parse gives dependencies")
	}
}

func TestTheClientSetUpNamesTheRegistrysOwnPatterns(t *testing.T) {
	shells := func(g *Registry) string {
		var all []string
		for _, s := range g.ClientSetup("http://larder.test/go/") {
			all = append(all, s.Shell)
		}
		return strings.Join(all, "\n")
	}
	got := shells(&Registry{private: "*.corp.example.com", exclude: "git.corp.example.com"})
	for _, want := range []string{"GOPROXY=http://larder.test/go", "GOFLAGS=-mod=mod", "GONOSUMDB=*.corp.example.com", "GONOPROXY=git.corp.example.com"} {
		if !strings.Contains(got, want) {
			t.Errorf("the set-up lacks %s:\n%s", want, got)
		}
	}
	if got := shells(&Registry{}); strings.Contains(got, "GONOPROXY") {
		t.Errorf("a registry that excludes nothing suggests GONOPROXY:\n%s", got)
	}

	// Pasted in order, the snippets leave go with both kinds of pattern
	// skipping the checksum database: the go command says so.
	for g, wantSumDB := range map[*Registry]string{
		{private: "*.corp.example.com", exclude: "git.corp.example.com"}: "*.corp.example.com,git.corp.example.com",
		{private: "*.corp.example.com"}:                                  "*.corp.example.com",
		// The example pattern, and the registry's exclude patterns.
		{exclude: "git.corp.example.com"}: "*.corp.example.com,git.corp.example.com",
	} {
		env := goEnvAfter(t, shells(g))
		if env["GONOSUMDB"] != wantSumDB || env["GONOPROXY"] != g.exclude || env["GOPROXY"] != "http://larder.test/go" {
			t.Errorf("after the set-up of private %q, exclude %q: GONOSUMDB=%q GONOPROXY=%q GOPROXY=%q, want GONOSUMDB=%q",
				g.private, g.exclude, env["GONOSUMDB"], env["GONOPROXY"], env["GOPROXY"], wantSumDB)
		}
	}
}

// goEnvAfter runs shell lines with a go env file of their own, and reads
// back what the go command then has.
func goEnvAfter(t *testing.T, shell string) map[string]string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	dir := t.TempDir()
	run := func(script string) string {
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOENV="+filepath.Join(dir, "go.env"), "GOTOOLCHAIN=local", "PATH="+filepath.Dir(goBin)+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	run(shell)
	out := strings.Split(run("go env GONOSUMDB GONOPROXY GOPROXY"), "\n")
	return map[string]string{"GONOSUMDB": out[0], "GONOPROXY": out[1], "GOPROXY": out[2]}
}
