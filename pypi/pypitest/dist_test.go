package pypitest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"io"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestNormalizeFollowsPEP503(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"requests", "requests"},
		{"Django", "django"},
		{"Foo_Bar", "foo-bar"},
		{"foo.bar", "foo-bar"},
		{"foo--_.bar", "foo-bar"},
		{"zope.interface", "zope-interface"},
		{"A-B_C.D", "a-b-c-d"},
	} {
		if got := Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func unzip(t *testing.T, data []byte) (names []string, files map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("wheel is not a zip: %v", err)
	}
	files = map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("reading %s: %v", f.Name, err)
		}
		names = append(names, f.Name)
		files[f.Name] = b
	}
	return names, files
}

func TestWheelIsAZipWithThePackageAndDistInfo(t *testing.T) {
	filename, data := Wheel("Foo.Bar", "1.2.0", []string{"requests>=2", "idna; extra == \"x\""}, ">=3.8")
	if filename != "foo_bar-1.2.0-py3-none-any.whl" {
		t.Errorf("filename = %q", filename)
	}
	names, files := unzip(t, data)
	want := []string{
		"foo_bar/__init__.py",
		"foo_bar-1.2.0.dist-info/METADATA",
		"foo_bar-1.2.0.dist-info/WHEEL",
		"foo_bar-1.2.0.dist-info/RECORD",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("members = %v, want %v", names, want)
	}
	if !strings.Contains(string(files["foo_bar/__init__.py"]), `__version__ = "1.2.0"`) {
		t.Errorf("__init__.py does not set __version__:\n%s", files["foo_bar/__init__.py"])
	}
	wantMeta := "Metadata-Version: 2.1\nName: Foo.Bar\nVersion: 1.2.0\n"
	meta := string(files["foo_bar-1.2.0.dist-info/METADATA"])
	if !strings.HasPrefix(meta, wantMeta) {
		t.Errorf("METADATA starts %q, want %q", meta, wantMeta)
	}
	for _, line := range []string{"Requires-Python: >=3.8\n", "Requires-Dist: requests>=2\n", "Requires-Dist: idna; extra == \"x\"\n"} {
		if !strings.Contains(meta, line) {
			t.Errorf("METADATA lacks %q:\n%s", line, meta)
		}
	}
	wheel := string(files["foo_bar-1.2.0.dist-info/WHEEL"])
	for _, line := range []string{"Wheel-Version: 1.0\n", "Generator: ", "Root-Is-Purelib: true\n", "Tag: py3-none-any\n"} {
		if !strings.Contains(wheel, line) {
			t.Errorf("WHEEL lacks %q:\n%s", line, wheel)
		}
	}
}

func TestWheelRecordHasTheRightDigestAndSizeOfEveryFile(t *testing.T) {
	_, data := Wheel("proj", "0.1", nil, "")
	names, files := unzip(t, data)
	rows, err := csv.NewReader(bytes.NewReader(files["proj-0.1.dist-info/RECORD"])).ReadAll()
	if err != nil {
		t.Fatalf("RECORD is not CSV: %v", err)
	}
	var listed []string
	for _, row := range rows {
		if len(row) != 3 {
			t.Fatalf("RECORD row %v has %d fields", row, len(row))
		}
		listed = append(listed, row[0])
		if row[0] == "proj-0.1.dist-info/RECORD" {
			if row[1] != "" || row[2] != "" {
				t.Errorf("RECORD's own row = %v, want empty hash and size", row)
			}
			continue
		}
		content, ok := files[row[0]]
		if !ok {
			t.Errorf("RECORD lists %s, which is not in the wheel", row[0])
			continue
		}
		sum := sha256.Sum256(content)
		if want := "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]); row[1] != want {
			t.Errorf("%s: hash %s, want %s", row[0], row[1], want)
		}
		if want := strconv.Itoa(len(content)); row[2] != want {
			t.Errorf("%s: size %s, want %s", row[0], row[2], want)
		}
	}
	sort.Strings(names)
	sort.Strings(listed)
	if strings.Join(names, " ") != strings.Join(listed, " ") {
		t.Errorf("RECORD lists %v, wheel holds %v", listed, names)
	}
}

