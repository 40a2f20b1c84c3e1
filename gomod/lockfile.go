package gomod

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"

	"github.com/larder-mirror/larder/registries"
)

// goSum reads go.sum for `larder warm` and `larder export --lockfile`. A
// line "m v h1:…" pins the version's zip (and its .info, which go asks
// for too); a line "m v/go.mod h1:…" its go.mod alone, as go needs only
// the go.mod of a module it does not build.
//
// The pins carry no integrity warm could check: go.sum's h1: hashes are
// not digests of the files' bytes. larder checks each file against the
// checksum database as it fetches it, and go checks go.sum when it
// downloads through larder.
type goSum struct{}

func (goSum) Format() string { return "go.sum" }

func (goSum) Match(name string, head []byte) registries.LockMatch {
	if strings.ToLower(filepath.Base(name)) == "go.sum" {
		return registries.ByName
	}
	line, _, _ := bytes.Cut(head, []byte("\n"))
	if _, _, ok := parseSumLine(string(line)); ok {
		return registries.ByContent
	}
	return registries.NoMatch
}

// parseSumLine reads one go.sum line: the module version, and whether it
// is a go.mod-only line.
func parseSumLine(line string) (module.Version, bool, bool) {
	f := strings.Fields(line)
	if len(f) != 3 || !strings.HasPrefix(f[2], "h1:") {
		return module.Version{}, false, false
	}
	v, modOnly := strings.CutSuffix(f[1], "/go.mod")
	if module.Check(f[0], v) != nil || module.CanonicalVersion(v) != v {
		return module.Version{}, false, false
	}
	return module.Version{Path: f[0], Version: v}, modOnly, true
}

func (goSum) Read(path string) ([]registries.Pin, []error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var pins pinSet
	var skipped []error
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		mv, modOnly, ok := parseSumLine(line)
		if !ok {
			skipped = append(skipped, fmt.Errorf("line %d: not a go.sum line: %q", n, line))
			continue
		}
		if modOnly {
			pins.add(mv.String()+"/go.mod", mv, "mod")
			continue
		}
		pins.add(mv.String(), mv, "info")
		pins.add(mv.String(), mv, "zip")
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return pins.pins, skipped, nil
}

// pinSet gathers a version's files as pins, each once.
type pinSet struct {
	pins []registries.Pin
	seen map[string]bool
}

func (s *pinSet) add(label string, mv module.Version, ext string) {
	escPath, _ := module.EscapePath(mv.Path)
	escVersion, _ := module.EscapeVersion(mv.Version)
	p := filePath(escPath, escVersion, ext)
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if !s.seen[p] {
		s.seen[p] = true
		s.pins = append(s.pins, registries.Pin{Label: label, File: registries.PinnedFile{Path: p}})
	}
}
