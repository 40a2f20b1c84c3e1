package pypi

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestNormalizeFollowsPEP503(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"Foo_Bar", "foo-bar"},
		{"foo.bar", "foo-bar"},
		{"a--b", "a-b"},
		{"A-_.B", "a-b"},
		{"Django", "django"},
		{"zope.interface", "zope-interface"},
		{"ruamel.yaml.clib", "ruamel-yaml-clib"},
		{"typing_extensions", "typing-extensions"},
		{"pip", "pip"},
		{"PyYAML", "pyyaml"},
		{"a___b...c---d", "a-b-c-d"},
		{"", ""},
	} {
		if got := Normalize(tc.name); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestValidateNameAcceptsPEP508NamesOnly(t *testing.T) {
	for _, tc := range []struct {
		why   string
		name  string
		valid bool
	}{
		{"a single letter is a name", "a", true},
		{"a single digit is a name", "9", true},
		{"upper case is allowed before normalization", "Django", true},
		{"underscores are allowed inside", "Foo_Bar", true},
		{"dots are allowed inside", "foo.bar", true},
		{"a run of separators is allowed inside", "a--b", true},
		{"mixed separators are allowed inside", "zope.interface_x-y", true},
		{"200 characters is the limit", strings.Repeat("a", 200), true},
		{"201 characters is too long", strings.Repeat("a", 201), false},
		{"the empty name is invalid", "", false},
		{"a leading dash is invalid", "-foo", false},
		{"a trailing dash is invalid", "foo-", false},
		{"a leading underscore is invalid", "_foo", false},
		{"a trailing dot is invalid", "foo.", false},
		{"a lone separator is invalid", ".", false},
		{"dot-dot is invalid", "..", false},
		{"a space is invalid", "foo bar", false},
		{"a slash is invalid", "foo/bar", false},
		{"a plus is invalid", "foo+bar", false},
		{"NUL is invalid", "foo\x00", false},
		{"a newline is invalid", "foo\n", false},
		{"non-ASCII letters are invalid", "föö", false},
		{"the Kelvin sign, which folds to k, is invalid", "\u212a", false},
		{"the long s, which folds to s, is invalid", "\u017fix", false},
		{"a fullwidth letter is invalid", "ａbc", false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.valid {
			t.Errorf("%s: ValidateName(%q) = %v", tc.why, tc.name, err)
		}
		if err != nil && !errors.Is(err, errBadName) {
			t.Errorf("%s: ValidateName(%q) = %v, which is not errBadName", tc.why, tc.name, err)
		}
	}
}

func TestValidateFilenameRefusesPaths(t *testing.T) {
	for _, tc := range []struct {
		why   string
		name  string
		valid bool
	}{
		{"a wheel is a file name", "foo_bar-1.0-py3-none-any.whl", true},
		{"an sdist is a file name", "foo-bar-1.0.tar.gz", true},
		{"a metadata file is a file name", "foo-1.0-py3-none-any.whl.metadata", true},
		{"a plus in a local version is allowed", "foo-1.0+local-py3-none-any.whl", true},
		{"the empty name is refused", "", false},
		{"dot is refused", ".", false},
		{"dot-dot is refused", "..", false},
		{"a hidden file is refused", ".htaccess", false},
		{"a path with a slash is refused", "../etc/passwd", false},
		{"a nested path is refused", "a/b.whl", false},
		{"a backslash is refused", `..\win.ini`, false},
		{"NUL is refused", "a\x00.whl", false},
		{"a newline is refused", "a\n.whl", false},
		{"DEL is refused", "a\x7f.whl", false},
		{"a percent sign is refused (it would be decoded again)", "a%2f.whl", false},
		{"a question mark is refused (it would start a query)", "a?.whl", false},
		{"a hash is refused (it would start a fragment)", "a#.whl", false},
		{"256 characters is too long", strings.Repeat("a", 252) + ".whl", false},
		{"a leading space is refused (HTML anchors are trimmed)", " a.whl", false},
		{"a trailing no-break space is refused", "a.whl ", false},
		{"white space only is refused", " ", false},
		{"a space inside is allowed", "a b.whl", true},
		{"non-ASCII UTF-8 is allowed", "café-1.0.tar.gz", true},
		{"invalid UTF-8 is refused (a link's %80 decodes to it)", "a\x80.whl", false},
	} {
		err := validateFilename(tc.name)
		if (err == nil) != tc.valid {
			t.Errorf("%s: validateFilename(%q) = %v", tc.why, tc.name, err)
		}
		if err != nil && !errors.Is(err, errBadFilename) {
			t.Errorf("%s: validateFilename(%q) = %v, which is not errBadFilename", tc.why, tc.name, err)
		}
	}
}

func TestVersionFromFilenameReadsWheelsAndSdists(t *testing.T) {
	for _, tc := range []struct {
		why, project, filename, want string
	}{
		{"a wheel's version is its second field", "foo", "foo-1.0-py3-none-any.whl", "1.0"},
		{"a wheel with a build tag still has the version second", "foo", "foo-1.0-1-py3-none-any.whl", "1.0"},
		{"a wheel of a dashed name uses underscores", "foo-bar", "foo_bar-2.0.1-cp312-cp312-manylinux_2_17_x86_64.whl", "2.0.1"},
		{"a wheel with too few fields has no version", "foo", "foo-1.0.whl", ""},
		{"an sdist's version follows the name", "foo", "foo-1.0.tar.gz", "1.0"},
		{"an sdist whose name has dashes is matched by normalized name", "foo-bar", "foo-bar-1.0.tar.gz", "1.0"},
		{"an sdist whose name has underscores is matched by normalized name", "foo-bar", "foo_bar-1.0.tar.gz", "1.0"},
		{"an sdist named with dots is matched by normalized name", "zope-interface", "zope.interface-5.4.0.tar.gz", "5.4.0"},
		{"an sdist in upper case is matched by normalized name", "django", "Django-4.2.tar.gz", "4.2"},
		{"an sdist with a dashed pre-release keeps it", "foo", "foo-1.0-rc1.tar.gz", "1.0-rc1"},
		{"a zip sdist", "foo", "foo-1.0.zip", "1.0"},
		{"a bzip2 sdist", "foo", "foo-1.0.tar.bz2", "1.0"},
		{"an sdist of another name falls back to the last dash", "foo", "bar-baz-3.1.tar.gz", "3.1"},
		{"an unknown extension has no version", "foo", "foo-1.0.exe", ""},
		{"a metadata file has no version", "foo", "foo-1.0-py3-none-any.whl.metadata", ""},
		{"an sdist without a dash has no version", "foo", "foo.tar.gz", ""},
	} {
		if got := versionFromFilename(tc.project, tc.filename); got != tc.want {
			t.Errorf("%s: versionFromFilename(%q, %q) = %q, want %q", tc.why, tc.project, tc.filename, got, tc.want)
		}
	}
}

var normalizedName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// The grammars as the PEPs write them, which the hand-written checks must
// agree with. PEP 508, with the ranges spelled out (see ValidateName):
var pep508Name = regexp.MustCompile(`^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$`)

// PEP 503's normalization.
func pep503(name string) string {
	return strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(name, "-"))
}

// FuzzNormalize checks that normalization is idempotent and that a valid
// name stays valid, ASCII and in the normalized alphabet.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"Foo_Bar", "foo.bar", "a--b", "-a-", "\u212a", "\u017fix", "ÀB", "a\xffb", strings.Repeat("a_", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n := Normalize(name)
		if want := pep503(name); n != want {
			t.Fatalf("Normalize(%q) = %q, PEP 503 says %q", name, n, want)
		}
		if again := Normalize(n); again != n {
			t.Fatalf("Normalize is not idempotent: %q -> %q -> %q", name, n, again)
		}
		if ValidateName(name) != nil {
			return
		}
		if err := ValidateName(n); err != nil {
			t.Fatalf("ValidateName(%q) holds but ValidateName(Normalize) = %v", name, err)
		}
		if !normalizedName.MatchString(n) || len(n) > len(name) {
			t.Fatalf("valid name %q normalizes to %q, outside [a-z0-9-]", name, n)
		}
	})
}

// FuzzValidateName checks that a name ValidateName accepts is safe to use
// as a path segment, a storage key and a URL path.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a", "Foo_Bar", "..", "a/b", "a%2fb", "\u212a", strings.Repeat("z", 201)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := ValidateName(name) == nil, len(name) <= 200 && pep508Name.MatchString(name); got != want {
			t.Fatalf("ValidateName(%q) accepts: %v, PEP 508: %v", name, got, want)
		}
		if ValidateName(name) != nil {
			return
		}
		if len(name) > 200 {
			t.Fatalf("ValidateName accepted %d characters", len(name))
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
				t.Fatalf("ValidateName accepted %q, with byte %q", name, c)
			}
		}
		if strings.Trim(name, "-_.") != name {
			t.Fatalf("ValidateName accepted %q, which starts or ends with a separator", name)
		}
		if validateFilename(name) != nil {
			t.Fatalf("ValidateName accepted %q, which is not even a valid file name", name)
		}
	})
}
