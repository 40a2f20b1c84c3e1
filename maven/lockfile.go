package maven

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// coordinate is one module a lockfile names.
type coordinate struct {
	group, artifact, version string
	typ, classifier          string // "" for a jar without classifier
}

func (c coordinate) String() string { return c.group + ":" + c.artifact + ":" + c.version }

func (c coordinate) dir() string {
	return strings.ReplaceAll(c.group, ".", "/") + "/" + c.artifact + "/" + c.version
}

func (c coordinate) pomPath() string { return c.dir() + "/" + c.artifact + "-" + c.version + ".pom" }

// valid checks each part as a segment of the layout, and the version as
// one larder holds for good (a snapshot's moving files are documents, not
// pinned).
func (c coordinate) valid() error {
	for _, s := range []string{c.artifact, c.version} {
		if !segmentRE.MatchString(s) {
			return fmt.Errorf("%q is not a Maven coordinate part", s)
		}
	}
	for _, s := range strings.Split(c.group, ".") {
		if !segmentRE.MatchString(s) {
			return fmt.Errorf("%q is not a Maven group", c.group)
		}
	}
	if isSnapshot(c.version) {
		return fmt.Errorf("%s: a snapshot version moves; larder warms and exports releases only", c)
	}
	return nil
}

// pin is the release of c: its POM, read to find the other files
// (its jar unless it is packaged as a POM alone) and the POMs its
// resolution needs (its parents and imported BOMs), warmed and exported
// with it.
func (c coordinate) pin() registries.Pin {
	return registries.Pin{Label: c.String(), Release: &registries.Release{
		Package:  c.group + ":" + c.artifact,
		Document: c.pomPath(),
		Files: func(pomBody []byte) ([]registries.PinnedFile, error) {
			files := []registries.PinnedFile{{Path: c.pomPath()}}
			if f := c.mainFile(pomBody); f != "" {
				files = append(files, registries.PinnedFile{Path: f})
			}
			return files, nil
		},
		Held: func(a storage.Artifact) []string {
			if a.Version == c.version && strings.HasPrefix(a.Path, c.dir()+"/") {
				return []string{a.Path}
			}
			return nil
		},
		Needs: func(pomBody []byte) ([]registries.Pin, error) {
			needs, inherited, err := pomNeeds(pomBody)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.pomPath(), err)
			}
			return pomPins(needs, inherited), nil
		},
	}}
}

// mainFile is the path of the file c names beside its POM: its jar (or
// the type and classifier the lockfile gives), none for a POM-only
// release.
func (c coordinate) mainFile(pomBody []byte) string {
	ext := c.typ
	switch ext {
	case "":
		ext = "jar"
		if p, err := parsePOM(pomBody); err == nil {
			switch p.Packaging {
			case "pom":
				return ""
			case "war", "ear", "rar":
				ext = p.Packaging
			}
		}
	case "pom":
		if c.classifier == "" {
			return ""
		}
	case "test-jar":
		ext = "jar"
	}
	name := c.artifact + "-" + c.version
	if c.classifier != "" {
		name += "-" + c.classifier
	}
	return c.dir() + "/" + name + "." + ext
}

// gradleLockfile reads gradle.lockfile
// (https://docs.gradle.org/current/userguide/dependency_locking.html):
// "group:artifact:version=configurations" a line.
type gradleLockfile struct{}

func (gradleLockfile) Format() string { return "gradle.lockfile" }

func (gradleLockfile) Match(name string, head []byte) registries.LockMatch {
	if strings.HasSuffix(strings.ToLower(filepath.Base(name)), "gradle.lockfile") {
		return registries.ByName
	}
	if bytes.HasPrefix(head, []byte("# This is a Gradle generated file for dependency locking.")) {
		return registries.ByContent
	}
	return registries.NoMatch
}

func (gradleLockfile) Read(path string) ([]registries.Pin, []error, error) {
	return readLines(path, func(line string) (coordinate, bool, error) {
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "empty=") {
			return coordinate{}, false, nil
		}
		gav, _, _ := strings.Cut(line, "=")
		parts := strings.Split(gav, ":")
		if len(parts) != 3 {
			return coordinate{}, false, fmt.Errorf("not group:artifact:version=configurations: %q", line)
		}
		return coordinate{group: parts[0], artifact: parts[1], version: parts[2]}, true, nil
	})
}

// coordinateList reads a list of Maven coordinates, one a line:
// "group:artifact:version", or as `mvn dependency:list
// -DoutputFile=maven-dependencies.list` writes them,
// "group:artifact:type[:classifier]:version:scope" (with the header line
// and any " -- module …" note it adds). It claims that file name, and any
// file whose first line is such a coordinate or that header, unless
// another format claims it by its name (PyPI's requirements claim every
// .txt file: hence .list).
type coordinateList struct{}

const coordinateListName = "maven-dependencies.list"

func (coordinateList) Format() string { return coordinateListName }

func (coordinateList) Match(name string, head []byte) registries.LockMatch {
	if strings.ToLower(filepath.Base(name)) == coordinateListName {
		return registries.ByName
	}
	text := strings.TrimSpace(string(head))
	if strings.HasPrefix(text, "The following files have been resolved:") {
		return registries.ByContent
	}
	line, _, _ := strings.Cut(text, "\n")
	if c, ok := parseCoordinate(strings.TrimSpace(line)); ok && c.valid() == nil {
		return registries.ByContent
	}
	return registries.NoMatch
}

func (coordinateList) Read(path string) ([]registries.Pin, []error, error) {
	return readLines(path, func(line string) (coordinate, bool, error) {
		if strings.HasPrefix(line, "The following files have been resolved") || strings.EqualFold(line, "none") || strings.HasPrefix(line, "#") {
			return coordinate{}, false, nil
		}
		c, ok := parseCoordinate(line)
		if !ok {
			return coordinate{}, false, fmt.Errorf("not a Maven coordinate: %q", line)
		}
		return c, true, nil
	})
}

// parseCoordinate reads g:a:v, g:a:type:v:scope or g:a:type:classifier:v:scope.
func parseCoordinate(line string) (coordinate, bool) {
	line, _, _ = strings.Cut(line, " ")
	p := strings.Split(line, ":")
	switch len(p) {
	case 3:
		return coordinate{group: p[0], artifact: p[1], version: p[2]}, true
	case 5:
		return coordinate{group: p[0], artifact: p[1], typ: p[2], version: p[3]}, true
	case 6:
		return coordinate{group: p[0], artifact: p[1], typ: p[2], classifier: p[3], version: p[4]}, true
	}
	return coordinate{}, false
}

func readLines(path string, parse func(line string) (coordinate, bool, error)) ([]registries.Pin, []error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var pins []registries.Pin
	var skipped []error
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		c, ok, err := parse(line)
		if err == nil && ok {
			err = c.valid()
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		if !ok || seen[c.String()+":"+c.typ+":"+c.classifier] {
			continue
		}
		seen[c.String()+":"+c.typ+":"+c.classifier] = true
		pins = append(pins, c.pin())
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return pins, skipped, nil
}
