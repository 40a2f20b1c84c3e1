package pypitest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	pipAccept  = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
	uvAccept   = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
	poetry23   = "application/vnd.pypi.simple.v1+json, */*;q=0.1"
	jsonAccept = MediaV1JSON
)

// client never follows redirects and never decompresses, so tests see
// exactly what the server sent.
var client = &http.Client{
	Transport: &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
	Timeout: 10 * time.Second,
}

type response struct {
	*http.Response
	body []byte
}

func fetch(t *testing.T, method, u string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return response{resp, body}
}

func get(t *testing.T, u string, headers ...string) response {
	t.Helper()
	return fetch(t, http.MethodGet, u, headers...)
}

func newServer(t *testing.T) *Server {
	t.Helper()
	s := New()
	t.Cleanup(s.Close)
	return s
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type simpleDetail struct {
	Meta struct {
		APIVersion string `json:"api-version"`
		LastSerial int    `json:"_last-serial"`
	} `json:"meta"`
	Name     string           `json:"name"`
	Versions []string         `json:"versions"`
	Files    []map[string]any `json:"files"`
}

func TestNegotiatePicksTheFormatPyPIWould(t *testing.T) {
	for _, tc := range []struct {
		client, accept, want string
	}{
		{"pip", pipAccept, MediaV1JSON},
		{"uv", uvAccept, MediaV1JSON},
		{"poetry 2.3", poetry23, MediaV1JSON},
		{"old poetry (no Accept)", "", MediaHTML},
		{"curl", "*/*", MediaHTML},
		{"a browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", MediaHTML},
		{"a client asking for v1 HTML", MediaV1HTML, MediaV1HTML},
		{"a client preferring v1 HTML", "application/vnd.pypi.simple.v1+json;q=0.5, application/vnd.pypi.simple.v1+html", MediaV1HTML},
		{"a client asking for something else", "application/xml", MediaHTML},
		{"a client refusing HTML", "text/html;q=0, application/vnd.pypi.simple.v1+json;q=0.2", MediaV1JSON},
		{"a client with upper case", "Application/Vnd.PyPI.Simple.V1+JSON", MediaV1JSON},
		{"a client with application/*", "application/*", MediaV1HTML},
		{"a client with a bad q", "application/vnd.pypi.simple.v1+json;q=x, text/html;q=0.1", MediaHTML},
	} {
		if got := Negotiate(tc.accept); got != tc.want {
			t.Errorf("%s (Accept %q): got %s, want %s", tc.client, tc.accept, got, tc.want)
		}
	}
}

func TestDetailPageIsServedInTheNegotiatedFormatWithItsExactContentType(t *testing.T) {
	s := newServer(t)
	s.AddWheel("proj", "1.0", nil, "")
	for _, tc := range []struct {
		client, accept, wantType string
	}{
		{"pip", pipAccept, "application/vnd.pypi.simple.v1+json"},
		{"uv", uvAccept, "application/vnd.pypi.simple.v1+json"},
		{"no Accept", "", "text/html; charset=utf-8"},
		{"*/*", "*/*", "text/html; charset=utf-8"},
		{"v1 HTML", MediaV1HTML, "application/vnd.pypi.simple.v1+html"},
		{"unacceptable", "image/png", "text/html; charset=utf-8"},
	} {
		var r response
		if tc.accept == "" {
			r = get(t, s.IndexURL+"proj/")
		} else {
			r = get(t, s.IndexURL+"proj/", "Accept", tc.accept)
		}
		if r.StatusCode != 200 {
			t.Errorf("%s: status %d", tc.client, r.StatusCode)
		}
		if got := r.Header.Get("Content-Type"); got != tc.wantType {
			t.Errorf("%s: Content-Type %q, want %q", tc.client, got, tc.wantType)
		}
		if got := r.Header.Get("Vary"); got != "Accept, Accept-Encoding" {
			t.Errorf("%s: Vary %q", tc.client, got)
		}
		isJSON := json.Valid(r.body)
		if wantJSON := strings.Contains(tc.wantType, "json"); isJSON != wantJSON {
			t.Errorf("%s: body is JSON: %v, want %v", tc.client, isJSON, wantJSON)
		}
	}
	if r := get(t, s.IndexURL+"proj/?format="+url.QueryEscape(MediaV1JSON)); r.Header.Get("Content-Type") != MediaV1JSON {
		t.Errorf("?format=json gave %q", r.Header.Get("Content-Type"))
	}
}

func TestJSONDetailPageCarriesEveryFileFieldLikePyPI(t *testing.T) {
	s := newServer(t)
	up := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	whl, wdata := Wheel("Foo_Bar", "1.0", []string{"dep"}, ">=3.8")
	meta := WheelMetadata("Foo_Bar", "1.0", []string{"dep"}, ">=3.8")
	s.AddFile("Foo_Bar", whl, wdata, FileOpts{RequiresPython: ">=3.8", Metadata: meta, UploadTime: up})
	sd, sdata := Sdist("Foo_Bar", "0.9", nil)
	s.AddFile("Foo_Bar", sd, sdata, FileOpts{Yanked: true, YankedReason: "broken <b>", UploadTime: up})
	s.AddFile("Foo_Bar", "foo_bar-0.8.tar.gz", []byte("x"), FileOpts{Yanked: true})

	r := get(t, s.IndexURL+"foo-bar/", "Accept", pipAccept)
	var d simpleDetail
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, r.body)
	}
	if d.Meta.APIVersion != "1.1" || d.Meta.LastSerial != s.ProjectSerial("foo-bar") || d.Meta.LastSerial != 3 {
		t.Errorf("meta = %+v, project serial %d", d.Meta, s.ProjectSerial("foo-bar"))
	}
	if d.Name != "foo-bar" {
		t.Errorf("name = %q, want the normalized name", d.Name)
	}
	if strings.Join(d.Versions, ",") != "0.8,0.9,1.0" {
		t.Errorf("versions = %v", d.Versions)
	}
	if len(d.Files) != 3 {
		t.Fatalf("files = %v", d.Files)
	}
	byName := map[string]map[string]any{}
	for _, f := range d.Files {
		byName[f["filename"].(string)] = f
	}
	w := byName[whl]
	for key, want := range map[string]any{
		"url":                     s.FileURL(whl),
		"hashes":                  map[string]any{"sha256": sha256hex(wdata)},
		"requires-python":         ">=3.8",
		"size":                    float64(len(wdata)),
		"upload-time":             "2024-05-06T07:08:09.123456Z",
		"yanked":                  false,
		"core-metadata":           map[string]any{"sha256": sha256hex(meta)},
		"data-dist-info-metadata": map[string]any{"sha256": sha256hex(meta)},
	} {
		if got, _ := json.Marshal(w[key]); string(got) != string(must(json.Marshal(want))) {
			t.Errorf("wheel %s = %s, want %s", key, got, must(json.Marshal(want)))
		}
	}
	if _, ok := w["dist-info-metadata"]; ok {
		t.Error("JSON carries dist-info-metadata, which crashes pip 22.3-23.1 and PyPI never sends")
	}
	wantURL := s.FilesURL + "packages/" + sha256hex(wdata)[0:2] + "/" + sha256hex(wdata)[2:4] + "/" + sha256hex(wdata)[4:] + "/" + whl
	if w["url"] != wantURL {
		t.Errorf("url = %v, want %v", w["url"], wantURL)
	}
	sdf := byName[sd]
	for key, want := range map[string]any{"yanked": "broken <b>", "core-metadata": false, "requires-python": nil} {
		if sdf[key] != want {
			t.Errorf("sdist %s = %#v, want %#v", key, sdf[key], want)
		}
	}
	if y := byName["foo_bar-0.8.tar.gz"]["yanked"]; y != true {
		t.Errorf("yanked without a reason = %#v, want true", y)
	}
	if !bytes.Contains(r.body, []byte(`">=3.8"`)) {
		t.Errorf("requires-python is escaped in JSON: %s", r.body)
	}

	s.SetJSONDistInfoMetadata(true)
	r = get(t, s.IndexURL+"foo-bar/", "Accept", pipAccept)
	if !bytes.Contains(r.body, []byte(`"dist-info-metadata":{"sha256"`)) {
		t.Errorf("SetJSONDistInfoMetadata(true) did not add the bare key: %s", r.body)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestHTMLDetailPageIsPEP503WithEscapedAttributes(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, ">=3.8")
	meta := WheelMetadata("proj", "1.0", nil, ">=3.8")
	s.AddFile("proj", "proj-0.5.tar.gz", []byte("sdist"), FileOpts{Yanked: true, YankedReason: `bad "quote" & <tag>`})
	s.AddFile("proj", "proj-0.4.tar.gz", []byte("old"), FileOpts{Yanked: true})
	r := get(t, s.IndexURL+"proj/")
	body := string(r.body)
	for _, want := range []string{
		"<!DOCTYPE html>",
		`<meta name="pypi:repository-version" content="1.1">`,
		"<title>Links for proj</title>",
		"<h1>Links for proj</h1>",
		fmt.Sprintf(`<a href="%s#sha256=%s" data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256=%s" data-core-metadata="sha256=%s">%s</a><br />`,
			s.FileURL(whl), sha256hex(mustWheel("proj", "1.0", ">=3.8")), sha256hex(meta), sha256hex(meta), whl),
		`data-yanked="bad &#34;quote&#34; &amp; &lt;tag&gt;">proj-0.5.tar.gz</a>`,
		`data-yanked="">proj-0.4.tar.gz</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("HTML lacks %s\n%s", want, body)
		}
	}
	if strings.Index(body, "proj-0.4.tar.gz") > strings.Index(body, "proj-0.5.tar.gz") || strings.Index(body, "proj-0.5.tar.gz") > strings.Index(body, whl) {
		t.Errorf("files are not in version order:\n%s", body)
	}
}

func mustWheel(name, version, rp string) []byte {
	_, data := Wheel(name, version, nil, rp)
	return data
}

func TestNonCanonicalIndexURLsRedirectWithAPathOnlyLocation(t *testing.T) {
	s := newServer(t)
	s.AddWheel("Foo_Bar", "1.0", nil, "")
	base := strings.TrimSuffix(s.IndexURL, "simple/")
	for _, tc := range []struct{ path, location string }{
		{"simple/Foo_Bar/", "/simple/foo-bar/"},
		{"simple/FOO.bar/", "/simple/foo-bar/"},
		{"simple/Foo_Bar", "/simple/foo-bar/"},
		{"simple/foo-bar", "/simple/foo-bar/"},
		{"simple/unknown", "/simple/unknown/"},
		{"simple", "/simple/"},
		{"simple/Foo_Bar/?format=x", "/simple/foo-bar/?format=x"},
	} {
		r := get(t, base+tc.path, "Accept", pipAccept)
		if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != tc.location {
			t.Errorf("GET /%s: %d Location %q, want 301 %q", tc.path, r.StatusCode, r.Header.Get("Location"), tc.location)
		}
	}
}

func TestUnknownThingsAre404(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("known", "1.0", nil, "")
	base := strings.TrimSuffix(s.IndexURL, "simple/")
	for _, tc := range []struct{ what, url string }{
		{"an unknown project", s.IndexURL + "unknown/"},
		{"an unknown non-normalized project", s.IndexURL + "Un_Known/"},
		{"a path below a project", s.IndexURL + "known/x/"},
		{"an unknown legacy JSON project", base + "pypi/unknown/json"},
		{"an unknown legacy JSON version", base + "pypi/known/9.9/json"},
		{"an unknown path on the index host", base + "nope"},
		{"a file on the index host", base + strings.TrimPrefix(s.FileURL(whl), s.FilesURL)},
		{"an unknown file", s.FilesURL + "packages/00/00/0000/nope-1.0.tar.gz"},
		{"metadata of a file without it", s.FilesURL + "packages/00/00/0000/nope-1.0.tar.gz.metadata"},
		{"the simple index on the files host", s.FilesURL + "simple/known/"},
	} {
		r := get(t, tc.url, "Accept", pipAccept)
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("%s (%s): status %d, want 404", tc.what, tc.url, r.StatusCode)
		}
		if r.Header.Get("Content-Type") == "" {
			t.Errorf("%s: 404 without a Content-Type", tc.what)
		}
	}
	sd := s.AddSdist("known", "0.1", nil)
	if r := get(t, s.FileURL(sd)+".metadata"); r.StatusCode != 404 {
		t.Errorf("metadata of an sdist added without it: %d, want 404", r.StatusCode)
	}
}

func TestIndexPagesCarryPyPIHeadersAndAnswerIfNoneMatchWith304(t *testing.T) {
	s := newServer(t)
	s.AddWheel("proj", "1.0", nil, "")
	base := strings.TrimSuffix(s.IndexURL, "simple/")
	for _, tc := range []struct{ what, url, accept string }{
		{"JSON detail", s.IndexURL + "proj/", pipAccept},
		{"HTML detail", s.IndexURL + "proj/", ""},
		{"JSON root", s.IndexURL, jsonAccept},
		{"HTML root", s.IndexURL, "text/html"},
		{"legacy JSON", base + "pypi/proj/json", ""},
		{"legacy version JSON", base + "pypi/proj/1.0/json", ""},
	} {
		r := get(t, tc.url, "Accept", tc.accept)
		etag := r.Header.Get("ETag")
		if r.StatusCode != 200 || !strings.HasPrefix(etag, `"`) || etag != ETagOf(r.body) {
			t.Errorf("%s: status %d, ETag %q (want strong %q)", tc.what, r.StatusCode, etag, ETagOf(r.body))
		}
		if r.Header.Get("X-PyPI-Last-Serial") != "1" {
			t.Errorf("%s: X-PyPI-Last-Serial %q, want 1", tc.what, r.Header.Get("X-PyPI-Last-Serial"))
		}
		if cc := r.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "max-age=") || !strings.HasSuffix(cc, ", public") {
			t.Errorf("%s: Cache-Control %q", tc.what, cc)
		}
		for _, inm := range []string{etag, `"other", ` + etag, "W/" + etag, "*"} {
			r2 := get(t, tc.url, "Accept", tc.accept, "If-None-Match", inm)
			if r2.StatusCode != http.StatusNotModified || len(r2.body) != 0 || r2.Header.Get("ETag") != etag {
				t.Errorf("%s, If-None-Match %s: status %d, body %d bytes, ETag %q; want 304", tc.what, inm, r2.StatusCode, len(r2.body), r2.Header.Get("ETag"))
			}
		}
		if r3 := get(t, tc.url, "Accept", tc.accept, "If-None-Match", `"stale"`); r3.StatusCode != 200 {
			t.Errorf("%s with a stale ETag: status %d, want 200", tc.what, r3.StatusCode)
		}
	}
	if r := get(t, s.IndexURL+"proj/", "Accept", pipAccept); r.Header.Get("Cache-Control") != "max-age=600, public" {
		t.Errorf("simple page Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	j := get(t, s.IndexURL+"proj/", "Accept", pipAccept)
	h := get(t, s.IndexURL+"proj/")
	if j.Header.Get("ETag") == h.Header.Get("ETag") {
		t.Error("JSON and HTML have the same ETag")
	}
	s.AddWheel("proj", "1.1", nil, "")
	if r := get(t, s.IndexURL+"proj/", "Accept", pipAccept, "If-None-Match", j.Header.Get("ETag")); r.StatusCode != 200 {
		t.Errorf("after a new upload the old ETag still gives %d", r.StatusCode)
	}
}

func TestIndexPagesAreGzippedWhenTheClientAcceptsIt(t *testing.T) {
	s := newServer(t)
	s.AddWheel("proj", "1.0", nil, "")
	plain := get(t, s.IndexURL+"proj/", "Accept", pipAccept)
	for _, tc := range []struct {
		acceptEncoding string
		gzipped        bool
	}{
		{"gzip", true},
		{"gzip, deflate, br", true},
		{"br;q=1.0, GZIP;q=0.5", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"", false},
	} {
		r := get(t, s.IndexURL+"proj/", "Accept", pipAccept, "Accept-Encoding", tc.acceptEncoding)
		if got := r.Header.Get("Content-Encoding") == "gzip"; got != tc.gzipped {
			t.Errorf("Accept-Encoding %q: gzipped %v, want %v", tc.acceptEncoding, got, tc.gzipped)
			continue
		}
		body := r.body
		if tc.gzipped {
			zr, err := gzip.NewReader(bytes.NewReader(r.body))
			if err != nil {
				t.Fatalf("not gzip: %v", err)
			}
			body, _ = io.ReadAll(zr)
		}
		if !bytes.Equal(body, plain.body) {
			t.Errorf("Accept-Encoding %q: body differs from the plain one", tc.acceptEncoding)
		}
		if r.Header.Get("Content-Length") != fmt.Sprint(len(r.body)) {
			t.Errorf("Accept-Encoding %q: Content-Length %q for %d bytes", tc.acceptEncoding, r.Header.Get("Content-Length"), len(r.body))
		}
	}
}

func TestRootListsEveryProjectWithTheGlobalSerial(t *testing.T) {
	s := newServer(t)
	s.AddWheel("Zeta", "1.0", nil, "")
	s.AddWheel("alpha_one", "1.0", nil, "")
	s.AddWheel("alpha_one", "1.1", nil, "")
	r := get(t, s.IndexURL, "Accept", jsonAccept)
	var root struct {
		Meta struct {
			APIVersion string `json:"api-version"`
			LastSerial int    `json:"_last-serial"`
		} `json:"meta"`
		Projects []struct {
			Name string `json:"name"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(r.body, &root); err != nil {
		t.Fatal(err)
	}
	if root.Meta.LastSerial != 3 || r.Header.Get("X-PyPI-Last-Serial") != "3" || len(root.Projects) != 2 || root.Projects[0].Name != "alpha_one" || root.Projects[1].Name != "Zeta" {
		t.Errorf("root = %+v, serial header %s", root, r.Header.Get("X-PyPI-Last-Serial"))
	}
	h := get(t, s.IndexURL)
	if !bytes.Contains(h.body, []byte(`<a href="/simple/alpha-one/">alpha_one</a>`)) {
		t.Errorf("HTML root:\n%s", h.body)
	}
}

func TestSerialsOnlyGrow(t *testing.T) {
	s := newServer(t)
	s.AddWheel("a", "1.0", nil, "")
	s.AddWheel("b", "1.0", nil, "")
	if s.ProjectSerial("a") != 1 || s.ProjectSerial("b") != 2 || s.Serial() != 2 {
		t.Fatalf("serials a=%d b=%d global=%d", s.ProjectSerial("a"), s.ProjectSerial("b"), s.Serial())
	}
	s.AddWheel("A", "2.0", nil, "")
	if s.ProjectSerial("a") != 3 || s.Serial() != 3 {
		t.Errorf("after another upload: a=%d global=%d", s.ProjectSerial("a"), s.Serial())
	}
	if !s.SetYanked("a", "a-1.0-py3-none-any.whl", true, "oops") || s.ProjectSerial("a") != 4 {
		t.Errorf("yanking: serial %d", s.ProjectSerial("a"))
	}
	r := get(t, s.IndexURL+"a/", "Accept", pipAccept)
	if !bytes.Contains(r.body, []byte(`"yanked":"oops"`)) || r.Header.Get("X-PyPI-Last-Serial") != "4" {
		t.Errorf("yanked page (serial %s): %s", r.Header.Get("X-PyPI-Last-Serial"), r.body)
	}
	u := s.FileURL("a-1.0-py3-none-any.whl")
	if !s.RemoveFile("a", "a-1.0-py3-none-any.whl") || s.ProjectSerial("a") != 5 {
		t.Errorf("removing: serial %d", s.ProjectSerial("a"))
	}
	if r := get(t, u); r.StatusCode != 404 {
		t.Errorf("a removed file answers %d", r.StatusCode)
	}
	if s.SetYanked("a", "nope", true, "") || s.RemoveFile("nope", "x") {
		t.Error("changing an unknown file reported success")
	}
}

func TestFilesLiveOnASeparateHostWithImmutableCaching(t *testing.T) {
	s := newServer(t)
	whl, data := Wheel("proj", "1.0", nil, "")
	meta := WheelMetadata("proj", "1.0", nil, "")
	s.AddFile("proj", whl, data, FileOpts{Metadata: meta})
	iu, _ := url.Parse(s.IndexURL)
	fu, _ := url.Parse(s.FileURL(whl))
	if iu.Host == fu.Host {
		t.Fatalf("index and files share host %s", iu.Host)
	}
	if !strings.HasPrefix(s.FileURL(whl), s.FilesURL+"packages/") {
		t.Errorf("FileURL = %s", s.FileURL(whl))
	}
	for _, tc := range []struct {
		what, url string
		want      []byte
	}{
		{"wheel", s.FileURL(whl), data},
		{"metadata", s.FileURL(whl) + ".metadata", meta},
		{"metadata by MetadataURL", s.MetadataURL(whl), meta},
	} {
		r := get(t, tc.url)
		if r.StatusCode != 200 || !bytes.Equal(r.body, tc.want) {
			t.Errorf("%s: status %d, %d bytes, want %d", tc.what, r.StatusCode, len(r.body), len(tc.want))
		}
		if r.Header.Get("Cache-Control") != "max-age=365000000, immutable, public" {
			t.Errorf("%s: Cache-Control %q", tc.what, r.Header.Get("Cache-Control"))
		}
		if r.Header.Get("ETag") != `"`+sha256hex(tc.want)+`"` || r.Header.Get("Content-Length") != fmt.Sprint(len(tc.want)) {
			t.Errorf("%s: ETag %q Content-Length %q", tc.what, r.Header.Get("ETag"), r.Header.Get("Content-Length"))
		}
		if r2 := get(t, tc.url, "If-None-Match", r.Header.Get("ETag")); r2.StatusCode != 304 {
			t.Errorf("%s: If-None-Match gave %d", tc.what, r2.StatusCode)
		}
		h := fetch(t, http.MethodHead, tc.url)
		if h.StatusCode != 200 || len(h.body) != 0 || h.Header.Get("Content-Length") != fmt.Sprint(len(tc.want)) {
			t.Errorf("%s HEAD: status %d, body %d, Content-Length %q", tc.what, h.StatusCode, len(h.body), h.Header.Get("Content-Length"))
		}
	}
	if s.Count("files", "GET", fu.Path) != 2 || s.Count("index", "GET", fu.Path) != 0 {
		t.Errorf("counts: files %d, index %d", s.Count("files", "GET", fu.Path), s.Count("index", "GET", fu.Path))
	}
	if s.FileURL("nope.whl") != "" || s.MetadataURL("nope.whl") != "" {
		t.Error("URLs for an unknown file are not empty")
	}
}

func TestFilesAnswerRangeRequests(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, "")
	_, data := Wheel("proj", "1.0", nil, "")
	n := len(data)
	for _, tc := range []struct {
		rng    string
		status int
		want   []byte
	}{
		{"bytes=0-9", 206, data[:10]},
		{fmt.Sprintf("bytes=-%d", 22), 206, data[n-22:]},
		{"bytes=10-", 206, data[10:]},
		{fmt.Sprintf("bytes=%d-", n+10), 416, nil},
	} {
		r := get(t, s.FileURL(whl), "Range", tc.rng)
		if r.StatusCode != tc.status {
			t.Errorf("Range %s: status %d, want %d", tc.rng, r.StatusCode, tc.status)
			continue
		}
		if tc.status == 206 {
			if !bytes.Equal(r.body, tc.want) || !strings.HasSuffix(r.Header.Get("Content-Range"), fmt.Sprintf("/%d", n)) {
				t.Errorf("Range %s: %d bytes, Content-Range %q", tc.rng, len(r.body), r.Header.Get("Content-Range"))
			}
		}
	}
	if r := fetch(t, http.MethodHead, s.FileURL(whl)); r.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("Accept-Ranges %q", r.Header.Get("Accept-Ranges"))
	}
}

func TestLegacyJSONAPIDescribesReleasesAndFiles(t *testing.T) {
	s := newServer(t)
	s.AddWheel("My_Proj", "1.0", []string{"dep>=1"}, ">=3.8")
	s.AddSdist("My_Proj", "1.0", []string{"dep>=1"})
	s.AddWheel("My_Proj", "2.0b1", nil, "")
	old := s.AddWheel("My_Proj", "0.5", nil, "")
	s.SetYanked("My_Proj", old, true, "too old")
	base := strings.TrimSuffix(s.IndexURL, "simple/")

	var doc struct {
		Info struct {
			Name           string   `json:"name"`
			Version        string   `json:"version"`
			Summary        string   `json:"summary"`
			RequiresDist   []string `json:"requires_dist"`
			RequiresPython string   `json:"requires_python"`
		} `json:"info"`
		LastSerial int                         `json:"last_serial"`
		Releases   map[string][]map[string]any `json:"releases"`
		URLs       []map[string]any            `json:"urls"`
	}
	r := get(t, base+"pypi/my-proj/json")
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Name != "My_Proj" || doc.Info.Version != "1.0" || doc.Info.RequiresPython != ">=3.8" || fmt.Sprint(doc.Info.RequiresDist) != "[dep>=1]" || doc.Info.Summary == "" {
		t.Errorf("info = %+v", doc.Info)
	}
	if doc.LastSerial != s.ProjectSerial("my-proj") {
		t.Errorf("last_serial %d", doc.LastSerial)
	}
	if len(doc.Releases) != 3 || len(doc.Releases["1.0"]) != 2 || len(doc.URLs) != 2 {
		t.Fatalf("releases %v, urls %v", doc.Releases, doc.URLs)
	}
	types := map[string]bool{}
	for _, f := range doc.URLs {
		types[f["packagetype"].(string)] = true
		fn := f["filename"].(string)
		if f["url"] != s.FileURL(fn) || f["digests"].(map[string]any)["sha256"] == "" || f["upload_time_iso_8601"] == "" || f["size"].(float64) == 0 {
			t.Errorf("file %v", f)
		}
	}
	if !types["bdist_wheel"] || !types["sdist"] {
		t.Errorf("package types %v", types)
	}
	if y := doc.Releases["0.5"][0]; y["yanked"] != true || y["yanked_reason"] != "too old" {
		t.Errorf("yanked file %v", y)
	}

	r = get(t, base+"pypi/My_Proj/2.0b1/json")
	doc.Releases = nil
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Version != "2.0b1" || len(doc.URLs) != 1 || doc.Releases != nil {
		t.Errorf("version document: info %+v, urls %v, releases %v", doc.Info, doc.URLs, doc.Releases)
	}
}

func TestRequestsAreLoggedCountedAndReset(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, "")
	get(t, s.IndexURL+"proj/", "Accept", pipAccept)
	get(t, s.IndexURL+"proj/?x=1")
	fetch(t, http.MethodHead, s.FileURL(whl))
	get(t, s.FileURL(whl))
	reqs := s.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests logged: %+v", len(reqs), reqs)
	}
	if reqs[0].Host != "index" || reqs[0].Method != "GET" || reqs[0].Path != "/simple/proj/" || reqs[0].Header.Get("Accept") != pipAccept {
		t.Errorf("first request %+v", reqs[0])
	}
	if reqs[1].RawQuery != "x=1" {
		t.Errorf("query %q", reqs[1].RawQuery)
	}
	p, _ := url.Parse(s.FileURL(whl))
	for _, tc := range []struct {
		host, method, path string
		want               int
	}{
		{"index", "GET", "/simple/proj/", 2},
		{"files", "HEAD", p.Path, 1},
		{"files", "GET", p.Path, 1},
		{"index", "GET", p.Path, 0},
		{"files", "GET", "/simple/proj/", 0},
	} {
		if got := s.Count(tc.host, tc.method, tc.path); got != tc.want {
			t.Errorf("Count(%s, %s, %s) = %d, want %d", tc.host, tc.method, tc.path, got, tc.want)
		}
	}
	s.Reset()
	if len(s.Requests()) != 0 || s.Count("index", "GET", "/simple/proj/") != 0 {
		t.Error("Reset left requests in the log")
	}
	if r := get(t, s.IndexURL+"proj/"); r.StatusCode != 200 {
		t.Error("Reset removed the projects")
	}
}

func TestOtherMethodsAreNotAllowed(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, "")
	for _, u := range []string{s.IndexURL + "proj/", s.FileURL(whl)} {
		if r := fetch(t, http.MethodPost, u); r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d", u, r.StatusCode)
		}
	}
}

// ---- modes ----

func dialErr(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func TestModeRefuseClosesBothPortsAndModeNormalReopensThem(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, "")
	iu, _ := url.Parse(s.IndexURL)
	fu, _ := url.Parse(s.FilesURL)
	get(t, s.IndexURL+"proj/") // leave a keep-alive connection open

	s.SetMode(ModeRefuse)
	for _, addr := range []string{iu.Host, fu.Host} {
		if err := dialErr(addr); err == nil {
			t.Errorf("%s accepts connections in ModeRefuse", addr)
		}
	}
	for _, u := range []string{s.IndexURL + "proj/", s.FileURL(whl)} {
		if resp, err := client.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("GET %s succeeded in ModeRefuse (status %d)", u, resp.StatusCode)
		}
	}
	s.SetMode(ModeRefuse) // idempotent

	s.SetMode(ModeNormal)
	for _, addr := range []string{iu.Host, fu.Host} {
		if err := dialErr(addr); err != nil {
			t.Errorf("%s was not reopened: %v", addr, err)
		}
	}
	if r := get(t, s.IndexURL+"proj/"); r.StatusCode != 200 {
		t.Errorf("index after reopening: %d", r.StatusCode)
	}
	if r := get(t, s.FileURL(whl)); r.StatusCode != 200 {
		t.Errorf("files after reopening: %d", r.StatusCode)
	}
}

func TestModeHangNeverAnswersUntilTheModeChanges(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, "")
	s.SetMode(ModeHang)
	for _, u := range []string{s.IndexURL + "proj/", s.FileURL(whl)} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		_, err := client.Do(req)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("GET %s in ModeHang: %v, want a timeout", u, err)
		}
	}
	if got := len(s.Requests()); got != 2 {
		t.Errorf("%d requests logged in ModeHang, want 2 (requests are read)", got)
	}

	done := make(chan int, 1)
	go func() {
		resp, err := client.Get(s.IndexURL + "proj/")
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case code := <-done:
		t.Fatalf("answered %d in ModeHang", code)
	case <-time.After(150 * time.Millisecond):
	}
	s.SetMode(ModeNormal)
	select {
	case code := <-done:
		if code != 200 {
			t.Errorf("released request got %d, want 200", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hanging request was not released by SetMode(ModeNormal)")
	}
}

func TestSetDelayMakesEveryAnswerOfBothHostsSlowUntilItIsCleared(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, "")
	s.SetDelay(300 * time.Millisecond)
	for _, u := range []string{s.IndexURL + "proj/", s.FileURL(whl)} {
		start := time.Now()
		if r := get(t, u); r.StatusCode != 200 || time.Since(start) < 300*time.Millisecond {
			t.Errorf("GET %s with a delay of 300ms: %d after %v", u, r.StatusCode, time.Since(start))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "GET", s.IndexURL+"proj/", nil)
	if _, err := client.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a client that gives up after 50ms: %v, want its time-out", err)
	}
	cancel()
	s.SetDelay(0)
	start := time.Now()
	if r := get(t, s.IndexURL+"proj/"); r.StatusCode != 200 || time.Since(start) > 250*time.Millisecond {
		t.Errorf("without a delay: %d after %v", r.StatusCode, time.Since(start))
	}
}

func TestSetFilesBaseMovesTheLinksButNotTheFiles(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, "")
	path := strings.TrimPrefix(s.FileURL(whl), s.FilesURL)
	s.SetFilesBase("https://files.example")
	for _, accept := range []string{MediaHTML, MediaV1JSON} {
		r := get(t, s.IndexURL+"proj/", "Accept", accept)
		if !strings.Contains(string(r.body), "https://files.example/"+path) || strings.Contains(string(r.body), s.FilesURL) {
			t.Errorf("%s page does not link to the new base:\n%s", accept, r.body)
		}
	}
	if r := get(t, strings.TrimSuffix(s.IndexURL, "simple/")+"pypi/proj/json"); !strings.Contains(string(r.body), "https://files.example/"+path) {
		t.Errorf("legacy JSON does not link to the new base:\n%s", r.body)
	}
	if r := get(t, s.FilesURL+path); r.StatusCode != 200 {
		t.Errorf("the file at its path on the files host: %d", r.StatusCode)
	}
	s.SetFilesBase("")
	if r := get(t, s.IndexURL+"proj/"); !strings.Contains(string(r.body), s.FileURL(whl)) {
		t.Errorf("SetFilesBase(\"\") did not restore FilesURL:\n%s", r.body)
	}
}

func TestCloseDoesNotHangOnHangingRequests(t *testing.T) {
	s := New()
	s.AddWheel("proj", "1.0", nil, "")
	s.SetMode(ModeHang)
	errs := make(chan error, 1)
	go func() {
		resp, err := client.Get(s.IndexURL + "proj/")
		if err == nil {
			resp.Body.Close()
		}
		errs <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
	select {
	case err := <-errs:
		if err == nil {
			t.Error("hanging request succeeded after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hanging request not released by Close")
	}
	s.Close() // twice is fine
	s.SetMode(ModeNormal)
	if err := dialErr(strings.TrimSuffix(strings.TrimPrefix(s.IndexURL, "http://"), "/simple/")); err == nil {
		t.Error("SetMode after Close reopened the server")
	}
}

func TestMode500FailsEveryRequestOnBothHosts(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, "")
	s.SetMode(Mode500)
	for _, u := range []string{s.IndexURL + "proj/", s.IndexURL, s.FileURL(whl), s.FileURL(whl) + ".metadata", s.IndexURL + "nope/"} {
		if r := get(t, u); r.StatusCode != 500 {
			t.Errorf("GET %s: %d, want 500", u, r.StatusCode)
		}
	}
	s.SetMode(ModeNormal)
	if r := get(t, s.FileURL(whl)); r.StatusCode != 200 {
		t.Errorf("after Mode500: %d", r.StatusCode)
	}
}

func TestModeTruncateCutsFilesInHalfAndClosesTheConnection(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, "")
	_, data := Wheel("proj", "1.0", nil, "")
	s.SetMode(ModeTruncate)
	for _, u := range []string{s.FileURL(whl), s.MetadataURL(whl)} {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("GET %s: read error %v, want unexpected EOF", u, err)
		}
		if resp.ContentLength <= int64(len(body)) || int64(len(body)) != resp.ContentLength/2 {
			t.Errorf("GET %s: Content-Length %d, got %d bytes", u, resp.ContentLength, len(body))
		}
	}
	if h := fetch(t, http.MethodHead, s.FileURL(whl)); h.StatusCode != 200 || h.Header.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Errorf("HEAD in ModeTruncate: %d, Content-Length %q", h.StatusCode, h.Header.Get("Content-Length"))
	}
	if r := get(t, s.IndexURL+"proj/", "Accept", pipAccept); r.StatusCode != 200 || !json.Valid(r.body) {
		t.Errorf("index in ModeTruncate: %d", r.StatusCode)
	}
	s.SetMode(ModeNormal)
	if r := get(t, s.FileURL(whl)); !bytes.Equal(r.body, data) {
		t.Error("file still truncated after ModeNormal")
	}
}

func TestModeBadHashServesBytesThatDoNotMatchTheDeclaredHash(t *testing.T) {
	s := newServer(t)
	whl := s.AddWheel("proj", "1.0", nil, "")
	_, data := Wheel("proj", "1.0", nil, "")
	meta := WheelMetadata("proj", "1.0", nil, "")
	s.SetMode(ModeBadHash)
	for _, tc := range []struct {
		url  string
		want []byte
	}{{s.FileURL(whl), data}, {s.MetadataURL(whl), meta}} {
		r := get(t, tc.url)
		if r.StatusCode != 200 || len(r.body) != len(tc.want) || sha256hex(r.body) == sha256hex(tc.want) {
			t.Errorf("GET %s: status %d, %d bytes (want %d, differing)", tc.url, r.StatusCode, len(r.body), len(tc.want))
		}
	}
	r := get(t, s.IndexURL+"proj/", "Accept", pipAccept)
	if !bytes.Contains(r.body, []byte(sha256hex(data))) {
		t.Error("index in ModeBadHash does not declare the true hash")
	}
	s.SetMode(ModeNormal)
	if r := get(t, s.FileURL(whl)); !bytes.Equal(r.body, data) {
		t.Error("file still corrupted after ModeNormal")
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{ModeNormal: "normal", ModeRefuse: "refuse", ModeHang: "hang", Mode500: "500", ModeTruncate: "truncate", ModeBadHash: "wrong-digest", Mode(42): "Mode(42)"} {
		if m.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(m), m.String(), want)
		}
	}
}

func TestServerIsSafeForConcurrentUse(t *testing.T) {
	s := newServer(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				whl := s.AddWheel(fmt.Sprintf("p%d", i%3), fmt.Sprintf("1.%d.%d", i, j), nil, "")
				for _, u := range []string{s.IndexURL + fmt.Sprintf("p%d/", i%3), s.FileURL(whl), s.IndexURL} {
					resp, err := client.Get(u)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Errorf("GET %s: %d", u, resp.StatusCode)
					}
				}
				s.Count("index", "GET", "/simple/")
				s.Requests()
			}
		}(i)
	}
	wg.Wait()
	if s.Serial() != 80 {
		t.Errorf("serial %d, want 80", s.Serial())
	}
}
