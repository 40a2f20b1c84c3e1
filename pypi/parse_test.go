package pypi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const pageURL = "https://pypi.org/simple/example-pkg/"

func int64p(n int64) *int64 { return &n }

// exampleFiles are the files of testdata/project.html and project.json read
// against pageURL; the JSON page adds size, upload-time and an md5.
func exampleFiles(fromJSON bool) []File {
	files := []File{
		{
			Filename:           "example_pkg-1.0-py3-none-any.whl",
			URL:                "https://files.pythonhosted.org/packages/49/3e/a37c8d7f9bcb4b5fa4514ef7ceda529204d12164e9183ef3bf495d801f63/example_pkg-1.0-py3-none-any.whl",
			Hashes:             map[string]string{"sha256": "493ea37c8d7f9bcb4b5fa4514ef7ceda529204d12164e9183ef3bf495d801f63"},
			CoreMetadata:       true,
			CoreMetadataHashes: map[string]string{"sha256": "133e572155b4e767b73366d3b7bd7fbd8a7b061da07a5ab352673ff307bb11e8"},
		},
		{
			Filename: "example-pkg-1.0.tar.gz",
			URL:      "https://files.pythonhosted.org/packages/d3/4b/eeb70cddcc1f973ab468a4f7467557065a2fc1b9c118e728035b25d38af0/example-pkg-1.0.tar.gz",
			Hashes:   map[string]string{"sha256": "d34beeb70cddcc1f973ab468a4f7467557065a2fc1b9c118e728035b25d38af0"},
			Yanked:   true,
		},
		{
			Filename:       "example_pkg-2.0-py3-none-any.whl",
			URL:            "https://pypi.org/packages/00/79/f27270fc6355a0e12dbbacef7dc29d423d31e70cb204bf25880696678131/example_pkg-2.0-py3-none-any.whl",
			Hashes:         map[string]string{"sha256": "0079f27270fc6355a0e12dbbacef7dc29d423d31e70cb204bf25880696678131"},
			RequiresPython: ">=3.8",
			Yanked:         true,
			YankedReason:   "broken on <windows> & macOS",
			CoreMetadata:   true,
		},
		{
			Filename:           "example-pkg-2.0.tar.gz",
			URL:                "https://pypi.org/packages/c9/f9/b435ea28e08508a8cde57592bc1c430a6eafc4fdcdd0c981d4e58201046e/example-pkg-2.0.tar.gz",
			Hashes:             map[string]string{"sha256": "c9f9b435ea28e08508a8cde57592bc1c430a6eafc4fdcdd0c981d4e58201046e"},
			RequiresPython:     ">=3.8,<4",
			CoreMetadata:       true,
			CoreMetadataHashes: map[string]string{"sha256": "b98236d8cafd383b17becb1c5ecfdb23162ad7b74555fceac052387661f7fc00"},
		},
		{
			Filename:     "example_pkg-2.1rc1-py3-none-any.whl",
			URL:          "https://files.pythonhosted.org/packages/78/72/a45f403abbed1d15c60f5787d56933abe60141250bf0cd1c0dc3b17c2e29/example_pkg-2.1rc1-py3-none-any.whl",
			Hashes:       map[string]string{},
			CoreMetadata: true,
		},
	}
	if fromJSON {
		files[0].Size, files[0].UploadTime = int64p(4512), "2021-03-04T10:20:30.123456Z"
		files[1].Size, files[1].UploadTime = int64p(3900), "2021-03-04T10:20:31.000000Z"
		files[1].Hashes["md5"] = "0cc175b9c0f1b6a831c399e269772661"
		files[2].Size, files[2].UploadTime = int64p(4600), "2023-11-12T08:00:00.000000Z"
	}
	return files
}

// fileKey is what a round trip must keep of a file: the fields both formats
// carry, with empty and nil maps alike.
type fileKey struct {
	Filename, RequiresPython, YankedReason string
	Hashes, CoreMetadataHashes             string
	Yanked, CoreMetadata                   bool
}

