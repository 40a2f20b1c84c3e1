package pypi

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/storage/storagetest"
)

func TestAKeptMetadataFileLoadsThePagesOfItsDependencies(t *testing.T) {
	up := pypitest.New()
	t.Cleanup(up.Close)
	wheel := up.AddWheel("app", "1.0", []string{
		"Dep_One>=1", "dep-two (>=2)", "with-extra[fast]", "win-only; sys_platform == \"win32\"",
		"only-for-extra; extra == \"speed\"", "held-already", "dep.one", "missing-upstream",
	}, "")
	for _, name := range []string{"dep-one", "dep-two", "with-extra", "win-only", "only-for-extra", "held-already"} {
		up.AddWheel(name, "1.0", nil, "")
	}
	m := mirrorOf(t, up, registries.Options{})
	m.get(t, "/pypi/simple/held-already/")
	m.get(t, "/pypi/simple/app/")
	up.Reset()

	if r := m.get(t, "/pypi/files/app/"+wheel+".metadata"); r.status != http.StatusOK {
		t.Fatalf("GET the metadata file: %d\n%s", r.status, r.body)
	}
	wantLoaded := []string{"dep-one", "dep-two", "with-extra", "win-only"}
	deadline := time.Now().Add(5 * time.Second)
	for _, name := range wantLoaded {
		for {
			if _, err := m.up.Cached(context.Background(), name, variantPage); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page of %s was not loaded after the metadata file naming it was kept", name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The loads of one file end together: once missing-upstream's has been
	// asked, every one has.
	for up.Count("index", http.MethodGet, "/simple/missing-upstream/") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	m.up.Close() // waits for what follows a kept artifact
	for _, name := range append(wantLoaded, "missing-upstream") {
		if n := up.Count("index", http.MethodGet, "/simple/"+name+"/"); n != 1 {
			t.Errorf("the page of %s was asked of the upstream %d times, want 1", name, n)
		}
	}
	for _, name := range []string{"only-for-extra", "held-already", "app"} {
		if n := up.Count("index", http.MethodGet, "/simple/"+name+"/"); n != 0 {
			t.Errorf("the page of %s was asked of the upstream %d times, want none", name, n)
		}
	}
	// The wheel whose metadata the client read is loaded beside it (see
	// loadFileAhead); no other.
	for _, r := range up.Requests() {
		if r.Host == "files" && !strings.HasSuffix(r.Path, ".metadata") && r.Path != filesPath(t, up, wheel) {
			t.Errorf("a file was fetched ahead: %s", r.Path)
		}
	}

	// A client's request for a page loaded ahead is a hit.
	if r := m.get(t, "/pypi/simple/dep-one/"); r.header.Get("X-Larder-Cache") != "HIT" {
		t.Errorf("a page loaded ahead: X-Larder-Cache %q, want HIT", r.header.Get("X-Larder-Cache"))
	}
}

// Past the pages: the metadata file pip will read of each dependency is
// loaded with its page, and followed in turn, down the tree.
func TestTheMetadataPipWillReadIsLoadedAheadDownTheTree(t *testing.T) {
	up := pypitest.New()
	t.Cleanup(up.Close)
	app := up.AddWheel("app", "1.0", []string{"a>=1", "c~=1.0"}, "")
	up.AddWheel("a", "1.0", nil, "")
	a2 := up.AddWheel("a", "2.0", []string{"b<2"}, "")
	aYanked, data := pypitest.Wheel("a", "3.0", nil, "")
	up.AddFile("a", aYanked, data, pypitest.FileOpts{Yanked: true, Metadata: pypitest.WheelMetadata("a", "3.0", nil, "")})
	b1 := up.AddWheel("b", "1.0", nil, "")
	up.AddWheel("b", "2.0", nil, "")
	up.AddWheel("c", "1.0", nil, "")
	m := mirrorOf(t, up, registries.Options{})
	m.get(t, "/pypi/simple/app/")
	up.Reset()

	if r := m.get(t, "/pypi/files/app/"+app+".metadata"); r.status != http.StatusOK {
		t.Fatalf("GET the metadata file: %d\n%s", r.status, r.body)
	}
	m.waitHeld(t, "a", filePath("a", a2)+".metadata")
	m.waitHeld(t, "b", filePath("b", b1)+".metadata")
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := m.up.Cached(context.Background(), "c", variantPage); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the page of c was not loaded ahead")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := m.get(t, "/pypi/files/a/"+a2+".metadata"); r.header.Get("X-Larder-Cache") != "HIT" {
		t.Errorf("a metadata file loaded ahead: X-Larder-Cache %q, want HIT", r.header.Get("X-Larder-Cache"))
	}
	m.waitHeld(t, "app", filePath("app", app))
	m.waitHeld(t, "a", filePath("a", a2))
	m.up.Close() // waits for what follows a kept artifact
	// The wheels of app and a 2.0, whose metadata files a client read, are
	// loaded beside them; b 1.0's, whose metadata file only larder read,
	// is not.
	want := map[string]int{app + ".metadata": 0, a2 + ".metadata": 0, b1 + ".metadata": 0, app: 0, a2: 0}
	for _, r := range up.Requests() {
		if r.Host != "files" {
			continue
		}
		name := r.Path[strings.LastIndexByte(r.Path, '/')+1:]
		if _, expected := want[name]; expected {
			want[name]++
		} else {
			// a 3.0 is yanked, b 2.0 excluded, c's ~= not read by larder.
			t.Errorf("fetched ahead: %s", r.Path)
		}
	}
	for name, n := range want {
		if n != 1 {
			t.Errorf("%s was asked of the upstream %d times, want 1", name, n)
		}
	}
}

// A dependency whose page larder holds already (another install read it)
// is not loaded again, but the metadata file pip will read of it is loaded
// ahead all the same: a team's mirror holds many pages and fewer of the
// metadata files of their newest releases.
func TestTheMetadataOfADependencyWhosePageIsHeldIsLoadedAhead(t *testing.T) {
	up := pypitest.New()
	t.Cleanup(up.Close)
	app := up.AddWheel("app", "1.0", []string{"b>=1"}, "")
	up.AddWheel("b", "1.0", nil, "")
	b2 := up.AddWheel("b", "2.0", nil, "")
	m := mirrorOf(t, up, registries.Options{})
	m.get(t, "/pypi/simple/app/")
	m.get(t, "/pypi/simple/b/")
	up.Reset()

	if r := m.get(t, "/pypi/files/app/"+app+".metadata"); r.status != http.StatusOK {
		t.Fatalf("GET the metadata file: %d\n%s", r.status, r.body)
	}
	m.waitHeld(t, "b", filePath("b", b2)+".metadata")
	m.waitHeld(t, "app", filePath("app", app))
	m.up.Close() // waits for what follows a kept artifact
	asked := askedOf(up)
	slices.Sort(asked)
	// app's wheel is loaded beside the metadata file the client read.
	want := []string{filesRequest(t, up.FileURL(app)), filesRequest(t, up.MetadataURL(app)), filesRequest(t, up.MetadataURL(b2))}
	if slices.Sort(want); !slices.Equal(asked, want) {
		t.Errorf("asked of the upstream:\n%s\nwant (the held page not again):\n%s", strings.Join(asked, "\n"), strings.Join(want, "\n"))
	}
}

// An index without PEP 658 metadata files: pip downloads each wheel to read
// its dependencies, so larder reads them from the wheel it keeps, and
// loads their pages ahead. Only pages: no file is fetched ahead of pip.
func TestAKeptWheelWithoutMetadataFileLoadsThePagesOfItsDependencies(t *testing.T) {
	up := pypitest.New()
	t.Cleanup(up.Close)
	wheel, data := pypitest.Wheel("app", "1.0", []string{"Dep_One>=1", "only-for-extra; extra == \"speed\""}, "")
	up.AddFile("app", wheel, data, pypitest.FileOpts{})
	for _, name := range []string{"dep-one", "only-for-extra"} {
		dep, data := pypitest.Wheel(name, "1.0", nil, "")
		up.AddFile(name, dep, data, pypitest.FileOpts{})
	}
	m := mirrorOf(t, up, registries.Options{})
	m.get(t, "/pypi/simple/app/")
	up.Reset()

	if r := m.get(t, "/pypi/files/app/"+wheel); r.status != http.StatusOK {
		t.Fatalf("GET the wheel: %d\n%s", r.status, r.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for up.Count("index", http.MethodGet, "/simple/dep-one/") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	m.up.Close() // waits for what follows a kept artifact
	if _, err := m.up.Cached(context.Background(), "dep-one", variantPage); err != nil {
		t.Errorf("the page of dep-one, which the wheel requires, was not loaded: %v", err)
	}
	asked := askedOf(up)
	if want := []string{filesRequest(t, up.FileURL(wheel)), "index /simple/dep-one/"}; !slices.Equal(asked, want) {
		t.Errorf("asked of the upstream:\n%s\nwant (the wheel, then its dependency's page; no file ahead):\n%s",
			strings.Join(asked, "\n"), strings.Join(want, "\n"))
	}
}

// A "wheel" that is no zip is served and kept as the index published it;
// larder only finds no dependencies in it.
func TestAKeptWheelThatIsNoZipLoadsNothingAhead(t *testing.T) {
	up := pypitest.New()
	t.Cleanup(up.Close)
	const wheel = "app-1.0-py3-none-any.whl"
	up.AddFile("app", wheel, []byte("Requires-Dist: dep-one\n\nnot a zip"), pypitest.FileOpts{})
	m := mirrorOf(t, up, registries.Options{})
	m.get(t, "/pypi/simple/app/")
	up.Reset()

	if r := m.get(t, "/pypi/files/app/"+wheel); r.status != http.StatusOK || !strings.HasSuffix(r.body, "not a zip") {
		t.Fatalf("GET the wheel: %d\n%s", r.status, r.body)
	}
	m.waitHeld(t, "app", filePath("app", wheel))
	m.up.Close() // waits for what follows a kept artifact
	if n := len(up.Requests()); n != 1 {
		t.Errorf("the upstream was asked %d times, want once (the wheel)", n)
	}
}

// A wheel whose metadata file the index offers is not opened: pip reads
// that file first, and its keep loads the dependencies.
func TestAKeptWheelWithAMetadataFileIsNotOpenedForItsDependencies(t *testing.T) {
	up := pypitest.New()
	t.Cleanup(up.Close)
	wheel := up.AddWheel("app", "1.0", []string{"dep-one>=1"}, "")
	up.AddWheel("dep-one", "1.0", nil, "")
	m := mirrorOf(t, up, registries.Options{})
	m.get(t, "/pypi/simple/app/")
	up.Reset()

	if r := m.get(t, "/pypi/files/app/"+wheel); r.status != http.StatusOK {
		t.Fatalf("GET the wheel: %d\n%s", r.status, r.body)
	}
	m.waitHeld(t, "app", filePath("app", wheel))
	m.up.Close() // waits for what follows a kept artifact
	if n := up.Count("index", http.MethodGet, "/simple/dep-one/"); n != 0 {
		t.Errorf("the page of dep-one was asked of the upstream %d times after its dependent's wheel was kept, want none (the metadata file's keep loads it)", n)
	}
}

// pip on an older Python picks the newest release whose Requires-Python
// allows it, and it says which Python in its User-Agent: the metadata files
// loaded ahead are those, down the tree, not the newest releases'.
func TestTheMetadataLoadedAheadIsForThePythonThatAsked(t *testing.T) {
	up := pypitest.New()
	t.Cleanup(up.Close)
	app := up.AddWheel("app", "1.0", []string{"b>=1"}, "")
	b1 := up.AddWheel("b", "1.0", []string{"c"}, ">=3.7")
	b2 := up.AddWheel("b", "2.0", []string{"c"}, ">=3.9")
	c1 := up.AddWheel("c", "1.0", nil, ">=3.7")
	c2 := up.AddWheel("c", "2.0", nil, ">=3.9")
	m := mirrorOf(t, up, registries.Options{})
	m.get(t, "/pypi/simple/app/")
	up.Reset()

	const pip38 = `pip/24.0 {"implementation":{"name":"CPython","version":"3.8.18"},"installer":{"name":"pip","version":"24.0"},"python":"3.8.18"}`
	if r := m.get(t, "/pypi/files/app/"+app+".metadata", "User-Agent", pip38); r.status != http.StatusOK {
		t.Fatalf("GET the metadata file: %d\n%s", r.status, r.body)
	}
	m.waitHeld(t, "b", filePath("b", b1)+".metadata")
	m.waitHeld(t, "c", filePath("c", c1)+".metadata")
	m.up.Close() // waits for what follows a kept artifact
	for _, r := range up.Requests() {
		for _, newest := range []string{b2, c2} {
			if strings.HasSuffix(r.Path, "/"+newest+".metadata") {
				t.Errorf("%s was loaded ahead for Python 3.8, which its release does not run on", newest)
			}
		}
	}
}

func TestLikelyWheelIsTheNewestPureWheelTheRequirementAllows(t *testing.T) {
	page := func(files ...File) Project { return Project{Files: files} }
	wheel := func(name string) File { return File{Filename: name, CoreMetadata: true} }
	for _, tc := range []struct {
		what       string
		p          Project
		constraint string
		want       string
	}{
		{"the newest", page(wheel("x-1.0-py3-none-any.whl"), wheel("x-2.0-py3-none-any.whl")), "", "x-2.0-py3-none-any.whl"},
		{"within bounds", page(wheel("x-1.0-py3-none-any.whl"), wheel("x-2.0-py3-none-any.whl")), ">=1, <2", "x-1.0-py3-none-any.whl"},
		{"== pads zeros", page(wheel("x-1.0.0-py2.py3-none-any.whl"), wheel("x-2.0-py3-none-any.whl")), "==1.0", "x-1.0.0-py2.py3-none-any.whl"},
		{"!= skips", page(wheel("x-1.0-py3-none-any.whl"), wheel("x-2.0-py3-none-any.whl")), "!=2.0", "x-1.0-py3-none-any.whl"},
		{"no pre-release", page(wheel("x-1.0-py3-none-any.whl"), wheel("x-2.0rc1-py3-none-any.whl")), "", "x-1.0-py3-none-any.whl"},
		{"newest only an sdist", page(wheel("x-1.0-py3-none-any.whl"), File{Filename: "x-2.0.tar.gz"}), "", ""},
		{"newest only for a platform", page(wheel("x-1.0-py3-none-any.whl"), wheel("x-2.0-cp312-cp312-manylinux_2_17_x86_64.whl")), "", ""},
		{"a platform wheel beside", page(wheel("x-2.0-cp312-cp312-win_amd64.whl"), wheel("x-2.0-py3-none-any.whl")), "", "x-2.0-py3-none-any.whl"},
		{"no metadata file", page(File{Filename: "x-2.0-py3-none-any.whl"}), "", ""},
		{"a yanked file", page(wheel("x-1.0-py3-none-any.whl"), File{Filename: "x-2.0-py3-none-any.whl", CoreMetadata: true, Yanked: true}), "", "x-1.0-py3-none-any.whl"},
		{"compatible release", page(wheel("x-1.0-py3-none-any.whl")), "~=1.0", ""},
		{"a wildcard", page(wheel("x-1.0-py3-none-any.whl")), "==1.*", ""},
		{"arbitrary equality", page(wheel("x-1.0-py3-none-any.whl")), "===1.0", ""},
		{"extras", page(wheel("x-1.0-py3-none-any.whl")), "[fast]>=1", ""},
		{"nothing allowed", page(wheel("x-1.0-py3-none-any.whl")), ">1", ""},
		{"Python 2 only", page(wheel("x-1.0-py2-none-any.whl")), "", ""},
	} {
		got, ok := likelyWheel(tc.p, "x", tc.constraint, "")
		if ok != (tc.want != "") || got.Filename != tc.want {
			t.Errorf("%s: likelyWheel = %q, %v; want %q", tc.what, got.Filename, ok, tc.want)
		}
	}
}

func TestLikelyWheelPassesOverReleasesTheClientsPythonCannotRun(t *testing.T) {
	wheel := func(name, requires string) File {
		return File{Filename: name, CoreMetadata: true, RequiresPython: requires}
	}
	page := Project{Files: []File{
		wheel("x-1.0-py3-none-any.whl", ">=2.7, !=3.0.*, !=3.1.*"),
		wheel("x-2.0-py3-none-any.whl", ">=3.9"),
	}}
	for _, tc := range []struct{ python, want string }{
		{"3.8.18", "x-1.0-py3-none-any.whl"},
		{"3.12.1", "x-2.0-py3-none-any.whl"},
		{"", "x-2.0-py3-none-any.whl"},          // not told: the newest, as before
		{"3.1.4", ""},                           // neither runs there
		{"3.13.0rc1", "x-2.0-py3-none-any.whl"}, // not read: not held against a file
	} {
		got, _ := likelyWheel(page, "x", "", tc.python)
		if got.Filename != tc.want {
			t.Errorf("for Python %q: likelyWheel = %q, want %q", tc.python, got.Filename, tc.want)
		}
	}
	// A file of the newest release that the Python cannot run is not
	// picked, even beside one it can.
	page = Project{Files: []File{
		wheel("x-2.0-py3-none-any.whl", ">=3.9"),
		wheel("x-2.0-py2.py3-none-any.whl", ""),
	}}
	if got, _ := likelyWheel(page, "x", "", "3.8.18"); got.Filename != "x-2.0-py2.py3-none-any.whl" {
		t.Errorf("likelyWheel = %q, want the file Python 3.8 runs", got.Filename)
	}
}

// askedOf lists what the upstream was asked, as "host path".
func askedOf(up *pypitest.Server) []string {
	var asked []string
	for _, r := range up.Requests() {
		asked = append(asked, r.Host+" "+r.Path)
	}
	return asked
}

// filesPath is the path of filename's URL on the files host.
func filesPath(t *testing.T, up *pypitest.Server, filename string) string {
	t.Helper()
	return strings.TrimPrefix(filesRequest(t, up.FileURL(filename)), "files ")
}

// filesRequest is how askedOf lists a request for the file at raw, on the
// files host.
func filesRequest(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return "files " + u.Path
}

// The dependencies of a kept file are loaded while its row commits, not
// after: in a cold install the row waits for company (up to a quarter
// second, see storage's txDeferred), and pip's next request, for the page
// of a dependency, comes a few milliseconds after its file. Here the row
// waits for a lock another writer holds.
func TestTheDependenciesOfAKeptFileAreLoadedWhileItsRowCommits(t *testing.T) {
	for _, tc := range []struct {
		what     string
		metadata bool
	}{
		{"a metadata file", true},
		{"a wheel without one", false},
	} {
		t.Run(tc.what, func(t *testing.T) {
			up := pypitest.New()
			t.Cleanup(up.Close)
			var path string
			if tc.metadata {
				path = "/pypi/files/app/" + up.AddWheel("app", "1.0", []string{"dep>=1"}, "") + ".metadata"
			} else {
				wheel, data := pypitest.Wheel("app", "1.0", []string{"dep>=1"}, "")
				up.AddFile("app", wheel, data, pypitest.FileOpts{})
				path = "/pypi/files/app/" + wheel
			}
			up.AddWheel("dep", "1.0", nil, "")
			dir := t.TempDir()
			m := newMirror(t, registriestest.NewEnvIn(t, dir), up.IndexURL, []string{up.FilesURL}, registries.Options{})
			m.get(t, "/pypi/simple/app/")
			if err := m.up.AwaitCommit(context.Background(), "app", variantPage); err != nil {
				t.Fatal(err)
			}
			commit := storagetest.HoldWrites(t, filepath.Join(dir, "larder.db"))
			if r := m.get(t, path); r.status != http.StatusOK {
				commit()
				t.Fatalf("GET %s: %d\n%s", path, r.status, r.body)
			}
			deadline := time.Now().Add(3 * time.Second)
			for up.Count("index", http.MethodGet, "/simple/dep/") == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			loaded := up.Count("index", http.MethodGet, "/simple/dep/")
			commit()
			if loaded == 0 {
				t.Fatal("the page of the dependency was not asked of the upstream while the kept file's row waited to commit")
			}
			m.up.Close() // waits for what follows a kept artifact
			if _, err := m.up.Cached(context.Background(), "dep", variantPage); err != nil {
				t.Errorf("the page of dep, loaded ahead, is not held once the writes go through: %v", err)
			}
		})
	}
}