func TestWheelMetadataIsTheMETADATAInsideTheWheel(t *testing.T) {
	for _, tc := range []struct {
		name, version  string
		requires       []string
		requiresPython string
	}{
		{"a", "1.0", nil, ""},
		{"Some_Project", "2.0rc1", []string{"b>=1", "c"}, ">=3.9,<4"},
	} {
		_, data := Wheel(tc.name, tc.version, tc.requires, tc.requiresPython)
		_, files := unzip(t, data)
		inside := files[distName(tc.name)+"-"+tc.version+".dist-info/METADATA"]
		if got := WheelMetadata(tc.name, tc.version, tc.requires, tc.requiresPython); !bytes.Equal(got, inside) {
			t.Errorf("%s %s: WheelMetadata =\n%s\nwheel holds\n%s", tc.name, tc.version, got, inside)
		}
	}
}

func TestBuildsAreDeterministic(t *testing.T) {
	_, w1 := Wheel("x", "1", []string{"y"}, ">=3")
	_, w2 := Wheel("x", "1", []string{"y"}, ">=3")
	if !bytes.Equal(w1, w2) {
		t.Error("two Wheel builds differ")
	}
	_, s1 := Sdist("x", "1", []string{"y"})
	_, s2 := Sdist("x", "1", []string{"y"})
	if !bytes.Equal(s1, s2) {
		t.Error("two Sdist builds differ")
	}
}

func TestSdistIsATarGzWithPKGINFOPyprojectAndSource(t *testing.T) {
	filename, data := Sdist("My.Pkg", "3.1", []string{"dep>=1"})
	if filename != "my_pkg-3.1.tar.gz" {
		t.Errorf("filename = %q", filename)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not a tar: %v", err)
		}
		if !strings.HasPrefix(h.Name, "my_pkg-3.1/") {
			t.Errorf("member %q is outside the top directory", h.Name)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
	for name, want := range map[string]string{
		"my_pkg-3.1/PKG-INFO":            "Name: My.Pkg\nVersion: 3.1\n",
		"my_pkg-3.1/pyproject.toml":      `build-backend = "pypitest_backend"`,
		"my_pkg-3.1/my_pkg/__init__.py":  `__version__ = "3.1"`,
		"my_pkg-3.1/pypitest_backend.py": `DIST = "my_pkg"`,
	} {
		if !strings.Contains(files[name], want) {
			t.Errorf("%s lacks %q:\n%s", name, want, files[name])
		}
	}
	if !strings.Contains(files["my_pkg-3.1/pyproject.toml"], `dependencies = ["dep>=1"]`) {
		t.Errorf("pyproject.toml lacks the dependencies:\n%s", files["my_pkg-3.1/pyproject.toml"])
	}
	if !strings.Contains(files["my_pkg-3.1/PKG-INFO"], "Requires-Dist: dep>=1\n") {
		t.Errorf("PKG-INFO lacks Requires-Dist:\n%s", files["my_pkg-3.1/PKG-INFO"])
	}
}

func TestVersionFromFilenameReadsWheelsAndSdists(t *testing.T) {
	for _, tc := range []struct{ filename, want string }{
		{"foo_bar-1.2.0-py3-none-any.whl", "1.2.0"},
		{"numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.whl", "2.0.0"},
		{"foo_bar-1.2.0.tar.gz", "1.2.0"},
		{"foo-bar-1.0rc1.zip", "1.0rc1"},
		{"foo-0.1-py2.7.egg", "0.1"},
		{"README", ""},
	} {
		if got := VersionFromFilename(tc.filename); got != tc.want {
			t.Errorf("VersionFromFilename(%q) = %q, want %q", tc.filename, got, tc.want)
		}
	}
}

func TestCompareVersionsOrdersAsPEP440(t *testing.T) {
	ordered := []string{"0.9", "1.0.dev0", "1.0a1", "1.0a2.dev1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.10", "2!0.1"}
	for i := range ordered {
		for j := range ordered {
			want := cmpInt(i, j)
			if got := CompareVersions(ordered[i], ordered[j]); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	if c := CompareVersions("not a version", "0.1"); c != -1 {
		t.Errorf("a non-PEP 440 string sorts %d against 0.1, want -1", c)
	}
}
