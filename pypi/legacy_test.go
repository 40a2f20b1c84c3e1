package pypi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

const legacyBase = "http://larder.test/pypi/files/example-pkg/"

func decodeAny(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// checkRewritten says how out fails to be in with every file URL pointed at
// base: "" when it is exactly that.
func checkRewritten(in, out []byte, base string) string {
	a, err := decodeAny(in)
	if err != nil {
		return "input is not JSON: " + err.Error()
	}
	b, err := decodeAny(out)
	if err != nil {
		return "output is not JSON: " + err.Error()
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		if !reflect.DeepEqual(a, b) {
			return fmt.Sprintf("a document that is not an object changed: %v -> %v", a, b)
		}
		return ""
	}
	if len(am) != len(bm) {
		return fmt.Sprintf("top-level keys changed: %d -> %d", len(am), len(bm))
	}
	for k, av := range am {
		bv, ok := bm[k]
		switch {
		case !ok:
			return "lost the key " + k
		case k == "urls":
			if d := checkFiles(av, bv, base); d != "" {
				return "urls: " + d
			}
		case k == "releases":
			ar, aok := av.(map[string]any)
			br, bok := bv.(map[string]any)
			if !aok || !bok {
				if !reflect.DeepEqual(av, bv) {
					return "releases changed"
				}
				continue
			}
			if len(ar) != len(br) {
				return "releases: versions changed"
			}
			for v, files := range ar {
				if d := checkFiles(files, br[v], base); d != "" {
					return "releases[" + v + "]: " + d
				}
			}
		case !reflect.DeepEqual(av, bv):
			return fmt.Sprintf("%s changed: %v -> %v", k, av, bv)
		}
	}
	return ""
}

func checkFiles(a, b any, base string) string {
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if !aok || !bok {
		if !reflect.DeepEqual(a, b) {
			return fmt.Sprintf("changed: %v -> %v", a, b)
		}
		return ""
	}
	if len(al) != len(bl) {
		return fmt.Sprintf("%d files became %d", len(al), len(bl))
	}
	for i := range al {
		af, aok := al[i].(map[string]any)
		bf, bok := bl[i].(map[string]any)
		if !aok || !bok {
			if !reflect.DeepEqual(al[i], bl[i]) {
				return fmt.Sprintf("file %d changed", i)
			}
			continue
		}
		name, isString := af["filename"].(string)
		rewritten := isString && validateFilename(name) == nil
		for k, v := range af {
			if k == "url" && rewritten {
				continue
			}
			if !reflect.DeepEqual(v, bf[k]) {
				return fmt.Sprintf("file %d: %s changed: %v -> %v", i, k, v, bf[k])
			}
		}
		keys := len(af)
		if rewritten {
			if bf["url"] != base+name {
				return fmt.Sprintf("file %d: url %v, want %s", i, bf["url"], base+name)
			}
			if _, had := af["url"]; !had {
				keys++
			}
		}
		if len(bf) != keys {
			return fmt.Sprintf("file %d: keys changed", i)
		}
	}
	return ""
}

func TestRewriteLegacyPointsEveryFileAtLarder(t *testing.T) {
	in := readTestdata(t, "legacy.json")
	out, err := rewriteLegacy(in, legacyBase, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := checkRewritten(in, out, legacyBase); d != "" {
		t.Error(d)
	}
	if bytes.Contains(out, []byte("https://files.pythonhosted.org/packages/49/")) {
		t.Errorf("an upstream file URL is left:\n%s", out)
	}
	if !bytes.Contains(out, []byte("should/stay/untouched.tar.gz")) {
		t.Error("info.download_url is not a file entry and should be left alone")
	}
}

func TestRewriteLegacyLeavesBadFilenamesAlone(t *testing.T) {
	in := []byte(`{"info":{},"urls":[{"filename":"../../etc/passwd","url":"https://files.pythonhosted.org/x"},{"filename":7,"url":"u"},null]}`)
	out, err := rewriteLegacy(in, legacyBase, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := checkRewritten(in, out, legacyBase); d != "" {
		t.Error(d)
	}
	if bytes.Contains(out, []byte(legacyBase)) {
		t.Errorf("a file name that is a path was turned into a larder URL:\n%s", out)
	}
}

func TestRewriteLegacyRefusesMalformedDocuments(t *testing.T) {
	for _, tc := range []struct{ why, body string }{
		{"invalid JSON", `{"urls":[`},
		{"urls that are not a list", `{"urls":{"a":1}}`},
		{"files that are not objects", `{"urls":[1,2]}`},
		{"releases that are not an object", `{"releases":[]}`},
		{"a release that is not a list", `{"releases":{"1.0":"x"}}`},
	} {
		if out, err := rewriteLegacy([]byte(tc.body), legacyBase, nil); err == nil {
			t.Errorf("%s: accepted, gave %s", tc.why, out)
		}
	}
}

func TestRewriteLegacyIsIdempotent(t *testing.T) {
	once, err := rewriteLegacy(readTestdata(t, "legacy.json"), legacyBase, nil)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := rewriteLegacy(once, legacyBase, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(once, twice) {
		t.Errorf("rewriting twice changed the document:\n%s\n%s", once, twice)
	}
}

func TestValidVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"1.0": true, "2.0.0rc1": true, "1.0.post1+local.7": true, "1!2.0": true, "1.0_a": true,
		"": false, ".": false, "..": false, "1.0/..": false, "1 0": false, "1%2f0": false,
	} {
		if validVersion(v) != ok {
			t.Errorf("validVersion(%q) = %v", v, !ok)
		}
	}
}

// FuzzRewriteLegacy checks that rewriting never panics, changes nothing but
// the url of file entries whose file name is valid, and is idempotent.
func FuzzRewriteLegacy(f *testing.F) {
	f.Add(readTestdata(f, "legacy.json"))
	f.Add([]byte(`{"urls":[{"filename":"a.whl"}],"releases":{"1":[{"filename":"b.whl","url":"x"}]}}`))
	f.Add([]byte(`{"urls":[null,{"filename":null},{"filename":"../x","url":1}],"releases":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := rewriteLegacy(body, legacyBase, nil)
		if err != nil {
			return
		}
		if d := checkRewritten(body, out, legacyBase); d != "" {
			t.Fatalf("%s\nin:  %s\nout: %s", d, body, out)
		}
		again, err := rewriteLegacy(out, legacyBase, nil)
		if err != nil {
			t.Fatalf("the rewritten document is refused: %v\n%s", err, out)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("rewriting is not idempotent:\n%s\n%s", out, again)
		}
	})
}

func TestRewriteLegacyListsOnlyKeptFiles(t *testing.T) {
	in := []byte(`{"info":{"name":"example-pkg","version":"2.0"},
		"urls":[{"filename":"example_pkg-2.0-py3-none-any.whl","url":"https://files.example/a"}],
		"releases":{
			"1.0":[{"filename":"example_pkg-1.0-py3-none-any.whl","url":"https://files.example/b"},{"filename":"example_pkg-1.0.tar.gz","url":"https://files.example/c"}],
			"2.0":[{"filename":"example_pkg-2.0-py3-none-any.whl","url":"https://files.example/a"}]}}`)
	held := map[string]bool{"example_pkg-1.0.tar.gz": true}
	out, err := rewriteLegacy(in, legacyBase, func(f string) bool { return held[f] })
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Info     struct{ Name, Version string }   `json:"info"`
		URLs     []struct{ Filename, URL string } `json:"urls"`
		Releases map[string][]struct {
			Filename string `json:"filename"`
			URL      string `json:"url"`
		} `json:"releases"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	// 2.0 has no file left: what tools read as the latest is 1.0.
	if d.Info.Version != "1.0" || d.Info.Name != "example-pkg" || len(d.URLs) != 1 || d.URLs[0].Filename != "example_pkg-1.0.tar.gz" {
		t.Errorf("info %+v, urls %v, want 1.0 and its held sdist", d.Info, d.URLs)
	}
	if r := d.Releases["1.0"]; len(r) != 1 || r[0].Filename != "example_pkg-1.0.tar.gz" || r[0].URL != legacyBase+"example_pkg-1.0.tar.gz" {
		t.Errorf("release 1.0 lists %+v, want only the held sdist, at larder", r)
	}
	if r, ok := d.Releases["2.0"]; !ok || len(r) != 0 {
		t.Errorf("release 2.0 lists %+v, want it present with no files, as PyPI lists a release without files", r)
	}
}
