package npm

import (
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures' digests are made up: "sha512-" of the bytes "fixture
// name@version" (or "sha1-" where a lockfile records sha1), so that each
// package has its own, and the test can say which one it expects.
func lockSRI(id string) string {
	sum := sha512.Sum512([]byte("fixture " + id))
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

func lockSHA1(id string) string {
	sum := sha1.Sum([]byte("fixture " + id))
	return "sha1-" + base64.StdEncoding.EncodeToString(sum[:])
}

func lockSHA1Hex(id string) string {
	sum := sha1.Sum([]byte("fixture " + id))
	return hex.EncodeToString(sum[:])
}

// locked is a wanted package; integrity "" means the lockfile has none.
func locked(name, version, integrity string) LockedPackage {
	return LockedPackage{Name: name, Version: version, Integrity: integrity}
}

// signed is a wanted package with the fixture's sha512 for it.
func signed(name, version string) LockedPackage {
	return locked(name, version, lockSRI(name+"@"+version))
}

func TestReadLockfileReadsEveryFormat(t *testing.T) {
	tests := []struct {
		name       string
		file       string // under testdata/lockfiles
		want       []LockedPackage
		notFromReg []string // substrings of the ErrNotFromRegistry errors
	}{
		{
			name: "package-lock v1 nests dependencies, resolves aliases, skips bundled and file deps",
			file: "npm-v1/package-lock.json",
			want: []LockedPackage{
				signed("@babel/code-frame", "7.12.13"),
				signed("@babel/highlight", "7.13.10"),
				signed("debug", "2.6.9"),
				signed("express", "4.17.1"),
				signed("fsevents", "1.2.13"),
				signed("js-tokens", "4.0.0"),
				locked("ms", "2.0.0", lockSHA1("ms@2.0.0")),
				signed("ms", "2.1.3"),
				signed("string-width", "4.2.3"),
			},
			notFromReg: []string{"left-pad"},
		},
		{
			name: "package-lock v2 reads packages, nested scoped paths and aliases, skips links and workspaces",
			file: "npm-v2/package-lock.json",
			want: []LockedPackage{
				signed("@sindresorhus/is", "4.6.0"),
				signed("@types/node", "18.11.9"),
				signed("ms", "2.0.0"),
				signed("ms", "2.1.3"),
				signed("send", "0.18.0"),
				signed("string-width", "4.2.3"),
			},
		},
		{
			name: "package-lock v3 skips bundled entries and reports git dependencies",
			file: "npm-v3/package-lock.json",
			want: []LockedPackage{
				signed("@aws-sdk/client-s3", "3.450.0"),
				signed("@smithy/types", "2.5.0"),
				signed("@smithy/types", "2.6.0"),
				signed("npm-bundled-dep", "1.0.1"),
				signed("tslib", "2.6.2"),
				signed("typescript", "5.3.0-beta"),
			},
			notFromReg: []string{"left-pad"},
		},
		{
			name: "npm-shrinkwrap reads as a package-lock",
			file: "shrinkwrap/npm-shrinkwrap.json",
			want: []LockedPackage{signed("commander", "11.1.0")},
		},
		{
			name: "yarn classic merges patterns, reads aliases and turns a sha1 fragment into SRI",
			file: "yarn-classic/yarn.lock",
			want: []LockedPackage{
				signed("@babel/code-frame", "7.12.13"),
				signed("@babel/highlight", "7.13.10"),
				signed("chalk", "2.4.2"),
				locked("escape-string-regexp", "1.0.5", lockSHA1("escape-string-regexp@1.0.5")),
				signed("fsevents", "2.3.3"),
				signed("js-tokens", "4.0.0"),
				signed("string-width", "4.2.3"),
			},
			notFromReg: []string{"left-pad"},
		},
		{
			name: "yarn berry reads npm, virtual and patch resolutions and ignores its checksums",
			file: "yarn-berry/yarn.lock",
			want: []LockedPackage{
				locked("@babel/code-frame", "7.22.13", ""),
				locked("fsevents", "2.3.3", ""),
				locked("lodash", "4.17.21", ""),
				locked("react", "18.2.0", ""),
				locked("react-dom", "18.2.0", ""),
				locked("resolve", "1.22.8", ""),
				locked("string-width", "4.2.3", ""),
			},
			notFromReg: []string{"left-pad"},
		},
		{
			name: "pnpm 5.4 reads slash keys and strips peer suffixes",
			file: "pnpm-v5.4/pnpm-lock.yaml",
			want: []LockedPackage{
				signed("@babel/core", "7.20.12"),
				signed("@testing-library/react-hooks", "8.0.1"),
				signed("js-tokens", "4.0.0"),
				signed("loose-envify", "1.4.0"),
				signed("react", "18.2.0"),
				signed("react-dom", "18.2.0"),
				signed("scheduler", "0.23.0"),
			},
			notFromReg: []string{"private-pkg"},
		},
		{
			name: "pnpm 6.0 reads name@version keys with peer parentheses",
			file: "pnpm-v6.0/pnpm-lock.yaml",
			want: []LockedPackage{
				signed("@emotion/react", "11.11.1"),
				signed("@types/react", "18.2.21"),
				signed("csstype", "3.1.2"),
				signed("hoist-non-react-statics", "3.3.2"),
				signed("js-tokens", "4.0.0"),
				signed("loose-envify", "1.4.0"),
				signed("react", "18.2.0"),
				locked("react-is", "16.13.1", lockSHA1("react-is@16.13.1")),
			},
			notFromReg: []string{"tiny-lib"},
		},
		{
			name: "pnpm 9.0 reads keys without a slash and reports remote tarballs",
			file: "pnpm-v9.0/pnpm-lock.yaml",
			want: []LockedPackage{
				signed("@tanstack/query-core", "5.8.3"),
				signed("@tanstack/react-query", "5.8.4"),
				signed("js-tokens", "4.0.0"),
				signed("loose-envify", "1.4.0"),
				signed("react", "18.2.0"),
				signed("react-dom", "18.2.0"),
				signed("scheduler", "0.23.0"),
				signed("typescript", "5.3.2"),
			},
			notFromReg: []string{"internal-tarball"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs, err := ReadLockfile(filepath.Join("testdata", "lockfiles", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if d := diffLocked(got, tt.want); d != "" {
				t.Error(d)
			}
			var notFromReg []string
			for _, e := range errs {
				if !errors.Is(e, ErrNotFromRegistry) {
					t.Errorf("unexpected error: %v", e)
					continue
				}
				notFromReg = append(notFromReg, e.Error())
			}
			if len(notFromReg) != len(tt.notFromReg) {
				t.Errorf("errors %q, want one ErrNotFromRegistry for each of %q", notFromReg, tt.notFromReg)
			}
			for i := range min(len(notFromReg), len(tt.notFromReg)) {
				if !strings.Contains(notFromReg[i], tt.notFromReg[i]) {
					t.Errorf("error %q does not name %s", notFromReg[i], tt.notFromReg[i])
				}
			}
		})
	}
}

func diffLocked(got, want []LockedPackage) string {
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		var g, w LockedPackage
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g.Name != w.Name || g.Version != w.Version || g.Integrity != w.Integrity {
			b.WriteString("\n  got  " + g.Name + "@" + g.Version + " " + g.Integrity)
			b.WriteString("\n  want " + w.Name + "@" + w.Version + " " + w.Integrity)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "packages differ:" + b.String()
}

func TestReadLockfileKeepsTheResolvedURL(t *testing.T) {
	tests := []struct {
		name, file, pkg, resolved string
	}{
		{"package-lock", "npm-v2/package-lock.json", "send",
			"https://registry.npmjs.org/send/-/send-0.18.0.tgz"},
		{"yarn classic, fragment included", "yarn-classic/yarn.lock", "chalk",
			"https://registry.yarnpkg.com/chalk/-/chalk-2.4.2.tgz#" + lockSHA1Hex("chalk@2.4.2")},
		{"pnpm, from a tarball resolution", "pnpm-v9.0/pnpm-lock.yaml", "scheduler",
			"https://npm.example.com/scheduler/-/scheduler-0.23.0.tgz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ReadLockfile(filepath.Join("testdata", "lockfiles", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range got {
				if p.Name != tt.pkg {
					continue
				}
				if p.Resolved != tt.resolved {
					t.Errorf("%s resolved %q, want %q", p.Name, p.Resolved, tt.resolved)
				}
				return
			}
			t.Errorf("%s not found", tt.pkg)
		})
	}
}

func TestLockedPackageTarballPathIsConventional(t *testing.T) {
	tests := []struct {
		p    LockedPackage
		want string
	}{
		{LockedPackage{Name: "lodash", Version: "4.17.21"}, "lodash/-/lodash-4.17.21.tgz"},
		{LockedPackage{Name: "@babel/core", Version: "7.20.12"}, "@babel/core/-/core-7.20.12.tgz"},
		{LockedPackage{Name: "typescript", Version: "5.3.0-beta"}, "typescript/-/typescript-5.3.0-beta.tgz"},
	}
	for _, tt := range tests {
		if got := tt.p.TarballPath(); got != tt.want {
			t.Errorf("TarballPath(%s@%s) = %q, want %q", tt.p.Name, tt.p.Version, got, tt.want)
		}
	}
}

func TestParseLockfileRejectsHostileEntries(t *testing.T) {
	tests := []struct {
		name string
		file string
		data string
		want []string // names that must come out; everything else is an error
		errs int
	}{
		{
			name: "package-lock v3 with a traversal in the install path",
			file: "package-lock.json",
			data: `{"lockfileVersion": 3, "packages": {
				"": {"name": "x"},
				"node_modules/../../etc/passwd": {"version": "1.0.0"},
				"node_modules/ok": {"version": "1.0.0"}}}`,
			want: []string{"ok"},
			errs: 1,
		},
		{
			name: "package-lock v3 with a traversal in the name field",
			file: "package-lock.json",
			data: `{"lockfileVersion": 3, "packages": {
				"node_modules/innocent": {"name": "@x/../../y", "version": "1.0.0"},
				"node_modules/a/node_modules/@s/b": {"name": "@s/b/../../../c", "version": "1.0.0"}}}`,
			errs: 2,
		},
		{
			name: "package-lock v3 with a traversal in the version",
			file: "package-lock.json",
			data: `{"lockfileVersion": 3, "packages": {
				"node_modules/a": {"version": "1.0.0/../../../x"},
				"node_modules/b": {"version": "../1.0.0"},
				"node_modules/c": {"version": "^1.0.0"}}}`,
			errs: 3,
		},
		{
			name: "package-lock v1 with a traversal in a key and in an alias",
			file: "npm-shrinkwrap.json",
			data: `{"lockfileVersion": 1, "dependencies": {
				"../../etc/passwd": {"version": "1.0.0"},
				"alias": {"version": "npm:@x/../../y@1.0.0"},
				"good": {"version": "2.0.0", "dependencies": {"..": {"version": "1.0.0"}}}}}`,
			want: []string{"good"},
			errs: 3,
		},
		{
			name: "package-lock entries of the wrong type are errors, not a failed file",
			file: "package-lock.json",
			data: `{"lockfileVersion": 3, "packages": {
				"node_modules/a": {"version": 1},
				"node_modules/b": "1.0.0",
				"node_modules/c": {"version": "1.0.0"}}}`,
			want: []string{"c"},
			errs: 2,
		},
		{
			name: "malformed and conflicting integrity",
			file: "package-lock.json",
			data: `{"lockfileVersion": 3, "packages": {
				"node_modules/a": {"version": "1.0.0", "integrity": "sha512-not base64!"},
				"node_modules/b": {"version": "1.0.0", "integrity": "nodash"},
				"node_modules/c": {"version": "1.0.0", "integrity": "sha512-AAAA"},
				"node_modules/x/node_modules/c": {"version": "1.0.0", "integrity": "sha512-BBBB"}}}`,
			want: []string{"c"},
			errs: 3,
		},
		{
			name: "yarn classic with traversals in the pattern",
			file: "yarn.lock",
			data: "# yarn lockfile v1\n\n\"../../etc/passwd@^1.0.0\":\n  version \"1.0.0\"\n\n" +
				"\"@x/../../y@^1.0.0\":\n  version \"1.0.0\"\n\n" +
				"\"a@npm:../b@^1\":\n  version \"1.0.0\"\n\n" +
				"ok@^1:\n  version \"1.0.0/../../x\"\n",
			errs: 4,
		},
		{
			name: "yarn berry with traversals in resolutions",
			file: "yarn.lock",
			data: "__metadata:\n  version: 8\n\n" +
				"\"a@npm:^1\":\n  version: 1.0.0\n  resolution: \"../../etc/passwd@npm:1.0.0\"\n\n" +
				"\"b@npm:^1\":\n  version: 1.0.0\n  resolution: \"@x/../../y@npm:1.0.0\"\n\n" +
				"\"c@npm:^1\":\n  version: 1.0.0\n  resolution: \"c@npm:../../1.0.0\"\n\n" +
				"\"d@npm:^1\":\n  version: 1.0.0\n  resolution: \"d@patch:..%2F..%2Fe@npm%3A1.0.0#x\"\n\n" +
				"\"e@npm:^1\": not a mapping\n",
			errs: 5,
		},
		{
			name: "pnpm with traversals in keys and fields",
			file: "pnpm-lock.yaml",
			data: "lockfileVersion: '9.0'\n\npackages:\n\n" +
				"  ../../etc/passwd@1.0.0:\n    resolution: {integrity: sha512-AAAA}\n\n" +
				"  '@x/../../y@1.0.0':\n    resolution: {integrity: sha512-AAAA}\n\n" +
				"  innocent@1.0.0:\n    name: ../evil\n    version: 1.0.0\n    resolution: {integrity: sha512-AAAA}\n\n" +
				"  fine@1.0.0:\n    resolution: {integrity: sha512-AAAA}\n",
			want: []string{"fine"},
			errs: 3,
		},
		{
			name: "pnpm 5 with a traversal in the key",
			file: "pnpm-lock.yaml",
			data: "lockfileVersion: 5.4\n\npackages:\n\n" +
				"  /../../etc/1.0.0:\n    resolution: {integrity: sha512-AAAA}\n\n" +
				"  /@x/../../y/1.0.0:\n    resolution: {integrity: sha512-AAAA}\n",
			errs: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs, err := ParseLockfile(tt.file, []byte(tt.data))
			if err != nil {
				t.Fatalf("a hostile entry failed the whole file: %v", err)
			}
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
				if strings.Contains(p.TarballPath(), "..") {
					t.Errorf("%s@%s gives the path %q", p.Name, p.Version, p.TarballPath())
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("packages %q, want %q", names, tt.want)
			}
			if len(errs) != tt.errs {
				t.Errorf("%d errors, want %d:", len(errs), tt.errs)
				for _, e := range errs {
					t.Log(e)
				}
			}
		})
	}
}

func TestParseLockfileFailsOnWhatIsNotALockfile(t *testing.T) {
	tests := []struct {
		name, file, data string
	}{
		{"a package-lock that is not JSON", "package-lock.json", "<html>502 Bad Gateway</html>"},
		{"a truncated package-lock", "package-lock.json", `{"lockfileVersion": 3, "packages": {"node_modules/a": {"vers`},
		{"a JSON document without lockfileVersion", "package-lock.json", `{"name": "x", "dependencies": {}}`},
		{"a truncated pnpm lockfile", "pnpm-lock.yaml", "lockfileVersion: '9.0'\n\npackages:\n\n  'react@18.2.0:\n    resolution: {integrity: sha512-"},
		{"a pnpm lockfile that is not YAML", "pnpm-lock.yaml", "lockfileVersion: '9.0'\npackages: [\n"},
		{"a pnpm lockfile without lockfileVersion", "pnpm-lock.yaml", "packages: {}\n"},
		{"a truncated yarn berry lockfile", "yarn.lock", "__metadata:\n  version: 8\n\n\"react@npm:^18.2.0\":\n  version: 18.2.0\n  resolution: \"react@npm:18"},
		{"a yarn classic lockfile with a broken line", "yarn.lock", "# yarn lockfile v1\n\nreact@^18\n  version \"18.2.0\"\n"},
		{"a yarn classic lockfile with an unterminated quote", "yarn.lock", "# yarn lockfile v1\n\n\"react@^18:\n  version \"18.2.0\"\n"},
		{"an unknown file", "Gemfile.lock", "GEM\n  remote: https://rubygems.org/\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs, err := ParseLockfile(tt.file, []byte(tt.data))
			if err == nil {
				t.Errorf("no error; got %v, %v", got, errs)
			}
		})
	}
}

func TestParseLockfileDetectsTheFormatOfAnUnknownName(t *testing.T) {
	for _, file := range []string{"npm-v3/package-lock.json", "yarn-classic/yarn.lock", "yarn-berry/yarn.lock", "pnpm-v9.0/pnpm-lock.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", "lockfiles", file))
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := ParseLockfile(path.Base(file), data)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := ParseLockfile("renamed.lock", data)
		if err != nil {
			t.Errorf("%s renamed: %v", file, err)
			continue
		}
		if d := diffLocked(got, want); d != "" {
			t.Errorf("%s renamed: %s", file, d)
		}
	}
}

