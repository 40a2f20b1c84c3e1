package pypi

import (
	"bytes"
	"strings"
	"testing"
)

// The fuzzers read pages as the handler does: parse, keep the files whose
// names acceptFiles keeps, render for a client, and parse what the client
// gets. Their seed corpora are testdata/fuzz/<FuzzName>/ plus the f.Add
// calls below; go test runs both as regression tests.

var (
	fuzzUpstream = "https://pypi.org/simple/p/"
	fuzzLarder   = "http://larder.test/pypi/simple/p/"
	fuzzPrefix   = "/pypi/files/p/"
)

// acceptable is what the handler stores of a parsed page: files with valid
// names, and a name.
func acceptable(p Project) Project {
	kept := []File{}
	for _, f := range p.Files {
		if validateFilename(f.Filename) == nil {
			kept = append(kept, f)
		}
	}
	p.Files = kept
	if p.Name == "" {
		p.Name = "p"
	}
	return p
}

// checkRoundTrips renders p both ways and checks that a client reads back
// the same files, and that rendering what it read gives the same bytes.
func checkRoundTrips(t *testing.T, p Project) {
	t.Helper()
	larder := mustURL(t, fuzzLarder)

	page := renderHTML(p, fuzzPrefix)
	back, err := parseHTML(page, larder)
	if err != nil {
		t.Fatalf("larder's own HTML page does not parse: %v\n%s", err, page)
	}
	// HTML carries one hash per file, and cannot carry NUL.
	want := make([]File, len(p.Files))
	for i, f := range p.Files {
		want[i] = f
		if algo, sum := preferredHash(f.Hashes); algo != "" {
			want[i].Hashes = map[string]string{algo: sum}
		}
		if algo, sum := preferredHash(f.CoreMetadataHashes); algo != "" {
			want[i].CoreMetadataHashes = map[string]string{algo: sum}
		}
	}
	if d := diffFiles(back.Files, htmlSafe(want), false); d != "" {
		t.Fatalf("HTML round trip changed the files:\n%s\npage:\n%s", d, page)
	}
	safe := Project{Name: p.Name, Serial: p.Serial, Files: htmlSafe(p.Files)}
	if again := renderHTML(Project{Name: p.Name, Serial: p.Serial, Files: back.Files}, fuzzPrefix); !bytes.Equal(again, renderHTML(safe, fuzzPrefix)) {
		t.Fatalf("rendering the re-parsed HTML page gave other bytes:\n%s\n%s", page, again)
	}

	doc := renderJSON(p, fuzzPrefix)
	for _, f := range jsonFiles(t, doc) {
		if _, ok := f["dist-info-metadata"]; ok {
			t.Fatalf("JSON page has dist-info-metadata: %s", doc)
		}
	}
	jback, err := parseJSON(doc, larder)
	if err != nil {
		t.Fatalf("larder's own JSON page does not parse: %v\n%s", err, doc)
	}
	if d := diffFiles(jback.Files, p.Files, false); d != "" {
		t.Fatalf("JSON round trip changed the files:\n%s\npage:\n%s", d, doc)
	}
	for i, f := range jback.Files {
		if !equalSize(f.Size, p.Files[i].Size) || f.UploadTime != p.Files[i].UploadTime {
			t.Fatalf("JSON round trip lost %s's size or upload-time", f.Filename)
		}
	}
	if again := renderJSON(jback, fuzzPrefix); !bytes.Equal(again, doc) {
		t.Fatalf("rendering the re-parsed JSON page gave other bytes:\n%s\n%s", doc, again)
	}
}

// htmlSafe is what an HTML page can carry of files: the HTML parser turns
// NUL into U+FFFD in attribute values.
func htmlSafe(files []File) []File {
	out := make([]File, len(files))
	for i, f := range files {
		f.RequiresPython = strings.ReplaceAll(f.RequiresPython, "\x00", "\ufffd")
		f.YankedReason = strings.ReplaceAll(f.YankedReason, "\x00", "\ufffd")
		out[i] = f
	}
	return out
}

func FuzzParseHTML(f *testing.F) {
	f.Add(readTestdata(f, "project.html"))
	f.Add([]byte(`<a href="p-1.0.tar.gz#sha256=AB" data-requires-python="&gt;=3" data-yanked="" data-core-metadata="sha256=cd">p-1.0.tar.gz</a>`))
	f.Add([]byte(`<base href="//other/"><a href="x#=1" data-dist-info-metadata="=2">p-1.0.tar.gz</a>`))
	f.Add([]byte(`<a href="%20p-1.0.tar.gz"></a><a href="#sha256=%2541">q</a>`))
	f.Add([]byte(`<meta name="pypi:repository-version" content="2.0">`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseHTML(body, mustURL(t, fuzzUpstream))
		if err != nil {
			return
		}
		checkRoundTrips(t, acceptable(p))
	})
}

func FuzzParseJSON(f *testing.F) {
	f.Add(readTestdata(f, "project.json"))
	f.Add([]byte(`{"meta":{"api-version":"1.0"},"name":"p","files":[{"filename":"p-1.0.tar.gz","url":"x","hashes":{"SHA256":"AB"},"yanked":"r","core-metadata":{}}]}`))
	f.Add([]byte(`{"meta":{"api-version":"1.1","_last-serial":-1},"name":"A_b","versions":null,"files":[{"filename":"a\r.whl","url":"","hashes":null,"requires-python":"<3\r","yanked":null,"size":-5}]}`))
	f.Add([]byte(`{"meta":{"api-version":"1"},"name":"p","files":[{"filename":" p.whl ","url":"#","hashes":{"":"x"},"dist-info-metadata":true}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseJSON(body, mustURL(t, fuzzUpstream))
		if err != nil {
			return
		}
		checkRoundTrips(t, acceptable(p))
	})
}

// FuzzParsePage checks that no Content-Type and body make the dispatcher
// panic.
func FuzzParsePage(f *testing.F) {
	f.Add([]byte(`{"meta":{"api-version":"1.0"},"name":"p","files":[]}`), "application/vnd.pypi.simple.v1+json")
	f.Add([]byte(`<a href="x">x</a>`), "text/html; charset=utf-8")
	f.Add([]byte(`x`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		parsePage(body, contentType, mustURL(t, fuzzUpstream))
	})
}
