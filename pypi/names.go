package pypi

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

var errBadName = errors.New("invalid project name")

// validName is the PEP 508 name grammar: ASCII letters, digits, and . _ -
// inside, starting and ending with a letter or digit. The ranges are spelled
// out: (?i) would also match the Kelvin sign (U+212A) and the long s (U+017F),
// which fold to k and s.
var validName = regexp.MustCompile(`^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$`)

var separators = regexp.MustCompile(`[-_.]+`)

// Normalize is the PEP 503 normalization: runs of - _ . become one -, and
// the name is lower-cased.
func Normalize(name string) string {
	return strings.ToLower(separators.ReplaceAllString(name, "-"))
}

// ValidateName accepts a PEP 508 project name of at most 200 characters.
func ValidateName(name string) error {
	if len(name) > 200 || !validName.MatchString(name) {
		return fmt.Errorf("%w: %q", errBadName, name)
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
