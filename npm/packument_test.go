package npm

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s", name, err, got)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./npm -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs from the golden file; run go test ./npm -update and review the diff.\ngot:\n%s", name, pretty.Bytes())
	}
}

func readPackument(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/packument.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAbbreviateKeepsWhatInstallersRead(t *testing.T) {
	abbr := abbreviate(readPackument(t))
	golden(t, "abbreviated.golden", abbr)
	doc := gjson.ParseBytes(abbr)
	for _, path := range []string{"time.2\\.0\\.0", "modified", "dist-tags.latest",
		"versions.2\\.0\\.0.libc", "versions.2\\.0\\.0.os", "versions.2\\.0\\.0.cpu",
		"versions.2\\.0\\.0.peerDependenciesMeta.react.optional", "versions.1\\.0\\.0.deprecated",
		"versions.2\\.0\\.0.dist.signatures", "versions.2\\.0\\.0.dist.attestations"} {
		if !doc.Get(path).Exists() {
			t.Errorf("abbreviated form lost %s", path)
		}
	}
	for _, path := range []string{"readme", "maintainers", "versions.1\\.0\\.0.readme", "versions.1\\.0\\.0.scripts", "versions.2\\.0\\.0._npmUser"} {
		if doc.Get(path).Exists() {
			t.Errorf("abbreviated form kept %s", path)
		}
	}
	if !doc.Get("versions.1\\.0\\.0.hasInstallScript").Bool() {
		t.Error("a version with a postinstall script should be marked hasInstallScript")
	}
}

func TestAbbreviateIsIdempotent(t *testing.T) {
	once := abbreviate(readPackument(t))
	twice := abbreviate(once)
	if !bytes.Equal(once, twice) {
		t.Errorf("abbreviating an abbreviated document changed it:\n%s\n%s", once, twice)
	}
}

// A version naming a field twice is abbreviated to the first, the one
// larder reads: a client's JSON parser takes the last, so both left in
// would let an upstream show larder one tarball and the client another.
func TestAbbreviateKeepsOnlyAFieldsFirstOccurrence(t *testing.T) {
	in := []byte(`{"name":"x","versions":{"1.0.0":{"dist":{"tarball":"https://r/x/-/x-1.0.0.tgz"},"readme":"r",` +
		`"dist":{"tarball":"https://evil/x.tgz"},"scripts":{"postinstall":"a"},"scripts":{}}}}`)
	got := string(abbreviate(in))
	want := `{"name":"x","versions":{"1.0.0":{"dist":{"tarball":"https://r/x/-/x-1.0.0.tgz"},"hasInstallScript":true}}}`
	if got != want {
		t.Errorf("abbreviate:\ngot  %s\nwant %s", got, want)
	}
}

// At the top level too: the versions larder announces and verifies
// against are the first "versions" object, and "modified" comes from the
// first "time" object that has one, as gjson's Get read them.
func TestAbbreviateReadsTheTopLevelAsGetDoes(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"name":"x","versions":{"1.0.0":{"dist":{"tarball":"https://r/x-1.0.0.tgz"}}},"name":"y",` +
			`"versions":{"6.6.6":{"dist":{"tarball":"https://evil/x.tgz"}}}}`,
			`{"name":"x","versions":{"1.0.0":{"dist":{"tarball":"https://r/x-1.0.0.tgz"}}}}`},
		{`{"name":"x","time":"soon","time":{"created":"c"},"time":{"modified":"m","modified":"n"},"versions":{}}`,
			`{"name":"x","modified":"m","versions":{}}`},
		{`{"versions":{},"modified":"m1","time":{"modified":"m2","created":"c"},"modified":"m3"}`,
			`{"modified":"m1","time":{"modified":"m2","created":"c"},"versions":{}}`},
		{`{"name":"x","versions":["not","an","object"],"dist-tags":{"latest":"1.0.0"}}`,
			`{"name":"x","dist-tags":{"latest":"1.0.0"}}`},
	} {
		if got := string(abbreviate([]byte(c.in))); got != c.want {
			t.Errorf("abbreviate(%s):\ngot  %s\nwant %s", c.in, got, c.want)
		}
	}
}

// BenchmarkAbbreviate abbreviates packuments of 500 versions shaped like
// the registry's: larder does it to every packument an abbreviated request
// loads. The registry answers that request with its own abbreviated form,
// "modified" after the versions; a full document has "time" there.
func BenchmarkAbbreviate(b *testing.B) {
	for _, c := range []struct{ name, tail string }{
		{"registry-abbreviated", `,"modified":"2026-01-01T00:00:00.000Z"}`},
		{"full", `,"time":{"created":"2020-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z"},"readme":"# big"}`},
	} {
		doc := registryShapedPackument(500, c.tail)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				abbreviate(doc)
			}
		})
	}
}

// BenchmarkAnnouncedTarballs lists the tarballs of an abbreviated
// packument of 500 versions shaped like the registry's: larder does it to
// every packument it loads, before it stores the document.
func BenchmarkAnnouncedTarballs(b *testing.B) {
	doc := abbreviate(registryShapedPackument(500, `,"modified":"2026-01-01T00:00:00.000Z"}`))
	up, err := url.Parse("https://registry.npmjs.org/")
	if err != nil {
		b.Fatal(err)
	}
	res := tarballResolver{upstream: up}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if arts, errs := announcedTarballs("big", doc, res); len(arts) != 500 || len(errs) != 0 {
			b.Fatalf("%d tarballs, errors %v", len(arts), errs)
		}
	}
}

// registryShapedPackument is a packument of n versions, each with the
// fields the registry's full form has, and tail after the versions.
func registryShapedPackument(n int, tail string) []byte {
	var doc bytes.Buffer
	doc.WriteString(`{"name":"big","dist-tags":{"latest":"1.0.0"},"versions":{`)
	for i := range n {
		if i > 0 {
			doc.WriteByte(',')
		}
		fmt.Fprintf(&doc, `"1.0.%[1]d":{"name":"big","version":"1.0.%[1]d","description":"a package","main":"index.js",`+
			`"scripts":{"test":"mocha","build":"tsc"},"repository":{"type":"git","url":"git+https://github.com/x/big.git"},`+
			`"keywords":["a","b"],"license":"MIT","homepage":"https://github.com/x/big#readme",`+
			`"dependencies":{"a":"^1.0.0","b":"^2.0.0"},"devDependencies":{"mocha":"^10.0.0"},"gitHead":"0123456789abcdef",`+
			`"_id":"big@1.0.%[1]d","_nodeVersion":"20.0.0","_npmVersion":"10.0.0",`+
			`"dist":{"integrity":"sha512-AAAA","shasum":"abcd","tarball":"https://registry.npmjs.org/big/-/big-1.0.%[1]d.tgz",`+
			`"fileCount":10,"unpackedSize":12345,"signatures":[{"keyid":"SHA256:x","sig":"MEUC"}]},`+
			`"_npmUser":{"name":"x","email":"x@x"},"maintainers":[{"name":"x","email":"x@x"}],"_hasShrinkwrap":false}`, i)
	}
	doc.WriteString(`}`)
	doc.WriteString(tail)
	return doc.Bytes()
}

func TestRewriteTarballsChangesOnlyTheTarballURLs(t *testing.T) {
	in := readPackument(t)
	out := rewriteTarballs(in, "@acme/widget", "http://larder.test:7070/npm/")
	golden(t, "rewritten.golden", out)
	doc := gjson.ParseBytes(out)
	if got := doc.Get("versions.2\\.0\\.0.dist.tarball").String(); got != "http://larder.test:7070/npm/@acme/widget/-/widget-2.0.0.tgz" {
		t.Errorf("tarball = %s", got)
	}
	// Every other byte is the upstream's: removing the tarball values from
	// both documents leaves them identical.
	strip := func(b []byte) string {
		var s strings.Builder
		gjson.GetBytes(b, "versions").ForEach(func(k, v gjson.Result) bool {
			s.WriteString(v.Get("dist.signatures").Raw + v.Get("dist.attestations").Raw + v.Get("dist.integrity").Raw)
			return true
		})
		return s.String()
	}
	if strip(in) != strip(out) {
		t.Error("signatures, attestations or integrity changed in rewriting")
	}
	if !gjson.ValidBytes(out) {
		t.Error("rewritten document is not valid JSON")
	}
}

func TestRewriteTarballsSlowPathAgrees(t *testing.T) {
	in := readPackument(t)
	fast := rewriteTarballs(in, "@acme/widget", "http://h/npm/")
	slow := rewriteTarballsSlow(in, "@acme/widget", "http://h/npm/")
	gjson.GetBytes(fast, "versions").ForEach(func(k, v gjson.Result) bool {
		want := gjson.GetBytes(slow, "versions."+gjsonKey(k.String())+".dist.tarball").String()
		if got := v.Get("dist.tarball").String(); got != want {
			t.Errorf("version %s: fast %s, slow %s", k, got, want)
		}
		return true
	})
}

func TestTarballResolverNeverLeavesTheUpstream(t *testing.T) {
	up, _ := url.Parse("http://127.0.0.1:4873/relay/")
	npmjs, _ := url.Parse("https://registry.npmjs.org/")
	res := tarballResolver{upstream: up, hosts: []*url.URL{npmjs}}
	tests := []struct {
		raw, want string
	}{
		{"http://127.0.0.1:4873/relay/lodash/-/lodash-1.0.0.tgz", "http://127.0.0.1:4873/relay/lodash/-/lodash-1.0.0.tgz"},
		{"https://registry.npmjs.org/lodash/-/lodash-1.0.0.tgz", "http://127.0.0.1:4873/relay/lodash/-/lodash-1.0.0.tgz"},
		{"https://registry.npmjs.org/@s/p/-/p-1.0.0.tgz", "http://127.0.0.1:4873/relay/@s/p/-/p-1.0.0.tgz"},
		{"lodash/-/lodash-1.0.0.tgz", "http://127.0.0.1:4873/relay/lodash/-/lodash-1.0.0.tgz"},
		{"http://169.254.169.254/latest/meta-data", ""},
		{"http://127.0.0.1:9999/x.tgz", ""},
		{"https://registry.npmjs.org@evil.example/x.tgz", ""},
		{"https://user:pw@127.0.0.1:4873/relay/x.tgz", ""},
		{"file:///etc/passwd", ""},
		{"ftp://127.0.0.1:4873/relay/x.tgz", ""},
	}
	for _, tt := range tests {
		got, err := res.resolve(tt.raw)
		if tt.want == "" {
			if err == nil {
				t.Errorf("resolve(%q) = %q, want it refused", tt.raw, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("resolve(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}

func TestAnnouncedTarballsRecordsWhereAndWhat(t *testing.T) {
	up, _ := url.Parse("http://127.0.0.1:4873/")
	npmjs, _ := url.Parse("https://registry.npmjs.org/")
	arts, errs := announcedTarballs("@acme/widget", readPackument(t), tarballResolver{upstream: up, hosts: []*url.URL{npmjs}})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "evil.example") {
		t.Errorf("want one refused tarball (evil.example), got %v", errs)
	}
	if len(arts) != 2 {
		t.Fatalf("want 2 artifacts, got %+v", arts)
	}
	a := arts[0]
	if a.Path != "@acme/widget/-/widget-1.0.0.tgz" || a.Version != "1.0.0" || a.Package != "@acme/widget" {
		t.Errorf("artifact = %+v", a)
	}
	if a.UpstreamURL != "http://127.0.0.1:4873/@acme/widget/-/widget-1.0.0.tgz" {
		t.Errorf("upstream URL = %s", a.UpstreamURL)
	}
	if !strings.HasPrefix(a.Integrity, "sha512-AAAA sha1-") {
		t.Errorf("integrity = %s, want the SRI and the shasum", a.Integrity)
	}
}

func TestCheckDocumentRefusesWhatMustNotBeCached(t *testing.T) {
	tests := []struct {
		name, body, ct string
		ok             bool
	}{
		{"a JSON object", `{"name":"x"}`, "application/json", true},
		{"an HTML error page", `<html>502</html>`, "text/html", false},
		{"JSON labelled as HTML", `{"name":"x"}`, "text/html; charset=utf-8", false},
		{"a truncated body", `{"name":"x","versions":{`, "application/json", false},
		{"an array", `[1,2]`, "application/json", false},
		{"an empty body", ``, "application/json", false},
	}
	for _, tt := range tests {
		if err := checkDocument([]byte(tt.body), tt.ct); (err == nil) != tt.ok {
			t.Errorf("%s: checkDocument = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestFindVersionResolvesTagsAndVersions(t *testing.T) {
	body := readPackument(t)
	if v, ok := findVersion(body, "latest"); !ok || v.version != "2.0.0" {
		t.Errorf("latest = %+v %v", v.version, ok)
	}
	if v, ok := findVersion(body, "1.0.0"); !ok || v.version != "1.0.0" {
		t.Errorf("1.0.0 = %+v %v", v.version, ok)
	}
	if _, ok := findVersion(body, "9.9.9"); ok {
		t.Error("an unknown version was found")
	}
}
