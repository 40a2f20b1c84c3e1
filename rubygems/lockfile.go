package rubygems

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

// gemfileLock reads Gemfile.lock for `larder warm` and `larder export
// --lockfile`. Bundler writes it (Bundler::LockfileParser) in sections
// that start at column 0:
//
//	GEM
//	  remote: https://rubygems.org/
//	  specs:
//	    rack (2.2.8)                    ← 4 spaces: a locked gem, "NAME (VERSION[-PLATFORM])"
//	      something (>= 1.0)            ← 6 spaces: its requirements
//	    nokogiri (1.15.0-x86_64-linux)
//	CHECKSUMS                           (bundler 2.5 and later)
//	  rack (2.2.8) sha256=HEX
//
// Each gem of a GEM section pins its .gem, checked against the CHECKSUMS
// line when there is one (larder checks it against the info file's
// checksum as it fetches it, whatever the lockfile says). Gems of GIT and
// PATH sections come from no gem server: they are not pinned.
//
// A lockfile is input from outside: every name and release is checked as
// a request path is before it becomes a path.
type gemfileLock struct{}

func (gemfileLock) Format() string { return "Gemfile.lock" }

func (gemfileLock) Match(name string, head []byte) registries.LockMatch {
	base := filepath.Base(name)
	if base == "Gemfile.lock" || base == "gems.locked" {
		return registries.ByName
	}
	if bytes.HasPrefix(head, []byte("GEM\n  remote: ")) || bytes.HasPrefix(head, []byte("GIT\n  remote: ")) || bytes.HasPrefix(head, []byte("PATH\n  remote: ")) {
		return registries.ByContent
	}
	return registries.NoMatch
}

func (gemfileLock) Read(path string) ([]registries.Pin, []error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var (
		pins      []registries.Pin
		skipped   []error
		section   string
		inSpecs   bool
		checksums = map[string]registries.Integrity{}
		index     = map[string]int{} // release path → pin
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case line == "":
			continue
		case line[0] != ' ':
			section, inSpecs = line, false
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		text := strings.TrimSpace(line)
		switch {
		case section == "GEM" && indent == 2:
			inSpecs = text == "specs:"
		case section == "GEM" && inSpecs && indent == 4:
			r, err := lockedRelease(text)
			if err != nil {
				skipped = append(skipped, fmt.Errorf("line %d: %v", n, err))
				continue
			}
			if _, dup := index[r.gemPath()]; dup {
				continue
			}
			index[r.gemPath()] = len(pins)
			pins = append(pins, registries.Pin{Label: r.name + " (" + r.release + ")", File: registries.PinnedFile{Path: r.gemPath()}})
		case section == "CHECKSUMS" && indent == 2:
			// "name (version) sha256=…", or "name (version)" alone
			// when bundler had no checksum for it.
			spec, sums, found := strings.Cut(text, ") ")
			if !found {
				spec = strings.TrimSuffix(text, ")")
			}
			r, err := lockedRelease(spec + ")")
			if err != nil {
				skipped = append(skipped, fmt.Errorf("line %d: %v", n, err))
				continue
			}
			for _, s := range strings.Split(sums, ",") {
				if hexsum, ok := strings.CutPrefix(strings.TrimSpace(s), "sha256="); ok && hexSHA256.MatchString(hexsum) {
					checksums[r.gemPath()] = registries.SRIFromHex("sha256", hexsum)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	for p, sum := range checksums {
		if i, ok := index[p]; ok {
			pins[i].File.Integrity = sum
		}
	}
	return pins, skipped, nil
}

// lockedRelease reads "NAME (VERSION[-PLATFORM])".
func lockedRelease(s string) (release, error) {
	name, rest, ok := strings.Cut(s, " (")
	rel, ok2 := strings.CutSuffix(rest, ")")
	if !ok || !ok2 {
		return release{}, fmt.Errorf("%s is not a locked gem, NAME (VERSION)", quote(s))
	}
	if !validName(name) {
		return release{}, fmt.Errorf("%s is not a gem's name", quote(name))
	}
	if _, _, ok := splitRelease(rel); !ok {
		return release{}, fmt.Errorf("%s: %s is not an exact version", name, quote(rel))
	}
	return release{name: name, release: rel}, nil
}
