package pypi

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/larder-mirror/larder/registries"
)

var errBadName = errors.New("invalid project name")

var separators = regexp.MustCompile(`[-_.]+`)

// Normalize is the PEP 503 normalization: runs of - _ . become one -, and
// the name is lower-cased.
func Normalize(name string) string {
	if isNormalized(name) {
		return name // every request for a page: no regexp, no copy
	}
	return strings.ToLower(separators.ReplaceAllString(name, "-"))
}

// isNormalized says Normalize would return name unchanged.
func isNormalized(name string) bool {
	dash := false
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			dash = false
		case c == '-' && !dash:
			dash = true
		default:
			return false
		}
	}
	return true
}

// ValidateName accepts a PEP 508 project name of at most 200 characters:
// ASCII letters, digits, and . _ - inside, starting and ending with a
// letter or digit. Bytes are compared, never folded: a case-insensitive
// match would also take the Kelvin sign (U+212A) and the long s (U+017F).
func ValidateName(name string) error {
	if name == "" || len(name) > 200 || !registries.IsAlnum(name[0]) || !registries.IsAlnum(name[len(name)-1]) {
		return fmt.Errorf("%w: %q", errBadName, name)
	}
	for i := 1; i < len(name)-1; i++ {
		if c := name[i]; !registries.IsAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w: %q", errBadName, name)
		}
	}
	return nil
}

var errBadFilename = errors.New("invalid file name")

// validateFilename accepts what a distribution file name may be: UTF-8,
// never a path, and never with white space around it (an HTML page trims the
// anchor's text, so such a name would not survive a round trip).
func validateFilename(name string) error {
	if name == "" || len(name) > 255 || name == "." || name == ".." || strings.HasPrefix(name, ".") ||
		strings.TrimSpace(name) != name || !utf8.ValidString(name) {
		return fmt.Errorf("%w: %q", errBadFilename, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '?' || c == '#' || c == '%' {
			return fmt.Errorf("%w: %q", errBadFilename, name)
		}
	}
	return nil
}

// versionFromFilename reads the version out of a wheel
// (name-version-tags.whl) or an sdist (name-version.tar.gz, .zip); "" when it
// cannot tell.
func versionFromFilename(project, filename string) string {
	if strings.HasSuffix(filename, ".whl") {
		parts := strings.Split(strings.TrimSuffix(filename, ".whl"), "-")
		if len(parts) >= 5 {
			return parts[1]
		}
		return ""
	}
	stem := ""
	for _, ext := range []string{".tar.gz", ".zip", ".tar.bz2", ".tgz", ".egg"} {
		if strings.HasSuffix(filename, ext) {
			stem = strings.TrimSuffix(filename, ext)
			break
		}
	}
	if stem == "" {
		return ""
	}
	// The name part may itself contain dashes: match it normalized.
	want := Normalize(project)
	for i := 0; i < len(stem); i++ {
		if stem[i] == '-' && Normalize(stem[:i]) == want {
			return stem[i+1:]
		}
	}
	if i := strings.LastIndexByte(stem, '-'); i > 0 {
		return stem[i+1:]
	}
	return ""
}
