package gomod

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/larder-mirror/larder/registries"
)

// maxGoMod bounds a go.mod read for warm and export: it is read whole.
const maxGoMod = 16 << 20

// goMod reads go.mod for `larder warm` and `larder export --lockfile`: each
// required version's .info, .mod and .zip (a go.mod lists every module the
// build needs from go 1.17 on), and the version a replace directive puts in
// its place. go.sum names more (the go.mod files of the whole graph): warm
// it too for a build that resolves nothing upstream.
type goMod struct{}

func (goMod) Format() string { return "go.mod" }

func (goMod) Match(name string, head []byte) registries.LockMatch {
	if strings.ToLower(filepath.Base(name)) == "go.mod" {
		return registries.ByName
	}
	for _, line := range bytes.Split(head, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || bytes.HasPrefix(line, []byte("//")) {
			continue
		}
		if f := strings.Fields(string(line)); len(f) == 2 && f[0] == "module" {
			return registries.ByContent
		}
		break
	}
	return registries.NoMatch
}

func (goMod) Read(path string) ([]registries.Pin, []error, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if info.Size() > maxGoMod {
		return nil, nil, fmt.Errorf("%s: %d bytes, more than a go.mod larder reads (%d)", path, info.Size(), maxGoMod)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := modfile.Parse(path, data, nil)
	if err != nil {
		return nil, nil, err
	}
	replaced := map[module.Version]module.Version{}
	for _, r := range f.Replace {
		replaced[r.Old] = r.New
	}
	var pins pinSet
	var skipped []error
	for _, req := range f.Require {
		mv := req.Mod
		if r, ok := replaced[mv]; ok {
			mv = r
		} else if r, ok := replaced[module.Version{Path: mv.Path}]; ok {
			mv = r
		}
		if mv.Version == "" {
			skipped = append(skipped, fmt.Errorf("%s: replaced by the directory %s, not a module version", req.Mod, mv.Path))
			continue
		}
		if err := module.Check(mv.Path, mv.Version); err != nil || module.CanonicalVersion(mv.Version) != mv.Version {
			skipped = append(skipped, fmt.Errorf("%s: not a module version a proxy serves", mv))
			continue
		}
		for _, ext := range []string{"info", "mod", "zip"} {
			pins.add(mv.String(), mv, ext)
		}
	}
	return pins.pins, skipped, nil
}