func TestReadLockfileRefusesWhatIsNotAFile(t *testing.T) {
	if _, _, err := ReadLockfile(t.TempDir()); err == nil {
		t.Error("a directory read as a lockfile")
	}
	if _, _, err := ReadLockfile(filepath.Join(t.TempDir(), "package-lock.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want ErrNotExist", err)
	}
}

func FuzzParseLockfile(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "lockfiles", "*", "*"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Base(file), data)
	}
	f.Add("package-lock.json", []byte(`{"lockfileVersion":1,"dependencies":{"a":{"version":"npm:@s/b@1.0.0","dependencies":{"c":{"version":"1.0.0"}}}}}`))
	f.Add("yarn.lock", []byte("# yarn lockfile v1\n\n\"@s/a@npm:b@^1\", c@2:\n  version \"1.0.0\"\n  resolved \"https://r/b/-/b-1.0.0.tgz#0123456789abcdef0123456789abcdef01234567\"\n"))
	f.Add("yarn.lock", []byte("__metadata:\n  version: 8\n\"a@npm:1\":\n  resolution: \"a@patch:a@virtual%3Ax#npm%3A1.0.0#p\"\n"))
	f.Add("pnpm-lock.yaml", []byte("lockfileVersion: 5.4\npackages:\n  /@s/a/1.0.0_b@1.0.0:\n    resolution: {integrity: sha1-AAAA}\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		pkgs, _, err := ParseLockfile(name, data)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if err := ValidateName(p.Name); err != nil {
				t.Fatalf("returned an invalid name: %v", err)
			}
			if !isExactVersion(p.Version) {
				t.Fatalf("returned %s with the version %q", p.Name, p.Version)
			}
			tp := p.TarballPath()
			if path.Clean(tp) != tp || strings.HasPrefix(tp, "/") || strings.Contains(tp, "..") || strings.ContainsAny(tp, "\\\x00") {
				t.Fatalf("returned the path %q", tp)
			}
			if err := checkSRI(p.Integrity); err != nil {
				t.Fatal(err)
			}
		}
	})
}
