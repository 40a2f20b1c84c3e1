package pypi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

const filesPrefix = "/pypi/files/example-pkg/"

func exampleProject(t *testing.T) Project {
	t.Helper()
	p, err := parseJSON(readTestdata(t, "project.json"), mustURL(t, pageURL))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRenderHTMLMatchesGolden(t *testing.T) {
	golden(t, "project.html.golden", renderHTML(exampleProject(t), filesPrefix))
}

func TestRenderJSONMatchesGolden(t *testing.T) {
	out := renderJSON(exampleProject(t), filesPrefix)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "  "); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	golden(t, "project.json.golden", pretty.Bytes())
}

// jsonFiles decodes a rendered JSON page's files generically, to see keys
// as a client does.
func jsonFiles(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var page struct {
		Files []map[string]any `json:"files"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("rendered JSON does not decode: %v\n%s", err, body)
	}
	return page.Files
}

func TestRenderJSONNeverSendsDistInfoMetadata(t *testing.T) {
	// pip 22.3 to 23.1 crash on the key dist-info-metadata; PEP 714 renamed
	// it core-metadata.
	p := exampleProject(t)
	p.Files = append(p.Files, File{Filename: "x-1.0.tar.gz", CoreMetadata: true})
	for _, f := range jsonFiles(t, renderJSON(p, filesPrefix)) {
		for _, key := range []string{"dist-info-metadata", "data-dist-info-metadata"} {
			if _, ok := f[key]; ok {
				t.Errorf("%s has the key %s", f["filename"], key)
			}
		}
	}
}

func TestRenderJSONAlwaysSendsHashes(t *testing.T) {
	p := Project{Name: "p", Files: []File{
		{Filename: "p-1.0.tar.gz"},
		{Filename: "p-1.1.tar.gz", Hashes: map[string]string{}},
		{Filename: "p-1.2.tar.gz", Hashes: map[string]string{"sha256": "ab"}},
	}}
	for _, f := range jsonFiles(t, renderJSON(p, "/pypi/files/p/")) {
		h, ok := f["hashes"].(map[string]any)
		if !ok {
			t.Errorf("%s: hashes = %#v, want an object (PEP 691: required, may be empty)", f["filename"], f["hashes"])
		}
		if f["filename"] == "p-1.2.tar.gz" && h["sha256"] != "ab" {
			t.Errorf("%s: hashes = %v", f["filename"], h)
		}
	}
}

func TestRenderYanked(t *testing.T) {
	for _, tc := range []struct {
		why      string
		file     File
		wantJSON any
		wantHTML string
	}{
		{"a file not yanked is yanked: false, and has no data-yanked", File{Filename: "p-1.0.tar.gz"}, false, ""},
		{"a file yanked without a reason is yanked: true, and data-yanked empty", File{Filename: "p-1.0.tar.gz", Yanked: true}, true, ` data-yanked=""`},
		{"a file yanked with a reason carries it, escaped in HTML", File{Filename: "p-1.0.tar.gz", Yanked: true, YankedReason: `<b>"bad"</b>`}, `<b>"bad"</b>`, ` data-yanked="&lt;b&gt;&#34;bad&#34;&lt;/b&gt;"`},
	} {
		t.Run(tc.why, func(t *testing.T) {
			p := Project{Name: "p", Files: []File{tc.file}}
			f := jsonFiles(t, renderJSON(p, "/f/"))[0]
			if v, ok := f["yanked"]; !ok || v != tc.wantJSON {
				t.Errorf("JSON yanked = %#v (present: %v), want %#v", v, ok, tc.wantJSON)
			}
			page := string(renderHTML(p, "/f/"))
			if tc.wantHTML == "" && strings.Contains(page, "data-yanked") || tc.wantHTML != "" && !strings.Contains(page, tc.wantHTML+">") {
				t.Errorf("HTML page lacks %q:\n%s", tc.wantHTML, page)
			}
		})
	}
}

func TestRenderHTMLEscapesAttributes(t *testing.T) {
	p := Project{Name: "a<b", Files: []File{{
		Filename: "p&q-1.0.tar.gz", RequiresPython: `>=3.8,<4`, Hashes: map[string]string{"sha256": "ab"},
		CoreMetadata: true, CoreMetadataHashes: map[string]string{"sha256": "cd"},
	}}}
	page := string(renderHTML(p, "/pypi/files/p/"))
	for _, want := range []string{
		`<title>Links for a&lt;b</title>`,
		`href="/pypi/files/p/p&amp;q-1.0.tar.gz#sha256=ab"`,
		`data-requires-python="&gt;=3.8,&lt;4"`,
		`data-dist-info-metadata="sha256=cd" data-core-metadata="sha256=cd"`,
		`>p&amp;q-1.0.tar.gz</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
}

func TestRenderHTMLKeepsWhatAnHTMLParserWouldChange(t *testing.T) {
	p := Project{Name: "p", Files: []File{{
		Filename: "p-1.0.tar.gz", Yanked: true, YankedReason: "line one\r\nline two",
		Hashes: map[string]string{"sha256": "a%41 b"},
	}}}
	page := renderHTML(p, "/f/")
	if !bytes.Contains(page, []byte(`data-yanked="line one&#13;`)) || !bytes.Contains(page, []byte(`#sha256=a%2541%20b"`)) {
		t.Errorf("CR or the fragment is not escaped:\n%s", page)
	}
	back, err := parseHTML(page, mustURL(t, "http://larder.test/pypi/simple/p/"))
	if err != nil {
		t.Fatal(err)
	}
	// The reason survives; a "digest" that is not hex reads back as no
	// hash at all, as parsing any upstream page would read it.
	want := p.Files[0]
	want.Hashes = map[string]string{}
	if d := diffFiles(back.Files, []File{want}, false); d != "" {
		t.Error(d)
	}
}

func TestRenderedFileURLsArePathOnlyUnderThePrefix(t *testing.T) {
	p := exampleProject(t)
	for _, f := range jsonFiles(t, renderJSON(p, filesPrefix)) {
		if f["url"] != filesPrefix+f["filename"].(string) {
			t.Errorf("JSON url %v, want %s%v", f["url"], filesPrefix, f["filename"])
		}
	}
	html, err := parseHTML(renderHTML(p, filesPrefix), mustURL(t, "http://larder.test/pypi/simple/example-pkg/"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range html.Files {
		if f.URL != "http://larder.test"+filesPrefix+f.Filename {
			t.Errorf("HTML link %s is not %s%s on larder's host", f.URL, filesPrefix, f.Filename)
		}
	}
	if page := renderHTML(p, filesPrefix); bytes.Contains(page, []byte("pythonhosted")) || bytes.Contains(page, []byte("pypi.org")) {
		t.Errorf("HTML page names an upstream host:\n%s", page)
	}
}

func TestRenderJSONNormalizesTheNameAndDerivesVersions(t *testing.T) {
	p := Project{Name: "Foo_Bar", Files: []File{
		{Filename: "foo_bar-2.0-py3-none-any.whl"}, {Filename: "Foo_Bar-1.0.tar.gz"}, {Filename: "foo_bar-2.0.tar.gz"},
	}}
	var page struct {
		Meta     map[string]any `json:"meta"`
		Name     string         `json:"name"`
		Versions []string       `json:"versions"`
	}
	if err := json.Unmarshal(renderJSON(p, "/f/"), &page); err != nil {
		t.Fatal(err)
	}
	if page.Name != "foo-bar" || !sameStrings(page.Versions, []string{"1.0", "2.0"}) || page.Meta["api-version"] != "1.1" {
		t.Errorf("name %q, versions %q, meta %v", page.Name, page.Versions, page.Meta)
	}
}

func TestRenderJSONOfNoFilesIsAnEmptyList(t *testing.T) {
	out := string(renderJSON(Project{Name: "p"}, "/f/"))
	if !strings.Contains(out, `"files":[]`) || !strings.Contains(out, `"versions":[]`) {
		t.Errorf("want empty lists, not null: %s", out)
	}
}

func TestRenderThenParseGivesBackTheFiles(t *testing.T) {
	p := exampleProject(t)
	larder := mustURL(t, "http://larder.test/pypi/simple/example-pkg/")
	t.Run("JSON", func(t *testing.T) {
		back, err := parseJSON(renderJSON(p, filesPrefix), larder)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffFiles(back.Files, p.Files, false); d != "" {
			t.Error(d)
		}
		for i, f := range back.Files {
			if !equalSize(f.Size, p.Files[i].Size) || f.UploadTime != p.Files[i].UploadTime {
				t.Errorf("%s: size %v, upload-time %q lost", f.Filename, ptr(f.Size), f.UploadTime)
			}
		}
		if back.Serial != p.Serial || !sameStrings(back.Versions, p.Versions) {
			t.Errorf("serial %d, versions %q", back.Serial, back.Versions)
		}
	})
	t.Run("HTML", func(t *testing.T) {
		back, err := parseHTML(renderHTML(p, filesPrefix), larder)
		if err != nil {
			t.Fatal(err)
		}
		// HTML carries one hash per file: the sha256.
		want := append([]File(nil), p.Files...)
		for i := range want {
			if h, ok := want[i].Hashes["sha256"]; ok {
				want[i].Hashes = map[string]string{"sha256": h}
			}
		}
		if d := diffFiles(back.Files, want, false); d != "" {
			t.Error(d)
		}
	})
}

func equalSize(a, b *int64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func TestChooseFormatNeverRefuses(t *testing.T) {
	for _, tc := range []struct{ client, accept, want string }{
		{"pip", "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01", mediaJSON},
		{"uv", "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01", mediaJSON},
		{"poetry 2.3", "application/vnd.pypi.simple.v1+json, */*;q=0.1", mediaJSON},
		{"old poetry, with no Accept", "", mediaHTML},
		{"a browser-like */*", "*/*", mediaHTML},
		{"text/html", "text/html", mediaHTML},
		{"the PEP 691 HTML type", "application/vnd.pypi.simple.v1+html", mediaV1HTML},
		{"HTML preferred by q", "application/vnd.pypi.simple.v1+json;q=0.5, text/html", mediaHTML},
		{"something unacceptable, image/png", "image/png", mediaHTML},
		{"everything refused with q=0", "*/*;q=0", mediaHTML},
	} {
		if got := chooseFormat(tc.accept); got != tc.want {
			t.Errorf("%s (Accept: %q): %s, want %s", tc.client, tc.accept, got, tc.want)
		}
	}
}

func TestRenderSetsTheExactContentType(t *testing.T) {
	for format, want := range map[string]string{
		mediaJSON:   "application/vnd.pypi.simple.v1+json",
		mediaV1HTML: "application/vnd.pypi.simple.v1+html",
		mediaHTML:   "text/html; charset=utf-8",
	} {
		if got := render(Project{Name: "p"}, format, "/f/").ContentType; got != want {
			t.Errorf("format %s: Content-Type %q, want %q", format, got, want)
		}
	}
}
