package pypi

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/pypi/pypitest"
	"github.com/larder-mirror/larder/registries"
)

// onlySeeker hides bytes.Reader's ReadAt, as a blob read over the network
// (ranged reads on S3) is a ReadSeeker only.
type onlySeeker struct{ io.ReadSeeker }

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, body := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(f, body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTheMetadataOfAWheelIsFoundByItsFilename(t *testing.T) {
	filename, wheel := pypitest.Wheel("Dep_One", "1.0", []string{"six>=1"}, "")
	for _, tc := range []struct {
		why      string
		filename string
		zip      []byte
		want     string // the member found; "" for none
	}{
		{"a wheel as built", filename, wheel, "dep_one-1.0.dist-info/METADATA"},
		{"the one .dist-info when the filename's names differ", "Other-2.0-py3-none-any.whl",
			zipOf(t, map[string]string{"x-1.dist-info/METADATA": "Name: x\n\n", "x/__init__.py": ""}), "x-1.dist-info/METADATA"},
		{"the filename's .dist-info among two", "a-1.0-py3-none-any.whl",
			zipOf(t, map[string]string{"a-1.0.dist-info/METADATA": "Name: a\n\n", "b-1.0.dist-info/METADATA": "Name: b\n\n"}), "a-1.0.dist-info/METADATA"},
		{"two .dist-info, neither the filename's", "c-1.0-py3-none-any.whl",
			zipOf(t, map[string]string{"a-1.0.dist-info/METADATA": "", "b-1.0.dist-info/METADATA": ""}), ""},
		{"a METADATA deeper down", "d-1.0-py3-none-any.whl",
			zipOf(t, map[string]string{"pkg/d-1.0.dist-info/METADATA": ""}), ""},
		{"no METADATA", "e-1.0-py3-none-any.whl", zipOf(t, map[string]string{"e/__init__.py": ""}), ""},
	} {
		z, err := zip.NewReader(readerAt(onlySeeker{bytes.NewReader(tc.zip)}), int64(len(tc.zip)))
		if err != nil {
			t.Fatalf("%s: %v", tc.why, err)
		}
		got := ""
		if f := metadataMember(z, tc.filename); f != nil {
			got = f.Name
		}
		if got != tc.want {
			t.Errorf("%s: found %q, want %q", tc.why, got, tc.want)
		}
	}
}

func TestTheMetadataOfAWheelReadThroughSeeksIsWhole(t *testing.T) {
	_, wheel := pypitest.Wheel("app", "1.0", []string{"Dep_One>=1", "b; extra == \"x\""}, "")
	z, err := zip.NewReader(readerAt(onlySeeker{bytes.NewReader(wheel)}), int64(len(wheel)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := metadataMember(z, "app-1.0-py3-none-any.whl").Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	meta, err := aboutFromMetadata(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(meta.RequiresDist, "|"); got != `Dep_One>=1|b; extra == "x"` {
		t.Errorf("Requires-Dist read through seeks: %q", got)
	}
	// Cut short, the zip is refused rather than read past its end.
	if _, err := zip.NewReader(readerAt(onlySeeker{bytes.NewReader(wheel[:len(wheel)/2])}), int64(len(wheel))); err == nil {
		t.Error("half a wheel read as a zip")
	}
}

// The UI's page of a project from an index without PEP 658 metadata files
// tells a held wheel's dependencies and summary, read from the wheel.
func TestDescribeReadsTheDependenciesOfAHeldWheelWithoutMetadataFile(t *testing.T) {
	up := pypitest.New()
	t.Cleanup(up.Close)
	old, data := pypitest.Wheel("app", "1.0", []string{"six>=1"}, "")
	up.AddFile("app", old, data, pypitest.FileOpts{})
	newer, data := pypitest.Wheel("app", "2.0", []string{"Dep_One>=2", "fast; extra == \"speed\""}, "")
	up.AddFile("app", newer, data, pypitest.FileOpts{})
	m := mirrorOf(t, up, registries.Options{})
	m.get(t, "/pypi/simple/app/")
	m.get(t, "/pypi/files/app/"+newer)
	m.waitHeld(t, "app", filePath("app", newer))

	info, err := m.reg.Describe(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Versions) != 2 || info.Versions[0].Version != "2.0" {
		t.Fatalf("versions: %+v", info.Versions)
	}
	v2, v1 := info.Versions[0], info.Versions[1]
	if !v2.DependenciesKnown || len(v2.Dependencies) != 2 || v2.Dependencies[0].Name != "Dep_One" {
		t.Errorf("2.0, whose wheel is held: dependencies %+v (known %v), want Dep_One and fast (an extra's)", v2.Dependencies, v2.DependenciesKnown)
	}
	if v1.DependenciesKnown {
		t.Errorf("1.0, of which nothing is held: dependencies %+v said known", v1.Dependencies)
	}
	if info.Description == "" {
		t.Error("no summary from the held wheel's metadata")
	}
}
