package gomod

import (
	"reflect"
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
