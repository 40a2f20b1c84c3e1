package rubygems

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The compact index's formats (https://guides.rubygems.org/rubygems-org-compact-index-api/,
// and bundler's reader, Bundler::CompactIndexClient::Cache):
//
//	/versions      a preamble ("created_at: …"), a line "---", then lines
//	               "NAME V1,V2-PLATFORM,-V3 MD5": the versions added (or,
//	               prefixed "-", yanked) and the MD5 of NAME's info file as
//	               it now is; a name may come on several lines, the last
//	               one's MD5 counts. Only appended to between rebuilds.
//	/info/NAME     "---", then a line per version and platform:
//	               "V[-PLATFORM] DEP:REQ&REQ,DEP:REQ|checksum:SHA256HEX,ruby:REQ,rubygems:REQ"
//	/names         "---", then a name a line.

var (
	// A gem's name as rubygems.org accepts it (Gem::Specification's
	// VALID_NAME_PATTERN).
	namePattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	// A version as the compact index writes it: Gem::Version's pattern,
	// without the "-" that the index uses to set the platform apart.
	versionPattern = regexp.MustCompile(`^[0-9]+(\.[0-9A-Za-z]+)*$`)
	// A platform ("java", "x86_64-linux", "arm64-darwin-21").
	platformPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)
	hexSHA256       = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func validName(name string) bool {
	return len(name) <= 255 && namePattern.MatchString(name) && strings.Trim(name, ".") != ""
}

// splitRelease splits "1.0.0-x86_64-linux" into the version and the
// platform ("" for a pure-Ruby gem), as bundler does.
func splitRelease(release string) (version, platform string, ok bool) {
	version, platform, _ = strings.Cut(release, "-")
	if !versionPattern.MatchString(version) {
		return "", "", false
	}
	if platform != "" && !platformPattern.MatchString(platform) {
		return "", "", false
	}
	return version, platform, true
}

// fileCandidates reads a file's stem ("rack-2.2.8", "nokogiri-1.15.0-x86_64-linux")
// as a gem's name and release. A name may hold "-" and digits, so a stem
// can read several ways ("a-1.0-b-2.0" is a 1.0 of a for platform b-2.0,
// or a 2.0 of a-1.0-b); every reading is returned, the shortest name
// first. Only the gem's info file can tell which is meant.
func fileCandidates(stem string) []release {
	var out []release
	for i := 0; i < len(stem); i++ {
		if stem[i] != '-' || i+1 >= len(stem) || stem[i+1] < '0' || stem[i+1] > '9' {
			continue
		}
		name, rel := stem[:i], stem[i+1:]
		if _, _, ok := splitRelease(rel); ok && validName(name) {
			out = append(out, release{name: name, release: rel})
		}
	}
	return out
}

// release is one version and platform of a gem.
type release struct{ name, release string }

func (r release) gemPath() string  { return gemPath(r.name, r.release) }
func (r release) specPath() string { return specPath(r.name, r.release) }

// gemPath is where a release's .gem is, below the mount and upstream.
func gemPath(name, rel string) string { return "gems/" + name + "-" + rel + ".gem" }

// specPath is where a release's gemspec (Marshal, deflated) is, for gem.
func specPath(name, rel string) string {
	return "quick/Marshal.4.8/" + name + "-" + rel + ".gemspec.rz"
}

// infoLine is one version line of an info file.
type infoLine struct {
	release  string // "1.0.0" or "1.0.0-java"
	checksum string // the .gem's sha256, hex; "" when the line declares none
	deps     []dependency
	ruby     string // required_ruby_version, "" when none
}

type dependency struct{ name, requirement string }

// info is an info file read.
type info struct {
	lines []infoLine
}

