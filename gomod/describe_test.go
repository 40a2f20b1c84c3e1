package gomod

import (
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
}
