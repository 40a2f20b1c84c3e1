package npm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

// maxNameLength is npm's limit on a package name, scope included.
const maxNameLength = 214

// errBadName is wrapped by every name validation error.
var errBadName = errors.New("invalid package name")

// ValidateName applies the rules npm enforces on publish
// (validate-npm-package-name), relaxed where old packages break them: upper
// case letters are allowed (JSONStream). What a name may never contain is
// what could escape a path or a URL.
func ValidateName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", errBadName, name, why) }
	if name == "" {
		return bad("empty")
	}
	if len(name) > maxNameLength {
		return bad(fmt.Sprintf("longer than %d characters", maxNameLength))
	}
	base := name
	if strings.HasPrefix(name, "@") {
		scope, rest, ok := strings.Cut(name[1:], "/")
		if !ok || scope == "" || rest == "" {
			return bad("a scoped name is @scope/name")
		}
		if err := validPart(scope); err != nil {
			return bad("scope " + err.Error())
		}
		base = rest
	}
	if err := validPart(base); err != nil {
		return bad(err.Error())
	}
	switch strings.ToLower(base) {
	case "node_modules", "favicon.ico":
		return bad("reserved")
	}
	return nil
}

func validPart(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	if s[0] == '.' || s[0] == '_' {
		return errors.New("starts with . or _")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!*'()", c) >= 0:
		default:
			return fmt.Errorf("has the character %q", c)
		}
	}
	return nil
}

// validVersionOrTag accepts what may follow a name in a version document's
// path: a semver version or a dist-tag; never a path separator.
func validVersionOrTag(s string) bool {
	if s == "" || len(s) > 256 || !registries.IsAlnum(s[0]) {
		return false // versions start with a digit (or v), tags with a letter
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._+~", c) >= 0) {
			return false
		}
	}
	return true
}

// basename is a package's name without its scope, as in tarball file names.
func basename(name string) string {
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// escapeName is the name as the registry expects it in a URL path:
// "@scope%2fname" for scoped packages.
func escapeName(name string) string {
	if scope, rest, ok := strings.Cut(name, "/"); ok {
		return scope + "%2f" + url.PathEscape(rest)
	}
	return url.PathEscape(name)
}

// route is what a request path under the mount asks for.
type route struct {
	kind    routeKind
	name    string // package name, "@scope/name" for scoped ones
	version string // version or dist-tag, for kindVersion
	file    string // tarball file name, for kindTarball
	rest    string // for kindEndpoint: the path after "-/"
}

type routeKind int

const (
	kindPackument routeKind = iota
	kindVersion
	kindTarball
	kindEndpoint // "/-/..." registry-wide endpoints
)

// parseRoute reads an escaped request path (without the mount prefix and
// leading slash). Scoped names arrive as "@scope/name", "@scope%2fname" and
// "@scope%2Fname"; all three give the same route.
func parseRoute(escaped string) (route, error) {
	if strings.HasPrefix(escaped, "-/") {
		return route{kind: kindEndpoint, rest: escaped[2:]}, nil
	}
	if strings.HasPrefix(escaped, "@") {
		// Only the separator after the scope may be encoded.
		// Not strings.ToLower: it may change the length of non-ASCII text,
		// and the index must be one into escaped itself.
		if i := indexEscapedSlash(escaped); i >= 0 && !strings.Contains(escaped[:i], "/") {
			escaped = escaped[:i] + "/" + escaped[i+3:]
		}
	}
	segs := strings.Split(escaped, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return route{}, fmt.Errorf("%w: bad escape in %q", errBadName, escaped)
		}
		if strings.ContainsAny(u, "/\\\x00") {
			return route{}, fmt.Errorf("%w: %q", errBadName, u)
		}
		segs[i] = u
	}
	var r route
	n := 1
	if strings.HasPrefix(segs[0], "@") {
		n = 2
	}
	if len(segs) < n {
		return route{}, fmt.Errorf("%w %q: a scoped name is @scope/name", errBadName, segs[0])
	}
	r.name = strings.Join(segs[:n], "/")
	if err := ValidateName(r.name); err != nil {
		return route{}, err
	}
	rest := segs[n:]
	if len(rest) > 0 && rest[len(rest)-1] == "" {
		rest = rest[:len(rest)-1] // a trailing slash
	}
	switch {
	case len(rest) == 0:
		r.kind = kindPackument
	case len(rest) == 1 && validVersionOrTag(rest[0]):
		r.kind, r.version = kindVersion, rest[0]
	case len(rest) == 2 && rest[0] == "-" && strings.HasSuffix(rest[1], ".tgz"):
		r.kind, r.file = kindTarball, rest[1]
		if _, ok := tarballVersion(r.name, r.file); !ok {
			return route{}, fmt.Errorf("%w: tarball %q does not belong to %s", errBadName, r.file, r.name)
		}
	default:
		return route{}, fmt.Errorf("%w: no such path under %s", errBadName, r.name)
	}
	return r, nil
}

// tarballVersion reads the version out of "name-1.2.3.tgz".
func tarballVersion(name, file string) (string, bool) {
	prefix := basename(name) + "-"
	if !strings.HasPrefix(file, prefix) || !strings.HasSuffix(file, ".tgz") {
		return "", false
	}
	v := strings.TrimSuffix(file[len(prefix):], ".tgz")
	return v, validVersionOrTag(v)
}

// tarballPath is the conventional path of a version's tarball under the
// mount: "name/-/name-1.2.3.tgz", "@scope/name/-/name-1.2.3.tgz". pnpm and
// yarn berry keep lockfiles host-free only for this form.
func tarballPath(name, version string) string {
	return name + "/-/" + basename(name) + "-" + version + ".tgz"
}

func jsonMarshalString(s string) ([]byte, error) { return json.Marshal(s) }

// indexEscapedSlash finds the first "%2f" or "%2F" in s, or -1.
func indexEscapedSlash(s string) int {
	lower, upper := strings.Index(s, "%2f"), strings.Index(s, "%2F")
	switch {
	case lower < 0:
		return upper
	case upper < 0 || lower < upper:
		return lower
	}
	return upper
}
