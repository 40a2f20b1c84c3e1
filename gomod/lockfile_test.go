package gomod

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

func TestGoSumPinsEveryZipAndGoModItNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "go.sum")
	sum := `github.com/BurntSushi/toml v1.6.0 h1:dRaEfpa2VI55EwlIW72hMRHd8bh8OP5dwE7dkEfo1xk=
github.com/BurntSushi/toml v1.6.0/go.mod h1:ukJfTF/6rtPPRCnwkur4qwRxa8vTRFBF0uk2lLoLwho=
golang.org/x/mod v0.43.0/go.mod h1:4ec1JnuyBz5+FIVhg86UsA39YG8BpnrZdJYSNHmGzHY=
example.com/m v2.0.0+incompatible h1:abc=
not a line
`
	if err := os.WriteFile(path, []byte(sum), 0o644); err != nil {
		t.Fatal(err)
	}
	pins, skipped, err := goSum{}.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pins {
		got = append(got, p.Label+" "+p.File.Path)
	}
	want := []string{
		"github.com/BurntSushi/toml@v1.6.0 github.com/!burnt!sushi/toml/@v/v1.6.0.info",
		"github.com/BurntSushi/toml@v1.6.0 github.com/!burnt!sushi/toml/@v/v1.6.0.zip",
		"github.com/BurntSushi/toml@v1.6.0/go.mod github.com/!burnt!sushi/toml/@v/v1.6.0.mod",
		"golang.org/x/mod@v0.43.0/go.mod golang.org/x/mod/@v/v0.43.0.mod",
		"example.com/m@v2.0.0+incompatible example.com/m/@v/v2.0.0+incompatible.info",
		"example.com/m@v2.0.0+incompatible example.com/m/@v/v2.0.0+incompatible.zip",
	}
	if !slices.Equal(got, want) {
		t.Errorf("pins:\n%q\nwant\n%q", got, want)
	}
	if len(skipped) != 1 {
		t.Errorf("skipped %v, want the one bad line", skipped)
	}
	if m := (goSum{}).Match("/src/app/go.sum", nil); m != registries.ByName {
		t.Errorf("go.sum matched %v by name", m)
	}
	if m := (goSum{}).Match("deps.txt", []byte(sum)); m != registries.ByContent {
		t.Errorf("a go.sum under another name matched %v", m)
	}
	if m := (goSum{}).Match("requirements.txt", []byte("requests==2.31.0\n")); m != registries.NoMatch {
		t.Errorf("requirements.txt matched %v", m)
	}
}

func TestGoModPinsEveryRequiredVersionAndWhatReplacesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "go.mod")
	mod := `// the application
module example.com/app

go 1.22

require (
	github.com/BurntSushi/toml v1.6.0
	golang.org/x/mod v0.43.0 // indirect
	example.com/forked v1.0.0
	example.com/local v1.0.0
)

replace example.com/forked => example.com/fork v1.2.0

replace example.com/local => ../local
`
	if err := os.WriteFile(path, []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	pins, skipped, err := goMod{}.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pins {
		got = append(got, p.File.Path)
	}
	want := []string{
		"github.com/!burnt!sushi/toml/@v/v1.6.0.info", "github.com/!burnt!sushi/toml/@v/v1.6.0.mod", "github.com/!burnt!sushi/toml/@v/v1.6.0.zip",
		"golang.org/x/mod/@v/v0.43.0.info", "golang.org/x/mod/@v/v0.43.0.mod", "golang.org/x/mod/@v/v0.43.0.zip",
		"example.com/fork/@v/v1.2.0.info", "example.com/fork/@v/v1.2.0.mod", "example.com/fork/@v/v1.2.0.zip",
	}
	if !slices.Equal(got, want) {
		t.Errorf("pins:\n%q\nwant\n%q", got, want)
	}
	if len(skipped) != 1 {
		t.Errorf("skipped %v, want the one replaced by a directory", skipped)
	}
	if m := (goMod{}).Match("/src/app/go.mod", nil); m != registries.ByName {
		t.Errorf("go.mod matched %v by name", m)
	}
	if m := (goMod{}).Match("deps.mod", []byte(mod)); m != registries.ByContent {
		t.Errorf("a go.mod under another name matched %v", m)
	}
	if m := (goSum{}).Match("deps.mod", []byte(mod)); m != registries.NoMatch {
		t.Errorf("go.sum's reader claims a go.mod: %v", m)
	}
	if m := (goMod{}).Match("requirements.txt", []byte("requests==2.31.0\n")); m != registries.NoMatch {
		t.Errorf("requirements.txt matched %v", m)
	}
	if _, _, err := (goMod{}).Read(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing go.mod read")
	}
}