// parseInfo reads an info file; an error says what is wrong with it.
func parseInfo(body []byte) (info, error) {
	var inf info
	rest, err := afterPreamble(body)
	if err != nil {
		return inf, err
	}
	for n, raw := range strings.Split(string(rest), "\n") {
		if raw == "" {
			continue
		}
		l, err := parseInfoLine(raw)
		if err != nil {
			return inf, fmt.Errorf("line %d after ---: %v", n+1, err)
		}
		inf.lines = append(inf.lines, l)
	}
	return inf, nil
}

func parseInfoLine(raw string) (infoLine, error) {
	rel, rest, _ := strings.Cut(raw, " ")
	if _, _, ok := splitRelease(rel); !ok {
		return infoLine{}, fmt.Errorf("%s is not a version", quote(rel))
	}
	l := infoLine{release: rel}
	deps, reqs, _ := strings.Cut(rest, "|")
	for _, d := range strings.Split(deps, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		name, req, _ := strings.Cut(d, ":")
		l.deps = append(l.deps, dependency{name: name, requirement: strings.ReplaceAll(req, "&", ", ")})
	}
	for _, r := range strings.Split(reqs, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(r), ":")
		switch k {
		case "checksum":
			if !hexSHA256.MatchString(v) {
				return infoLine{}, fmt.Errorf("%s: checksum %s is not a sha256 in hex", rel, quote(v))
			}
			l.checksum = v
		case "ruby":
			l.ruby = strings.ReplaceAll(v, "&", ", ")
		}
	}
	return l, nil
}

// afterPreamble is what follows the line "---".
func afterPreamble(body []byte) ([]byte, error) {
	if bytes.HasPrefix(body, []byte("---\n")) {
		return body[4:], nil
	}
	if i := bytes.Index(body, []byte("\n---\n")); i >= 0 {
		return body[i+5:], nil
	}
	if bytes.Equal(body, []byte("---")) || bytes.HasSuffix(body, []byte("\n---")) {
		return nil, nil
	}
	return nil, errors.New(`no line "---"`)
}

// keepReleases is an info file with only the version lines keep accepts,
// each as it was, byte for byte, and the preamble as it was.
func keepReleases(body []byte, keep func(release string) bool) []byte {
	rest, err := afterPreamble(body)
	if err != nil {
		return body
	}
	out := append([]byte(nil), body[:len(body)-len(rest)]...)
	for _, raw := range bytes.SplitAfter(rest, []byte("\n")) {
		rel, _, _ := bytes.Cut(bytes.TrimSuffix(raw, []byte("\n")), []byte(" "))
		if len(rel) > 0 && keep(string(rel)) {
			out = append(out, raw...)
		}
	}
	return out
}

// checkVersions accepts a /versions file: a preamble, "---", then lines
// of a name, versions and an MD5.
func checkVersions(body []byte) error {
	rest, err := afterPreamble(body)
	if err != nil {
		return err
	}
	for n, raw := range strings.Split(string(rest), "\n") {
		if raw == "" {
			continue
		}
		f := strings.Fields(raw)
		if len(f) < 2 || len(f) > 3 || !validName(f[0]) {
			return fmt.Errorf("line %d after ---: %s is not \"NAME VERSIONS MD5\"", n+1, quote(raw))
		}
	}
	return nil
}

// checkNames accepts /names: "---", then a gem's name a line.
func checkNames(body []byte) error {
	rest, err := afterPreamble(body)
	if err != nil {
		return err
	}
	for n, raw := range strings.Split(string(rest), "\n") {
		if raw != "" && !validName(raw) {
			return fmt.Errorf("line %d after ---: %s is not a gem's name", n+1, quote(raw))
		}
	}
	return nil
}

// etagOf is a compact index file's ETag: the MD5 of its bytes, in hex,
// quoted, as rubygems.org sends it; bundler 2.3 and older refuse a file
// whose ETag is anything else, and /versions lists the same MD5 of each
// info file.
func etagOf(body []byte) string { return `"` + md5Hex(body) + `"` }

func md5Hex(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return fmt.Sprintf("%q", s)
}
