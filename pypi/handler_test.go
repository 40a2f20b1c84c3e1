package pypi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

const pipAccept = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"

// fakePyPI starts a pypitest server holding foo-bar 1.0 (a wheel with PEP
// 658 metadata, and an sdist) and 2.0 (a wheel).
func fakePyPI(t *testing.T) *pypitest.Server {
	t.Helper()
	up := pypitest.New()
	t.Cleanup(up.Close)
	up.AddWheel("Foo_Bar", "1.0", []string{"requests>=2"}, ">=3.8")
	up.AddSdist("Foo_Bar", "1.0", nil)
	up.AddWheel("Foo_Bar", "2.0", nil, ">=3.9")
	return up
}

func mirrorOf(t *testing.T, up *pypitest.Server, opts registries.Options) *testMirror {
	t.Helper()
	return newMirror(t, newTestEnv(t), up.IndexURL, []string{up.FilesURL}, opts)
}

func TestNamesAreRedirectedToTheNormalizedURL(t *testing.T) {
	up := fakePyPI(t)
	m := mirrorOf(t, up, registries.Options{})
	for _, tc := range []struct{ why, path, location string }{
		{"a name with underscores and capitals", "/pypi/simple/Foo_Bar/", "/pypi/simple/foo-bar/"},
		{"a name with dots", "/pypi/simple/foo.bar/", "/pypi/simple/foo-bar/"},
		{"a name with a run of separators", "/pypi/simple/foo--bar/", "/pypi/simple/foo-bar/"},
		{"a normalized name without the trailing slash", "/pypi/simple/foo-bar", "/pypi/simple/foo-bar/"},
		{"a non-normalized name without the trailing slash", "/pypi/simple/Foo_Bar", "/pypi/simple/foo-bar/"},
		{"the root without the trailing slash", "/pypi/simple", "/pypi/simple/"},
	} {
		r := m.get(t, tc.path)
		if r.status != http.StatusMovedPermanently || r.header.Get("Location") != tc.location {
			t.Errorf("%s: GET %s = %d to %q, want 301 to %s", tc.why, tc.path, r.status, r.header.Get("Location"), tc.location)
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("redirects asked the upstream %d times", n)
	}
}

func TestInvalidNamesAreBadRequests(t *testing.T) {
	up := fakePyPI(t)
	m := mirrorOf(t, up, registries.Options{})
	for _, tc := range []struct{ why, path string }{
		{"a leading separator", "/pypi/simple/-foo/"},
		{"a trailing separator", "/pypi/simple/foo_/"},
		{"a non-ASCII name", "/pypi/simple/f%C3%B6o/"},
		{"the Kelvin sign", "/pypi/simple/%E2%84%AA/"},
		{"a name of 201 characters", "/pypi/simple/" + strings.Repeat("a", 201) + "/"},
		{"an encoded slash", "/pypi/simple/foo%2fbar/"},
		{"a file of an invalid project", "/pypi/files/-foo/foo-1.0.tar.gz"},
		{"a hidden file name", "/pypi/files/foo-bar/.htaccess"},
		{"a file name with an encoded slash", "/pypi/files/foo-bar/..%2fx"},
		{"a file name with a percent sign", "/pypi/files/foo-bar/a%25b.whl"},
		{"a legacy page of an invalid project", "/pypi/pypi/-foo/json"},
		{"a legacy page of an invalid version", "/pypi/pypi/foo-bar/1.0%20x/json"},
	} {
		if r := m.get(t, tc.path); r.status != http.StatusBadRequest {
			t.Errorf("%s: GET %s = %d, want 400\n%s", tc.why, tc.path, r.status, r.body)
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("invalid requests asked the upstream %d times", n)
	}
}

func TestUnknownProjectsAreNotFound(t *testing.T) {
	up := fakePyPI(t)
	m := mirrorOf(t, up, registries.Options{})
	for _, accept := range []string{"", pipAccept, "text/html"} {
		r := m.get(t, "/pypi/simple/no-such-project/", "Accept", accept)
		if r.status != http.StatusNotFound {
			t.Errorf("Accept %q: %d, want 404 (an empty 200 breaks uv's index strategy)\n%s", accept, r.status, r.body)
		}
		if strings.Contains(r.body, "<a ") || strings.Contains(r.body, `"files"`) {
			t.Errorf("Accept %q: the 404 looks like a page: %s", accept, r.body)
		}
	}
	if r := m.get(t, "/pypi/files/no-such-project/x-1.0.tar.gz"); r.status != http.StatusNotFound {
		t.Errorf("a file of an unknown project: %d, want 404", r.status)
	}
	if r := m.get(t, "/pypi/files/foo-bar/foo_bar-9.9-py3-none-any.whl"); r.status != http.StatusNotFound {
		t.Errorf("a file the page does not list: %d, want 404", r.status)
	}
}

func TestOtherPathsAndMethods(t *testing.T) {
	up := fakePyPI(t)
	m := mirrorOf(t, up, registries.Options{})
	for _, path := range []string{"/pypi/", "/pypi/nothing", "/pypi/files/foo-bar", "/pypi/simple/foo-bar/extra/"} {
		if r := m.get(t, path); r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, r.status)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, m.srv.URL+"/pypi/simple/foo-bar/", strings.NewReader("x"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST = %d, Allow %q; want 405, GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestProjectPageServesEachFormatWithItsHeaders(t *testing.T) {
	up := fakePyPI(t)
	up.SetJSONDistInfoMetadata(true) // the mirror must not pass it on
	m := mirrorOf(t, up, registries.Options{})
	want := []string{"foo_bar-1.0-py3-none-any.whl", "foo_bar-1.0.tar.gz", "foo_bar-2.0-py3-none-any.whl"}
	for _, tc := range []struct{ client, accept, contentType string }{
		{"pip", pipAccept, "application/vnd.pypi.simple.v1+json"},
		{"old poetry", "", "text/html; charset=utf-8"},
		{"a client that asks for v1 HTML", "application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.v1+html"},
		{"a client that asks for images", "image/png", "text/html; charset=utf-8"},
	} {
		r := m.get(t, "/pypi/simple/foo-bar/", "Accept", tc.accept)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d\n%s", tc.client, r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != tc.contentType {
			t.Errorf("%s: Content-Type %q, want %q", tc.client, ct, tc.contentType)
		}
		if v := r.header.Get("Vary"); !strings.Contains(v, "Accept") {
			t.Errorf("%s: Vary %q lacks Accept", tc.client, v)
		}
		if s := r.header.Get("X-PyPI-Last-Serial"); s != strconv.Itoa(up.ProjectSerial("foo-bar")) {
			t.Errorf("%s: X-PyPI-Last-Serial %q, want %d", tc.client, s, up.ProjectSerial("foo-bar"))
		}
		if got := filenames(t, r); !sameStrings(got, want) {
			t.Errorf("%s: files %q, want %q", tc.client, got, want)
		}
		if strings.Contains(r.body, "127.0.0.1") {
			t.Errorf("%s: the page names the upstream's hosts:\n%s", tc.client, r.body)
		}
	}
	r := m.get(t, "/pypi/simple/foo-bar/", "Accept", pipAccept)
	for _, f := range jsonFiles(t, []byte(r.body)) {
		if _, ok := f["dist-info-metadata"]; ok {
			t.Errorf("%s has dist-info-metadata", f["filename"])
		}
		if f["url"] != "/pypi/files/foo-bar/"+f["filename"].(string) {
			t.Errorf("%s: url %v is not path-only under /pypi/files/foo-bar/", f["filename"], f["url"])
		}
		if _, ok := f["upload-time"]; !ok {
			t.Errorf("%s: upload-time lost (uv's exclude-newer needs it)", f["filename"])
		}
	}
	if again := m.get(t, "/pypi/simple/foo-bar/", "Accept", pipAccept, "If-None-Match", r.header.Get("ETag")); again.status != http.StatusNotModified {
		t.Errorf("If-None-Match with the page's ETag: %d, want 304", again.status)
	}
	if n := up.Count("index", http.MethodGet, "/simple/foo-bar/"); n != 1 {
		t.Errorf("the upstream page was fetched %d times, want once", n)
	}
}

func TestFilesAndMetadataAreServedWithTheirBytes(t *testing.T) {
	up := fakePyPI(t)
	m := mirrorOf(t, up, registries.Options{})
	name, data := pypitest.Wheel("Foo_Bar", "1.0", []string{"requests>=2"}, ">=3.8")
	if r := m.get(t, "/pypi/simple/foo-bar/"); r.status != http.StatusOK {
		t.Fatalf("page: %d", r.status)
	}
	r := m.get(t, "/pypi/files/foo-bar/"+name)
	if r.status != http.StatusOK || r.body != string(data) {
		t.Fatalf("file: %d, %d bytes, want 200 and the wheel's %d bytes", r.status, len(r.body), len(data))
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("file Cache-Control %q is not immutable", cc)
	}
	md := m.get(t, "/pypi/files/foo-bar/"+name+".metadata")
	want := pypitest.WheelMetadata("Foo_Bar", "1.0", []string{"requests>=2"}, ">=3.8")
	if md.status != http.StatusOK || md.body != string(want) {
		t.Errorf("metadata: %d %q, want %q", md.status, md.body, want)
	}
	m.waitHeld(t, "foo-bar", filePath("foo-bar", name))
	m.waitHeld(t, "foo-bar", filePath("foo-bar", name)+".metadata")
	if r := m.get(t, "/pypi/files/foo-bar/"+name); r.header.Get("X-Larder-Cache") != string(registries.Hit) {
		t.Errorf("a held file is served %q, want HIT", r.header.Get("X-Larder-Cache"))
	}
	// uv reads wheels by HTTP Range when it has no PEP 658 metadata.
	if r := m.get(t, "/pypi/files/foo-bar/"+name, "Range", "bytes=0-9"); r.status != http.StatusPartialContent || r.body != string(data[:10]) {
		t.Errorf("a range of a held file: %d, %q", r.status, r.body)
	}
	if r := m.get(t, "/pypi/files/Foo.Bar/"+name); r.status != http.StatusOK || r.body != string(data) {
		t.Errorf("a file under a non-normalized project name: %d", r.status)
	}
}

func TestAFileAskedBeforeItsPageIsFound(t *testing.T) {
	up := fakePyPI(t)
	m := mirrorOf(t, up, registries.Options{})
	name, data := pypitest.Wheel("Foo_Bar", "2.0", nil, ">=3.9")
	if r := m.get(t, "/pypi/files/Foo_Bar/"+name); r.status != http.StatusOK || r.body != string(data) {
		t.Fatalf("file before page: %d, %d bytes", r.status, len(r.body))
	}
	m.waitHeld(t, "foo-bar", filePath("foo-bar", name))
}

// scripted is an upstream index whose answers a test sets: a project page
// at /simple/p/, and files at /files/.
type scripted struct {
	srv *httptest.Server

	mu          sync.Mutex
	contentType string
	body        string
	serial      int
	files       map[string][]byte
	pageGets    int
}

func newScripted(t *testing.T) *scripted {
	t.Helper()
	s := &scripted{files: map[string][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case r.URL.Path == "/simple/p/":
			s.pageGets++
			if s.body == "" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", s.contentType)
			if s.serial > 0 {
				w.Header().Set("X-PyPI-Last-Serial", strconv.Itoa(s.serial))
			}
			w.Write([]byte(s.body))
		case strings.HasPrefix(r.URL.Path, "/files/"):
			data, ok := s.files[strings.TrimPrefix(r.URL.Path, "/files/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) indexURL() string { return s.srv.URL + "/simple/" }

func (s *scripted) setPage(contentType, body string, serial int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contentType, s.body, s.serial = contentType, body, serial
}

// addFile serves data at /files/name and returns its sha256.
func (s *scripted) addFile(name string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = data
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// htmlPage is a PEP 503 page linking each URL, with its file name as text.
func htmlPage(links ...string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for p</title></head><body>\n")
	for _, l := range links {
		u, _, _ := strings.Cut(l, "#")
		b.WriteString(`<a href="` + l + `">` + u[strings.LastIndexByte(u, '/')+1:] + "</a><br />\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

func TestFileLinksToOtherHostsAreDropped(t *testing.T) {
	index := newScripted(t)
	good := fakePyPI(t) // the configured file host
	trap := pypitest.New()
	t.Cleanup(trap.Close)
	goodName := "foo_bar-1.0-py3-none-any.whl"
	trapName := trap.AddWheel("p", "6.6.6", nil, "")
	index.setPage("text/html", htmlPage(
		good.FileURL(goodName),
		trap.FileURL(trapName),
		"http://169.254.169.254/latest/meta-data/p-1.0.tar.gz",
		"file:///etc/p-2.0.tar.gz",
	), 0)
	m := newMirror(t, newTestEnv(t), index.indexURL(), []string{good.FilesURL}, registries.Options{})

	r := m.get(t, "/pypi/simple/p/")
	if r.status != http.StatusOK {
		t.Fatalf("page: %d\n%s", r.status, r.body)
	}
	if got := filenames(t, r); !sameStrings(got, []string{goodName}) {
		t.Errorf("files %q, want only the one on the file host, %s", got, goodName)
	}
	for _, name := range []string{trapName, "p-1.0.tar.gz", "p-2.0.tar.gz"} {
		if r := m.get(t, "/pypi/files/p/"+name); r.status != http.StatusNotFound {
			t.Errorf("the dropped file %s: %d, want 404", name, r.status)
		}
	}
	if n := len(trap.Requests()); n != 0 {
		t.Errorf("the trap host was asked %d times: %+v", n, trap.Requests())
	}
	if r := m.get(t, "/pypi/files/p/"+goodName); r.status != http.StatusOK {
		t.Errorf("the file on the file host: %d", r.status)
	}
	m.waitHeld(t, "p", filePath("p", goodName))
}

func TestAnUnusableUpstreamPageIsABadGatewayAndNotCached(t *testing.T) {
	index := newScripted(t)
	sum := index.addFile("p-1.0.tar.gz", []byte("sdist"))
	m := newMirror(t, newTestEnv(t), index.indexURL(), nil, registries.Options{MetadataTTL: time.Nanosecond})
	for _, tc := range []struct{ why, contentType, body string }{
		{"text/plain garbage", "text/plain; charset=utf-8", "garbage\n"},
		{"an octet stream", "application/octet-stream", "\x00\x01"},
		{"JSON of api-version 2", mediaJSON, `{"meta":{"api-version":"2.0"},"name":"p","files":[]}`},
		{"HTML of repository version 2", "text/html", `<meta name="pypi:repository-version" content="2.0">`},
		{"broken JSON", mediaJSON, `{"meta":`},
	} {
		index.setPage(tc.contentType, tc.body, 0)
		if r := m.get(t, "/pypi/simple/p/"); r.status != http.StatusBadGateway {
			t.Errorf("%s: %d, want 502\n%s", tc.why, r.status, r.body)
		}
		if _, err := m.up.Cached(context.Background(), "p", variantPage); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s: something was cached (%v)", tc.why, err)
		}
	}
	index.setPage("text/html", htmlPage("/files/p-1.0.tar.gz#sha256="+sum), 0)
	r := m.get(t, "/pypi/simple/p/")
	if r.status != http.StatusOK || !sameStrings(filenames(t, r), []string{"p-1.0.tar.gz"}) {
		t.Errorf("a good page after bad ones: %d\n%s", r.status, r.body)
	}
}

func TestAnOlderSerialKeepsTheHeldPage(t *testing.T) {
	index := newScripted(t)
	sum1 := index.addFile("p-1.0.tar.gz", []byte("one"))
	sum2 := index.addFile("p-2.0.tar.gz", []byte("two"))
	m := newMirror(t, newTestEnv(t), index.indexURL(), nil, registries.Options{MetadataTTL: time.Nanosecond})
	both := htmlPage("/files/p-1.0.tar.gz#sha256="+sum1, "/files/p-2.0.tar.gz#sha256="+sum2)

	index.setPage("text/html", both, 10)
	if r := m.get(t, "/pypi/simple/p/"); r.status != http.StatusOK || len(filenames(t, r)) != 2 {
		t.Fatalf("first page: %d\n%s", r.status, r.body)
	}
	// Hold 2.0, so that it is listed whatever view larder serves.
	if r := m.get(t, "/pypi/files/p/p-2.0.tar.gz"); r.status != http.StatusOK {
		t.Fatalf("file: %d", r.status)
	}
	m.waitHeld(t, "p", filePath("p", "p-2.0.tar.gz"))

	// A lagging CDN node answers with an older page, without 2.0.
	index.setPage("text/html", htmlPage("/files/p-1.0.tar.gz#sha256="+sum1), 7)
	r := m.get(t, "/pypi/simple/p/")
	if r.status != http.StatusOK {
		t.Fatalf("page after an older serial: %d\n%s", r.status, r.body)
	}
	if s := r.header.Get("X-PyPI-Last-Serial"); s != "10" {
		t.Errorf("X-PyPI-Last-Serial %q, want the held 10", s)
	}
	if got := filenames(t, r); !contains(got, "p-2.0.tar.gz") {
		t.Errorf("files %q: the newer file was lost to an older page", got)
	}
	doc, err := m.up.Cached(context.Background(), "p", variantPage)
	if err != nil {
		t.Fatal(err)
	}
	held, err := m.reg.loadProject(context.Background(), doc)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Serial != 10 || len(held.Files) != 2 {
		t.Errorf("stored page: serial %d, %d files; want the serial-10 page with both", doc.Serial, len(held.Files))
	}

	// A newer page is taken.
	index.setPage("text/html", htmlPage("/files/p-1.0.tar.gz#sha256="+sum1), 11)
	r = m.get(t, "/pypi/simple/p/")
	if got := filenames(t, r); !sameStrings(got, []string{"p-1.0.tar.gz"}) || r.header.Get("X-PyPI-Last-Serial") != "11" {
		t.Errorf("a newer page: files %q, serial %q", got, r.header.Get("X-PyPI-Last-Serial"))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestOfflineListsOnlyHeldFiles(t *testing.T) {
	up := fakePyPI(t)
	env := newTestEnv(t)
	online := newMirror(t, env, up.IndexURL, []string{up.FilesURL}, registries.Options{})
	heldName := "foo_bar-1.0-py3-none-any.whl"
	if r := online.get(t, "/pypi/simple/foo-bar/"); r.status != http.StatusOK {
		t.Fatalf("page: %d", r.status)
	}
	if r := online.get(t, "/pypi/files/foo-bar/"+heldName); r.status != http.StatusOK {
		t.Fatalf("file: %d", r.status)
	}
	online.waitHeld(t, "foo-bar", filePath("foo-bar", heldName))
	up.Reset()

	offline := newMirror(t, env, up.IndexURL, []string{up.FilesURL}, registries.Options{Offline: true})
	for _, accept := range []string{pipAccept, ""} {
		r := offline.get(t, "/pypi/simple/foo-bar/", "Accept", accept)
		if r.status != http.StatusOK {
			t.Fatalf("offline page: %d\n%s", r.status, r.body)
		}
		if got := filenames(t, r); !sameStrings(got, []string{heldName}) {
			t.Errorf("Accept %q: offline page lists %q, want only the held %s", accept, got, heldName)
		}
	}
	r := offline.get(t, "/pypi/simple/foo-bar/", "Accept", pipAccept)
	var page struct {
		Versions []string `json:"versions"`
	}
	if err := json.Unmarshal([]byte(r.body), &page); err != nil || !sameStrings(page.Versions, []string{"1.0"}) {
		t.Errorf("offline versions %q (%v), want only the held 1.0", page.Versions, err)
	}
	if r := offline.get(t, "/pypi/files/foo-bar/"+heldName); r.status != http.StatusOK {
		t.Errorf("held file offline: %d", r.status)
	}
	if r := offline.get(t, "/pypi/files/foo-bar/foo_bar-2.0-py3-none-any.whl"); r.status != http.StatusNotFound {
		t.Errorf("a file never held, offline: %d, want 404", r.status)
	}
	if r := offline.get(t, "/pypi/simple/other/"); r.status != http.StatusNotFound {
		t.Errorf("a project never cached, offline: %d, want 404", r.status)
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("offline, larder asked the upstream %d times", n)
	}

	// The view is rendered once, yet follows what is held: a file stored
	// meanwhile (here through the online mirror on the same data) shows.
	second := "foo_bar-2.0-py3-none-any.whl"
	if r := online.get(t, "/pypi/files/foo-bar/"+second); r.status != http.StatusOK {
		t.Fatalf("second file: %d", r.status)
	}
	online.waitHeld(t, "foo-bar", filePath("foo-bar", second))
	r = offline.get(t, "/pypi/simple/foo-bar/", "Accept", pipAccept)
	if got := filenames(t, r); !sameStrings(got, []string{heldName, second}) {
		t.Errorf("after a second file is held, the offline page lists %q", got)
	}
}

func TestLegacyJSONPointsFilesAtLarder(t *testing.T) {
	up := fakePyPI(t)
	m := mirrorOf(t, up, registries.Options{})
	for _, path := range []string{"/pypi/pypi/Foo_Bar/json", "/pypi/pypi/foo-bar/1.0/json"} {
		r := m.get(t, path)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %q\n%s", path, r.status, r.header.Get("Content-Type"), r.body)
		}
		var doc struct {
			Info map[string]any `json:"info"`
			URLs []legacyFile   `json:"urls"`
		}
		if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.URLs) == 0 || doc.Info["name"] == nil {
			t.Fatalf("GET %s: no files or no info:\n%s", path, r.body)
		}
		for _, f := range doc.URLs {
			if want := m.srv.URL + "/pypi/files/foo-bar/" + f.Filename; f.URL != want {
				t.Errorf("GET %s: %s at %s, want %s", path, f.Filename, f.URL, want)
			}
		}
		if strings.Contains(r.body, up.FilesURL) {
			t.Errorf("GET %s: an upstream file URL is left", path)
		}
	}
	if r := m.get(t, "/pypi/pypi/no-such-project/json"); r.status != http.StatusNotFound {
		t.Errorf("legacy JSON of an unknown project: %d, want 404", r.status)
	}
	// The files the legacy document points at are served.
	name, data := pypitest.Sdist("Foo_Bar", "1.0", nil)
	if r := m.get(t, "/pypi/files/foo-bar/"+name); r.status != http.StatusOK || r.body != string(data) {
		t.Errorf("file from the legacy document: %d", r.status)
	}
	m.waitHeld(t, "foo-bar", filePath("foo-bar", name))
}

func TestRootListsUpstreamAndLocalProjects(t *testing.T) {
	up := fakePyPI(t)
	up.AddSdist("Other.Project", "0.1", nil)
	m := mirrorOf(t, up, registries.Options{})
	if r := m.get(t, "/pypi/simple/foo-bar/"); r.status != http.StatusOK {
		t.Fatalf("page: %d", r.status)
	}
	// The first answer comes from what larder has; the upstream's list is
	// fetched in the background.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := m.get(t, "/pypi/simple/", "Accept", pipAccept)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != mediaJSON {
			t.Fatalf("root: %d %q", r.status, r.header.Get("Content-Type"))
		}
		names, err := parseRoot([]byte(r.body), mediaJSON)
		if err != nil {
			t.Fatal(err)
		}
		if contains(names, "Other.Project") {
			if !contains(names, "Foo_Bar") && !contains(names, "foo-bar") {
				t.Errorf("root %q lacks foo-bar", names)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upstream's root list never showed: %q", names)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := m.get(t, "/pypi/simple/")
	if !strings.Contains(r.body, `<a href="/pypi/simple/other-project/">Other.Project</a>`) {
		t.Errorf("HTML root:\n%s", r.body)
	}
}