func keyOf(f File) fileKey {
	enc := func(m map[string]string) string {
		if len(m) == 0 {
			return "{}"
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	return fileKey{f.Filename, f.RequiresPython, f.YankedReason, enc(f.Hashes), enc(f.CoreMetadataHashes), f.Yanked, f.CoreMetadata}
}

// diffFiles describes how two file lists differ, "" when they do not; with
// full, URLs, sizes and upload times count too.
func diffFiles(got, want []File, full bool) string {
	var b strings.Builder
	if len(got) != len(want) {
		fmt.Fprintf(&b, "%d files, want %d\n", len(got), len(want))
	}
	for i := 0; i < len(got) && i < len(want); i++ {
		g, w := got[i], want[i]
		if keyOf(g) != keyOf(w) {
			fmt.Fprintf(&b, "file %d:\n got %+v\nwant %+v\n", i, keyOf(g), keyOf(w))
		}
		if full && (g.URL != w.URL || !reflect.DeepEqual(g.Size, w.Size) || g.UploadTime != w.UploadTime) {
			fmt.Fprintf(&b, "file %d: url, size, upload-time:\n got %s %v %q\nwant %s %v %q\n", i, g.URL, ptr(g.Size), g.UploadTime, w.URL, ptr(w.Size), w.UploadTime)
		}
	}
	return b.String()
}

func ptr(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestParseJSONReadsARealisticPEP691Page(t *testing.T) {
	p, err := parseJSON(readTestdata(t, "project.json"), mustURL(t, pageURL))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "example-pkg" || p.Serial != 24800123 || !sameStrings(p.Versions, []string{"1.0", "2.0", "2.1rc1"}) {
		t.Errorf("name, serial, versions = %q, %d, %q", p.Name, p.Serial, p.Versions)
	}
	if d := diffFiles(p.Files, exampleFiles(true), true); d != "" {
		t.Error(d)
	}
}

func TestParseHTMLReadsARealisticPEP503Page(t *testing.T) {
	p, err := parseHTML(readTestdata(t, "project.html"), mustURL(t, pageURL))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "example-pkg" {
		t.Errorf("name = %q", p.Name)
	}
	if d := diffFiles(p.Files, exampleFiles(false), true); d != "" {
		t.Error(d)
	}
}

func TestParseJSONFieldForms(t *testing.T) {
	page := func(file string) []byte {
		return []byte(`{"meta":{"api-version":"1.0"},"name":"p","files":[` + file + `]}`)
	}
	for _, tc := range []struct {
		why  string
		file string
		want File
	}{
		{"yanked false is not yanked",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"yanked":false}`,
			File{Filename: "p-1.0.tar.gz"}},
		{"yanked true is yanked without a reason",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"yanked":true}`,
			File{Filename: "p-1.0.tar.gz", Yanked: true}},
		{"a yanked reason is yanked with that reason",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"yanked":"security"}`,
			File{Filename: "p-1.0.tar.gz", Yanked: true, YankedReason: "security"}},
		{"an absent yanked is not yanked",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{}}`,
			File{Filename: "p-1.0.tar.gz"}},
		{"requires-python null is none",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"requires-python":null}`,
			File{Filename: "p-1.0.tar.gz"}},
		{"requires-python as a string is kept",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"requires-python":">=3.9, !=3.9.1"}`,
			File{Filename: "p-1.0.tar.gz", RequiresPython: ">=3.9, !=3.9.1"}},
		{"core-metadata true has no hashes",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"core-metadata":true}`,
			File{Filename: "p-1.0.tar.gz", CoreMetadata: true}},
		{"core-metadata as an object carries hashes, lower-cased",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"core-metadata":{"SHA256":"ABCD"}}`,
			File{Filename: "p-1.0.tar.gz", CoreMetadata: true, CoreMetadataHashes: map[string]string{"sha256": "abcd"}}},
		{"core-metadata false wins over the legacy keys (PEP 714)",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"core-metadata":false,"data-dist-info-metadata":{"sha256":"ab"}}`,
			File{Filename: "p-1.0.tar.gz"}},
		{"the legacy data-dist-info-metadata key is read",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"data-dist-info-metadata":{"sha256":"ab"}}`,
			File{Filename: "p-1.0.tar.gz", CoreMetadata: true, CoreMetadataHashes: map[string]string{"sha256": "ab"}}},
		{"the legacy dist-info-metadata key is read",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"dist-info-metadata":true}`,
			File{Filename: "p-1.0.tar.gz", CoreMetadata: true}},
		{"core-metadata null falls back to the legacy keys",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{},"core-metadata":null,"dist-info-metadata":{"sha256":"cd"}}`,
			File{Filename: "p-1.0.tar.gz", CoreMetadata: true, CoreMetadataHashes: map[string]string{"sha256": "cd"}}},
		{"a hash without an algorithm is dropped",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":{"":"ab","sha256":"cd","md5":""},"core-metadata":{"":"ef"}}`,
			File{Filename: "p-1.0.tar.gz", Hashes: map[string]string{"sha256": "cd"}, CoreMetadata: true, CoreMetadataHashes: map[string]string{}}},
		{"hashes null are none",
			`{"filename":"p-1.0.tar.gz","url":"p-1.0.tar.gz","hashes":null}`,
			File{Filename: "p-1.0.tar.gz"}},
	} {
		t.Run(tc.why, func(t *testing.T) {
			p, err := parseJSON(page(tc.file), mustURL(t, pageURL))
			if err != nil {
				t.Fatal(err)
			}
			if d := diffFiles(p.Files, []File{tc.want}, false); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestParseJSONResolvesURLsAndDropsFragments(t *testing.T) {
	body := `{"meta":{"api-version":"1.1","_last-serial":"42"},"name":"p","files":[
		{"filename":"a.whl","url":"a.whl#sha256=00","hashes":{}},
		{"filename":"b.whl","url":"/x/b.whl?tag=1#md5=00","hashes":{}},
		{"filename":"c.whl","url":"https://files.example/c.whl#frag","hashes":{}}]}`
	p, err := parseJSON([]byte(body), mustURL(t, pageURL))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{pageURL + "a.whl", "https://pypi.org/x/b.whl?tag=1", "https://files.example/c.whl"}
	for i, f := range p.Files {
		if f.URL != want[i] {
			t.Errorf("file %d: url %q, want %q", i, f.URL, want[i])
		}
	}
	if p.Serial != 42 {
		t.Errorf("a serial given as a string should be read: %d", p.Serial)
	}
}

func TestParseJSONRefusesWhatIsNotAVersion1Page(t *testing.T) {
	for _, tc := range []struct{ why, body string }{
		{"api-version 2.0 is refused (PEP 629: a major version it does not know)", `{"meta":{"api-version":"2.0"},"name":"p","files":[]}`},
		{"a missing api-version is refused", `{"meta":{},"name":"p","files":[]}`},
		{"a missing name is refused", `{"meta":{"api-version":"1.1"},"files":[]}`},
		{"an empty name is refused", `{"meta":{"api-version":"1.1"},"name":"","files":[]}`},
		{"invalid JSON is refused", `{"meta":{"api-version":"1.1"},"name":"p","files":[`},
		{"an HTML page is refused", `<!DOCTYPE html><html></html>`},
		{"files that are not a list are refused", `{"meta":{"api-version":"1.1"},"name":"p","files":{}}`},
		{"a file URL that does not parse is refused", `{"meta":{"api-version":"1.1"},"name":"p","files":[{"filename":"a","url":"http://[::1","hashes":{}}]}`},
	} {
		t.Run(tc.why, func(t *testing.T) {
			if p, err := parseJSON([]byte(tc.body), mustURL(t, pageURL)); err == nil {
				t.Errorf("accepted: %+v", p)
			}
		})
	}
}

func TestParseJSONAcceptsMinorVersions(t *testing.T) {
	for _, v := range []string{"1.0", "1.1", "1.4"} {
		body := `{"meta":{"api-version":"` + v + `"},"name":"p","files":[]}`
		if _, err := parseJSON([]byte(body), mustURL(t, pageURL)); err != nil {
			t.Errorf("api-version %s: %v", v, err)
		}
	}
}

func TestParseHTMLAttributeForms(t *testing.T) {
	page := func(a string) []byte {
		return []byte("<!DOCTYPE html><html><body>" + a + "</body></html>")
	}
	for _, tc := range []struct {
		why  string
		a    string
		want File
	}{
		{"a bare link has no hashes",
			`<a href="p-1.0.tar.gz">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz"}},
		{"a #sha256 fragment is the hash, lower-cased",
			`<a href="p-1.0.tar.gz#SHA256=ABCDEF">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", Hashes: map[string]string{"sha256": "abcdef"}}},
		{"requires-python is unescaped",
			`<a href="p-1.0.tar.gz" data-requires-python="&gt;=3.8,&lt;4,!=3.9.*">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", RequiresPython: ">=3.8,<4,!=3.9.*"}},
		{"an empty data-yanked is yanked without a reason",
			`<a href="p-1.0.tar.gz" data-yanked="">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", Yanked: true}},
		{"a bare data-yanked is yanked without a reason",
			`<a href="p-1.0.tar.gz" data-yanked>p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", Yanked: true}},
		{"data-yanked with a reason keeps it",
			`<a href="p-1.0.tar.gz" data-yanked="bad &quot;build&quot;">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", Yanked: true, YankedReason: `bad "build"`}},
		{"data-core-metadata=true has no hashes",
			`<a href="p-1.0.tar.gz" data-core-metadata="true">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", CoreMetadata: true}},
		{"data-core-metadata with a hash carries it",
			`<a href="p-1.0.tar.gz" data-core-metadata="sha256=AB12">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", CoreMetadata: true, CoreMetadataHashes: map[string]string{"sha256": "ab12"}}},
		{"data-dist-info-metadata=true is read (PEP 658's first name)",
			`<a href="p-1.0.tar.gz" data-dist-info-metadata="true">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", CoreMetadata: true}},
		{"data-dist-info-metadata with a hash is read",
			`<a href="p-1.0.tar.gz" data-dist-info-metadata="sha256=cd34">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", CoreMetadata: true, CoreMetadataHashes: map[string]string{"sha256": "cd34"}}},
		{"data-core-metadata wins over data-dist-info-metadata (PEP 714)",
			`<a href="p-1.0.tar.gz" data-dist-info-metadata="sha256=00" data-core-metadata="sha256=11">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", CoreMetadata: true, CoreMetadataHashes: map[string]string{"sha256": "11"}}},
		{"data-core-metadata=false is no metadata",
			`<a href="p-1.0.tar.gz" data-core-metadata="false">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz"}},
		{"a fragment without an algorithm is no hash",
			`<a href="p-1.0.tar.gz#=abcdef">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz"}},
		{"a fragment without a value is no hash",
			`<a href="p-1.0.tar.gz#sha256=">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz"}},
		{"an escaped fragment is read unescaped",
			`<a href="p-1.0.tar.gz#sha256=ab%63d">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz", Hashes: map[string]string{"sha256": "abcd"}}},
		{"data-core-metadata without a hash value is no metadata",
			`<a href="p-1.0.tar.gz" data-core-metadata="sha256=">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz"}},
		{"data-core-metadata without an algorithm is no metadata",
			`<a href="p-1.0.tar.gz" data-core-metadata="=ab12">p-1.0.tar.gz</a>`,
			File{Filename: "p-1.0.tar.gz"}},
		{"the file name is the anchor's text, trimmed",
			"<a href=\"x/y/z.bin\">\n  p-1.0.tar.gz\n</a>",
			File{Filename: "p-1.0.tar.gz"}},
		{"without text the file name is the path's last segment",
			`<a href="../x/p-1.0.tar.gz#sha256=aa"></a>`,
			File{Filename: "p-1.0.tar.gz", Hashes: map[string]string{"sha256": "aa"}}},
	} {
		t.Run(tc.why, func(t *testing.T) {
			p, err := parseHTML(page(tc.a), mustURL(t, pageURL))
			if err != nil {
				t.Fatal(err)
			}
			if d := diffFiles(p.Files, []File{tc.want}, false); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestParseHTMLResolvesLinks(t *testing.T) {
	for _, tc := range []struct{ why, page, want string }{
		{"a relative link is resolved against the page URL",
			`<a href="../../packages/p-1.0.tar.gz#sha256=aa">p-1.0.tar.gz</a>`,
			"https://pypi.org/packages/p-1.0.tar.gz"},
		{"a link in the same folder is resolved against the page URL",
			`<a href="p-1.0.tar.gz">p-1.0.tar.gz</a>`,
			pageURL + "p-1.0.tar.gz"},
		{"an absolute path keeps the page's host",
			`<a href="/files/p-1.0.tar.gz">p-1.0.tar.gz</a>`,
			"https://pypi.org/files/p-1.0.tar.gz"},
		{"an absolute URL is kept, without its fragment",
			`<a href="https://files.example/p-1.0.tar.gz?x=1#sha256=aa">p-1.0.tar.gz</a>`,
			"https://files.example/p-1.0.tar.gz?x=1"},
		{"<base href> changes what links are resolved against",
			`<html><head><base href="https://mirror.example/base/"></head><body><a href="sub/p-1.0.tar.gz">p-1.0.tar.gz</a></body></html>`,
			"https://mirror.example/base/sub/p-1.0.tar.gz"},
		{"a relative <base href> is itself resolved against the page URL",
			`<html><head><base href="/other/"></head><body><a href="p-1.0.tar.gz">p-1.0.tar.gz</a></body></html>`,
			"https://pypi.org/other/p-1.0.tar.gz"},
	} {
		t.Run(tc.why, func(t *testing.T) {
			p, err := parseHTML([]byte(tc.page), mustURL(t, pageURL))
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Files) != 1 || p.Files[0].URL != tc.want {
				t.Errorf("files %+v, want one at %s", p.Files, tc.want)
			}
		})
	}
}

func TestParseHTMLSkipsAnchorsWithoutHref(t *testing.T) {
	p, err := parseHTML([]byte(`<a name="top">top</a><a href="p-1.0.tar.gz">p-1.0.tar.gz</a>`), mustURL(t, pageURL))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Files) != 1 {
		t.Errorf("files %+v, want only the linked one", p.Files)
	}
}

func TestParseHTMLRefusesWhatIsNotAVersion1Page(t *testing.T) {
	for _, tc := range []struct{ why, body string }{
		{"repository version 2.0 is refused (PEP 629)", `<html><head><meta name="pypi:repository-version" content="2.0"></head><body><a href="a">a</a></body></html>`},
		{"an empty repository version is refused", `<html><head><meta name="pypi:repository-version" content=""></head></html>`},
		{"a page that is not UTF-8 is refused", "<html><body><a href=\"p-1.0.tar.gz\">p-\xe9-1.0.tar.gz</a></body></html>"},
		{"a link that does not parse is refused", `<a href="http://[::1">x</a>`},
	} {
		t.Run(tc.why, func(t *testing.T) {
			if p, err := parseHTML([]byte(tc.body), mustURL(t, pageURL)); err == nil {
				t.Errorf("accepted: %+v", p)
			}
		})
	}
}

func TestParseHTMLAcceptsMinorVersions(t *testing.T) {
	for _, v := range []string{"1.0", "1.1", "1.3"} {
		body := `<html><head><meta name="pypi:repository-version" content="` + v + `"></head><body></body></html>`
		if _, err := parseHTML([]byte(body), mustURL(t, pageURL)); err != nil {
			t.Errorf("repository version %s: %v", v, err)
		}
	}
}

func TestParsePageDispatchesByContentType(t *testing.T) {
	jsonPage, htmlPage := readTestdata(t, "project.json"), readTestdata(t, "project.html")
	for _, tc := range []struct {
		why, contentType string
		body             []byte
		ok               bool
	}{
		{"application/json is JSON", "application/json", jsonPage, true},
		{"the PEP 691 JSON type is JSON", "application/vnd.pypi.simple.v1+json", jsonPage, true},
		{"the PEP 691 HTML type is HTML", "application/vnd.pypi.simple.v1+html", htmlPage, true},
		{"text/html is HTML", "text/html", htmlPage, true},
		{"text/html with a charset is HTML", "text/html; charset=utf-8", htmlPage, true},
		{"media types are case-insensitive", "Text/HTML; Charset=UTF-8", htmlPage, true},
		{"no Content-Type is read as HTML", "", htmlPage, true},
		{"a JSON body served as HTML is not JSON", "text/html", jsonPage, true},
		{"text/plain is refused", "text/plain; charset=utf-8", htmlPage, false},
		{"application/octet-stream is refused", "application/octet-stream", jsonPage, false},
		{"a Content-Type that does not parse is refused", "text/html; charset", htmlPage, false},
		{"an HTML body served as JSON is refused", "application/vnd.pypi.simple.v1+json", htmlPage, false},
	} {
		t.Run(tc.why, func(t *testing.T) {
			p, err := parsePage(tc.body, tc.contentType, mustURL(t, pageURL))
			if (err == nil) != tc.ok {
				t.Fatalf("parsePage(%q) = %v", tc.contentType, err)
			}
			if tc.ok && strings.Contains(tc.why, "is JSON") && p.Serial != 24800123 {
				t.Errorf("not read as JSON: serial %d", p.Serial)
			}
		})
	}
}
