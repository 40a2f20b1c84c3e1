package pypi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures' digests are made up: sha256 of "fixture <file name>", so
// that each file has its own and the tests can say which one they expect.
func lockSHA256(file string) string {
	sum := sha256.Sum256([]byte("fixture " + file))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// pin is a wanted requirements.txt entry.
func pin(project, version string, hashes ...string) LockedFile {
	return LockedFile{Project: project, Version: version, Hashes: hashes}
}

func lockFileString(f LockedFile) string {
	s := f.Project + "==" + f.Version
	if f.Filename != "" {
		s += " " + f.Filename
	}
	if len(f.Hashes) > 0 {
		s += " [" + strings.Join(f.Hashes, " ") + "]"
	}
	return s
}

func diffLockedFiles(got, want []LockedFile) string {
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = lockFileString(got[i])
		}
		if i < len(want) {
			w = lockFileString(want[i])
		}
		if g != w {
			fmt.Fprintf(&b, "\n  got  %s\n  want %s", g, w)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "files differ:" + b.String()
}

// errorKinds sorts errors into the classes a caller tells apart.
func errorKinds(errs []error) (notPinned, unsupported, invalid int, other []error) {
	for _, e := range errs {
		switch {
		case errors.Is(e, ErrNotPinned):
			notPinned++
		case errors.Is(e, ErrUnsupported):
			unsupported++
		case errors.Is(e, errBadRequirement), errors.Is(e, errBadName), errors.Is(e, errBadFilename):
			invalid++
		default:
			other = append(other, e)
		}
	}
	return
}

func TestReadRequirementsReadsARealisticFileWithIncludes(t *testing.T) {
	got, errs, err := ReadRequirements(filepath.Join("testdata", "lockfiles", "requirements", "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []LockedFile{
		// from common/base.txt, which first includes common/extra.txt
		pin("python-dateutil", "2.8.2"),
		pin("six", "1.16.0", lockSHA256("six-1.16.0-py2.py3-none-any.whl")),
		pin("attrs", "23.1.0", lockSHA256("attrs-23.1.0-py3-none-any.whl")),
		// requirements.txt itself
		pin("certifi", "2023.11.17", lockSHA256("certifi-2023.11.17-py3-none-any.whl"), lockSHA256("certifi-2023.11.17.tar.gz")),
		pin("charset-normalizer", "3.3.2", lockSHA256("charset_normalizer-3.3.2-py3-none-any.whl")),
		pin("django", "4.2.8"),
		pin("idna", "3.6", lockSHA256("idna-3.6-py3-none-any.whl")),
		pin("requests", "2.31.0"),
		pin("torch", "2.1.2+cpu"),
		pin("typing-extensions", "4.9.0"),
		pin("zope-interface", "6.1"),
	}
	for i := range want {
		want[i].Hashes = lockSortedUnique(want[i].Hashes)
	}
	if d := diffLockedFiles(got, want); d != "" {
		t.Error(d)
	}
	notPinned, unsupported, invalid, other := errorKinds(errs)
	if notPinned != 3 || unsupported != 3 || invalid != 1 || len(other) != 0 {
		t.Errorf("errors: %d not pinned (want 3: urllib3, numpy, pandas), %d unsupported (want 3: -e, a direct URL, a path), "+
			"%d invalid (want 1: the stray --hash after a comment), others %v", notPinned, unsupported, invalid, other)
		for _, e := range errs {
			t.Log(e)
		}
	}
	for _, e := range errs {
		if !strings.Contains(e.Error(), "requirements.txt:") {
			t.Errorf("error %q does not say where", e)
		}
	}
}

func TestReadRequirementsReportsAnIncludeCycle(t *testing.T) {
	got, errs, err := ReadRequirements(filepath.Join("testdata", "lockfiles", "requirements", "cycle", "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffLockedFiles(got, []LockedFile{pin("beta", "2.0"), pin("alpha", "1.0")}); d != "" {
		t.Error(d)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "cycle") {
		t.Errorf("errors %v, want one include cycle", errs)
	}
}

func TestParseRequirementsStopsIncludesNestedDeeperThanTen(t *testing.T) {
	opened := 0
	open := func(path string) ([]byte, error) {
		opened++
		return fmt.Appendf(nil, "-r deeper%d.txt\nlevel%d==1.0\n", opened, opened), nil
	}
	got, errs, err := ParseRequirements([]byte("-r deeper0.txt\ntop==1.0\n"), "/project", open)
	if err != nil {
		t.Fatal(err)
	}
	if opened != maxRequirementDepth {
		t.Errorf("opened %d files, want %d", opened, maxRequirementDepth)
	}
	if len(got) != maxRequirementDepth+1 {
		t.Errorf("got %d requirements, want %d", len(got), maxRequirementDepth+1)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "deeper than") {
		t.Errorf("errors %v, want one about depth", errs)
	}
}

func TestParseRequirementsBoundsIncludesThatFanOut(t *testing.T) {
	// Each file includes two more, one folder down: 2^10 files unless bounded.
	opened := 0
	open := func(path string) ([]byte, error) {
		opened++
		return []byte("-r a/r.txt\n-r b/r.txt\nx==1.0\n"), nil
	}
	got, errs, err := ParseRequirements([]byte("-r a/r.txt\n-r b/r.txt\n"), "/project", open)
	if err != nil {
		t.Fatal(err)
	}
	if opened >= maxRequirementFiles {
		t.Errorf("opened %d files, want fewer than %d", opened, maxRequirementFiles)
	}
	bounded := 0
	for _, e := range errs {
		if strings.Contains(e.Error(), "files in all") {
			bounded++
		}
	}
	if len(got) != 1 || bounded == 0 {
		t.Errorf("got %v and %d errors, %d about the bound", got, len(errs), bounded)
	}
}

func TestParseRequirementsResolvesIncludesAgainstTheIncludingFile(t *testing.T) {
	var paths []string
	open := func(path string) ([]byte, error) {
		paths = append(paths, path)
		switch filepath.ToSlash(path) {
		case "/project/reqs/base.txt":
			return []byte("-r ../common/shared.txt\nbase==1.0\n"), nil
		case "/project/common/shared.txt":
			return []byte("shared==2.0\n"), nil
		}
		return nil, os.ErrNotExist
	}
	got, errs, err := ParseRequirements([]byte("-rreqs/base.txt\n-r missing.txt\n"), "/project", open)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffLockedFiles(got, []LockedFile{pin("shared", "2.0"), pin("base", "1.0")}); d != "" {
		t.Error(d)
	}
	if len(errs) != 1 || !errors.Is(errs[0], os.ErrNotExist) {
		t.Errorf("errors %v, want the missing include", errs)
	}
	if strings.Join(paths, ",") != "/project/reqs/base.txt,/project/common/shared.txt,/project/missing.txt" {
		t.Errorf("opened %q", paths)
	}
}

func TestParseRequirementsReadsEachLine(t *testing.T) {
	h := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		line string
		want []LockedFile
		err  error // the class of the one error expected, nil for none
	}{
		{"a plain pin", "requests==2.31.0", []LockedFile{pin("requests", "2.31.0")}, nil},
		{"a name in another spelling is normalized", "Zope.Interface == 6.1", []LockedFile{pin("zope-interface", "6.1")}, nil},
		{"extras do not change the release", "requests[socks, security]==2.31.0", []LockedFile{pin("requests", "2.31.0")}, nil},
		{"a marker is left out of the version", "requests==2.31.0 ; python_version < '3.12'", []LockedFile{pin("requests", "2.31.0")}, nil},
		{"a marker without spaces and a comment", "requests==2.31.0;sys_platform=='win32'  # windows", []LockedFile{pin("requests", "2.31.0")}, nil},
		{"a version in parentheses", "requests (==2.31.0)", []LockedFile{pin("requests", "2.31.0")}, nil},
		{"arbitrary equality", "legacy===2004d", []LockedFile{pin("legacy", "2004d")}, nil},
		{"a pin among other clauses", "requests>=2,==2.31.0,<3", []LockedFile{pin("requests", "2.31.0")}, nil},
		{"a local version", "torch==2.1.2+cu121", []LockedFile{pin("torch", "2.1.2+cu121")}, nil},
		{"--hash=, upper case", "requests==2.31.0 --hash=SHA256:" + strings.ToUpper(h), []LockedFile{pin("requests", "2.31.0", "sha256:"+h)}, nil},
		{"--hash with a space, twice", "requests==2.31.0 --hash sha256:" + h + " --hash sha256:" + h, []LockedFile{pin("requests", "2.31.0", "sha256:"+h)}, nil},
		{"a continuation carries the hashes", "requests==2.31.0 \\\n    --hash=sha256:" + h + " \\\n    --hash=sha512:" + strings.Repeat("cd", 64) + "\n",
			[]LockedFile{pin("requests", "2.31.0", "sha256:"+h, "sha512:"+strings.Repeat("cd", 64))}, nil},
		{"a continuation inside the requirement", "requests\\\n==2.31.0", []LockedFile{pin("requests", "2.31.0")}, nil},
		{"the same pin twice merges hashes", "a==1.0 --hash=sha256:" + h + "\nA==1.0", []LockedFile{pin("a", "1.0", "sha256:"+h)}, nil},
		{"build options are ignored", "a==1.0 --config-settings editable_mode=compat --global-option=--quiet", []LockedFile{pin("a", "1.0")}, nil},
		{"a comment", "   # requests==2.31.0", nil, nil},
		{"a comment ending in a backslash does not continue", "# note \\\na==1.0", []LockedFile{pin("a", "1.0")}, nil},
		{"index options", "-i https://example.com/simple\n--extra-index-url=https://x/simple\n--trusted-host x\n--no-binary :all:\n--only-binary=:none:\n--pre\n--require-hashes", nil, nil},
		{"a constraints file is not read", "-c constraints.txt\n--constraint=other.txt", nil, nil},

		{"a range", "requests>=2", nil, ErrNotPinned},
		{"a compatible release", "requests~=2.31", nil, ErrNotPinned},
		{"a prefix match", "requests==2.31.*", nil, ErrNotPinned},
		{"a bare name", "requests", nil, ErrNotPinned},
		{"a direct URL", "requests @ https://example.com/requests-2.31.0-py3-none-any.whl", nil, ErrUnsupported},
		{"a URL alone", "https://example.com/requests-2.31.0-py3-none-any.whl", nil, ErrUnsupported},
		{"a VCS URL", "git+https://github.com/psf/requests@v2.31.0#egg=requests", nil, ErrUnsupported},
		{"a local wheel", "requests-2.31.0-py3-none-any.whl", nil, ErrUnsupported},
		{"an editable", "-e .", nil, ErrUnsupported},
		{"an include by URL", "-r https://example.com/requirements.txt", nil, ErrUnsupported},
		{"an include without a way to open it", "-r other.txt", nil, ErrUnsupported},

		{"an unknown option", "--frobnicate", nil, errBadRequirement},
		{"an unknown option after a requirement", "a==1.0 --frobnicate", nil, errBadRequirement},
		{"a weak hash", "a==1.0 --hash=md5:" + strings.Repeat("ab", 16), nil, errBadRequirement},
		{"a hash that is not hex", "a==1.0 --hash=sha256:" + strings.Repeat("zz", 32), nil, errBadRequirement},
		{"a short hash", "a==1.0 --hash=sha256:abcd", nil, errBadRequirement},
		{"--hash with no value", "a==1.0 --hash", nil, errBadRequirement},
		{"a # inside a word is not a comment", "a==1.0#frag", nil, errBadRequirement},
		{"two different pins", "a==1.0,==2.0", nil, errBadRequirement},
		{"unclosed extras", "a[x==1.0", nil, errBadRequirement},

		{"a traversal as the name", "../../etc/passwd==1.0", nil, ErrUnsupported},
		{"a traversal in the version is a path to pip", "a==1.0/../../../x", nil, ErrUnsupported},
		{"an escaped traversal in an arbitrary version", "a===1.0%2F..%2F..%2Fx", nil, errBadRequirement},
		{"a name that ends in a dash", "a-==1.0", nil, errBadName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs, err := ParseRequirements([]byte(tt.line), "/project", nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffLockedFiles(got, tt.want); d != "" {
				t.Error(d)
			}
			switch {
			case tt.err == nil && len(errs) > 0:
				t.Errorf("unexpected errors %v", errs)
			case tt.err != nil && (len(errs) != 1 || !errors.Is(errs[0], tt.err)):
				t.Errorf("errors %v, want one %v", errs, tt.err)
			}
		})
	}
}

func TestParseRequirementsRefusesBinaryData(t *testing.T) {
	if _, _, err := ParseRequirements([]byte("PK\x03\x04\x00\x00"), ".", nil); err == nil {
		t.Error("a zip file read as requirements")
	}
}

func TestReadPylockReadsEveryFileOfEveryPackage(t *testing.T) {
	got, errs, err := ReadPylock(filepath.Join("testdata", "lockfiles", "pylock.toml"))
	if err != nil {
		t.Fatal(err)
	}
	file := func(project, version, name string, hashes ...string) LockedFile {
		return LockedFile{Project: project, Version: version, Filename: name, Hashes: append([]string{lockSHA256(name)}, hashes...)}
	}
	numpyLinux := "numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
	want := []LockedFile{
		file("attrs", "25.1.0", "attrs-25.1.0-py3-none-any.whl"),
		file("attrs", "25.1.0", "attrs-25.1.0.tar.gz"),
		file("cattrs", "24.1.2", "cattrs-24.1.2-py3-none-any.whl"),
		file("numpy", "2.2.3", "numpy-2.2.3-cp312-cp312-win_amd64.whl"),
		{Project: "numpy", Version: "2.2.3", Filename: numpyLinux, Hashes: []string{
			"blake2b_256:a22c6a9b2a1f3b7d47fa3e4e7cbb6c9f7d3d8e0a5c1f4b7e2d8a9c6f3e1b0d4c", lockSHA256(numpyLinux)}},
		file("zope-interface", "7.2", "zope.interface-7.2.tar.gz"),
	}
	if d := diffLockedFiles(got, want); d != "" {
		t.Error(d)
	}
	if got[0].URL != "https://files.pythonhosted.org/packages/fc/30/d4986a882011f9df997a55e6becd864812ccfcd821d64aac8570ee39f719/attrs-25.1.0-py3-none-any.whl" {
		t.Errorf("url %q", got[0].URL)
	}
	_, unsupported, _, other := errorKinds(errs)
	if unsupported != 2 || len(errs) != 2 || len(other) != 0 {
		t.Errorf("errors %v, want two unsupported: the VCS checkout and the remote archive", errs)
	}
}

func TestParsePylockRejectsHostileEntries(t *testing.T) {
	h := strings.Repeat("ab", 32)
	tests := []struct {
		name, pkg string
	}{
		{"a traversal as the name", `name = "../../etc"
version = "1.0"
wheels = [{name = "etc-1.0-py3-none-any.whl", hashes = {sha256 = "` + h + `"}}]`},
		{"a traversal as the file name", `name = "a"
version = "1.0"
wheels = [{name = "../../a-1.0-py3-none-any.whl", hashes = {sha256 = "` + h + `"}}]`},
		{"a traversal hidden in the url", `name = "a"
version = "1.0"
wheels = [{url = "https://example.com/x/..%2F..%2Fa-1.0-py3-none-any.whl", hashes = {sha256 = "` + h + `"}}]`},
		{"a file of another project", `name = "a"
version = "1.0"
wheels = [{name = "b-1.0-py3-none-any.whl", hashes = {sha256 = "` + h + `"}}]`},
		{"a traversal in the version", `name = "a"
version = "1.0/../../x"
sdist = {name = "a-1.0.tar.gz", hashes = {sha256 = "` + h + `"}}`},
		{"a hash that is not hex", `name = "a"
version = "1.0"
sdist = {name = "a-1.0.tar.gz", hashes = {sha256 = "not hex"}}`},
		{"a package of the wrong type", `name = 5`},
		{"a package with nothing to fetch", `name = "a"
version = "1.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "lock-version = \"1.0\"\ncreated-by = \"test\"\n\n[[packages]]\n" + tt.pkg + "\n"
			got, errs, err := ParsePylock([]byte(doc))
			if err != nil {
				t.Fatalf("a hostile entry failed the whole file: %v", err)
			}
			if len(got) != 0 {
				t.Errorf("got %v", got)
			}
			if len(errs) != 1 {
				t.Errorf("errors %v, want one", errs)
			}
		})
	}
}

func TestParsePylockFailsOnWhatItCannotRead(t *testing.T) {
	tests := []struct {
		name, doc string
	}{
		{"not TOML", "[[packages]\nname = "},
		{"no lock-version", "[[packages]]\nname = \"a\"\n"},
		{"a major version larder does not know", "lock-version = \"2.0\"\n"},
		{"a lock-version of the wrong type", "lock-version = 1.0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ParsePylock([]byte(tt.doc)); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestReadPythonLockfileChoosesTheReaderByName(t *testing.T) {
	dir := t.TempDir()
	pylockDoc := "lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nversion = \"1.0\"\nsdist = {name = \"a-1.0.tar.gz\"}\n"
	reqDoc := "a==1.0\n"
	tests := []struct {
		file, data string
		filename   string // what the one result's Filename must be
	}{
		{"pylock.toml", pylockDoc, "a-1.0.tar.gz"},
		{"pylock.dev.toml", pylockDoc, "a-1.0.tar.gz"},
		{"requirements.txt", reqDoc, ""},
		{"requirements-dev.in", reqDoc, ""},
		{"pylock.txt", reqDoc, ""},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.file)
		if err := os.WriteFile(p, []byte(tt.data), 0o644); err != nil {
			t.Fatal(err)
		}
		got, errs, err := ReadPythonLockfile(p)
		if err != nil || len(errs) > 0 || len(got) != 1 || got[0].Filename != tt.filename {
			t.Errorf("ReadPythonLockfile(%s) = %v, %v, %v", tt.file, got, errs, err)
		}
	}
	if _, _, err := ReadPythonLockfile(filepath.Join(dir, "missing.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if _, _, err := ReadPythonLockfile(dir); err == nil {
		t.Error("a directory read as requirements")
	}
}

func FuzzParseRequirements(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "lockfiles", "requirements", "*", "*.txt"))
	files = append(files, filepath.Join("testdata", "lockfiles", "requirements", "requirements.txt"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a[b]==1.0;python_version<'3' --hash sha256:" + strings.Repeat("0", 64) + "\\\n -r x\n-rx\n"))
	f.Add([]byte("A_b.C (===1.0+local) # c\n-e .\nb @ file:///x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Every include reads the same bytes: cycles and repeats on purpose.
		open := func(string) ([]byte, error) { return data, nil }
		got, _, err := ParseRequirements(data, "/project", open)
		if err != nil {
			return
		}
		for _, lf := range got {
			if err := ValidateName(lf.Project); err != nil || Normalize(lf.Project) != lf.Project {
				t.Fatalf("returned the project %q", lf.Project)
			}
			if !validVersion(lf.Version) {
				t.Fatalf("returned the version %q", lf.Version)
			}
			if lf.Filename != "" {
				t.Fatalf("a requirement returned a file name %q", lf.Filename)
			}
			for _, h := range lf.Hashes {
				if _, err := reqNormalizeHash(h); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func FuzzParsePylock(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "lockfiles", "pylock.toml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nwheels = [{url = \"https://x/a-1.0-py3-none-any.whl\"}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, err := ParsePylock(data)
		if err != nil {
			return
		}
		for _, lf := range got {
			if err := ValidateName(lf.Project); err != nil || Normalize(lf.Project) != lf.Project {
				t.Fatalf("returned the project %q", lf.Project)
			}
			if !validVersion(lf.Version) {
				t.Fatalf("returned the version %q", lf.Version)
			}
			if err := validateFilename(lf.Filename); err != nil {
				t.Fatal(err)
			}
		}
	})
}
