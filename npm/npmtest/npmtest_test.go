package npmtest

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const npmAccept = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"

// newServer starts a Server that is closed when the test ends.
func newServer(t *testing.T) *Server {
	t.Helper()
	s := New()
	t.Cleanup(s.Close)
	return s
}

// rawClient neither adds Accept-Encoding nor decompresses, so tests see the
// bytes on the wire.
func rawClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// do sends method to s.URL+path with header pairs ("Accept", "...") and
// returns the response with its body read.
func do(t *testing.T, c *http.Client, method, rawURL string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, rawURL, err)
	}
	return resp, body
}

func get(t *testing.T, s *Server, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, rawClient(t), http.MethodGet, s.URL+path, header...)
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, body)
	}
	return m
}

// field walks a decoded JSON document: jsonAt(t, doc, "versions", "1.0.0", "dist").
func jsonAt(t *testing.T, doc map[string]any, keys ...string) any {
	t.Helper()
	var v any = doc
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v: %q is not inside an object", keys, k)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("%v: no %q in %v", keys, k, slices.Sorted(maps.Keys(m)))
		}
	}
	return v
}

type tarEntry struct {
	name    string
	modTime time.Time
	body    []byte
}

func untar(t *testing.T, tgz []byte) []tarEntry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("not a tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{hdr.Name, hdr.ModTime, body})
	}
}

func sri512(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

func sha1hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

func TestTarballIsAGzipTarWithPackageJSONAndIndexJS(t *testing.T) {
	deps := map[string]string{"left-pad": "^1.0.0", "@scope/util": "2.x"}
	entries := untar(t, Tarball("@scope/pkg", "1.2.3", deps))
	var names []string
	for _, e := range entries {
		names = append(names, e.name)
		if !e.modTime.Equal(npmEpoch) {
			t.Errorf("%s has mtime %v, want npm's fixed %v", e.name, e.modTime, npmEpoch)
		}
	}
	if want := []string{"package/package.json", "package/index.js"}; !slices.Equal(names, want) {
		t.Fatalf("entries %v, want %v", names, want)
	}
	manifest := decode(t, entries[0].body)
	for k, want := range map[string]any{"name": "@scope/pkg", "version": "1.2.3", "main": "index.js"} {
		if manifest[k] != want {
			t.Errorf("package.json %s = %v, want %v", k, manifest[k], want)
		}
	}
	if got := jsonAt(t, manifest, "dependencies"); fmt.Sprint(got) != fmt.Sprint(map[string]any{"left-pad": "^1.0.0", "@scope/util": "2.x"}) {
		t.Errorf("package.json dependencies = %v, want %v", got, deps)
	}
	if !bytes.Contains(entries[1].body, []byte("module.exports")) {
		t.Errorf("index.js = %q, want a CommonJS module", entries[1].body)
	}
}

func TestTarballWithoutDependenciesHasAnEmptyDependenciesObject(t *testing.T) {
	manifest := decode(t, untar(t, Tarball("a", "1.0.0", nil))[0].body)
	if got, ok := manifest["dependencies"].(map[string]any); !ok || len(got) != 0 {
		t.Errorf("dependencies = %#v, want {}", manifest["dependencies"])
	}
}

func TestTarballBytesDependOnlyOnTheInputs(t *testing.T) {
	deps := map[string]string{"a": "1", "b": "2", "c": "3"}
	first := Tarball("pkg", "1.0.0", deps)
	if again := Tarball("pkg", "1.0.0", map[string]string{"c": "3", "b": "2", "a": "1"}); !bytes.Equal(first, again) {
		t.Error("the same inputs gave different bytes")
	}
	for _, other := range [][]byte{
		Tarball("pkg", "1.0.1", deps),
		Tarball("pkh", "1.0.0", deps),
		Tarball("pkg", "1.0.0", nil),
	} {
		if bytes.Equal(first, other) {
			t.Error("different inputs gave the same bytes")
		}
	}
}

func TestTarballPathFollowsTheRegistryConvention(t *testing.T) {
	for _, tc := range []struct{ name, version, want string }{
		{"lodash", "1.0.0", "lodash/-/lodash-1.0.0.tgz"},
		{"@scope/pkg", "1.0.0", "@scope/pkg/-/pkg-1.0.0.tgz"},
		{"@types/node", "20.1.0-beta.1", "@types/node/-/node-20.1.0-beta.1.tgz"},
	} {
		if got := TarballPath(tc.name, tc.version); got != tc.want {
			t.Errorf("TarballPath(%q, %q) = %q, want %q", tc.name, tc.version, got, tc.want)
		}
	}
}

func TestServedTarballsMatchTheirDistShasumAndIntegrity(t *testing.T) {
	for _, name := range []string{"lodash", "@scope/pkg"} {
		t.Run(name, func(t *testing.T) {
			s := newServer(t)
			s.Publish(name, "1.0.0", nil)
			s.Publish(name, "1.1.0", map[string]string{"dep": "^1.0.0"})
			_, body := get(t, s, strings.Replace(name, "/", "%2f", 1))
			doc := decode(t, body)
			for _, ver := range []string{"1.0.0", "1.1.0"} {
				dist := jsonAt(t, doc, "versions", ver, "dist").(map[string]any)
				if want := s.URL + TarballPath(name, ver); dist["tarball"] != want {
					t.Errorf("%s dist.tarball = %v, want %s", ver, dist["tarball"], want)
				}
				resp, tgz := do(t, rawClient(t), http.MethodGet, dist["tarball"].(string))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %s", dist["tarball"], resp.Status)
				}
				if got := sri512(tgz); got != dist["integrity"] {
					t.Errorf("%s: served bytes have %s, dist.integrity says %v", ver, got, dist["integrity"])
				}
				if got := sha1hex(tgz); got != dist["shasum"] {
					t.Errorf("%s: served bytes have sha1 %s, dist.shasum says %v", ver, got, dist["shasum"])
				}
				if dist["fileCount"] != 2.0 {
					t.Errorf("%s dist.fileCount = %v, want 2", ver, dist["fileCount"])
				}
				size := 0
				for _, e := range untar(t, tgz) {
					size += len(e.body)
				}
				if dist["unpackedSize"] != float64(size) {
					t.Errorf("%s dist.unpackedSize = %v, want %d", ver, dist["unpackedSize"], size)
				}
				sigs, _ := dist["signatures"].([]any)
				if len(sigs) != 1 || jsonAt(t, sigs[0].(map[string]any), "keyid") != "SHA256:fake" {
					t.Errorf("%s dist.signatures = %v, want one by SHA256:fake", ver, dist["signatures"])
				}
			}
		})
	}
}

func TestScopedPackagesAreServedInEveryPathForm(t *testing.T) {
	s := newServer(t)
	s.Publish("@scope/pkg", "1.0.0", nil)
	want := Tarball("@scope/pkg", "1.0.0", nil)
	for _, path := range []string{"@scope%2fpkg", "@scope%2Fpkg", "@scope/pkg"} {
		t.Run("packument at /"+path, func(t *testing.T) {
			for _, accept := range []string{npmAccept, "application/json"} {
				resp, body := get(t, s, path, "Accept", accept)
				if resp.StatusCode != http.StatusOK || decode(t, body)["name"] != "@scope/pkg" {
					t.Errorf("Accept %q: %s %s", accept, resp.Status, body)
				}
			}
		})
		t.Run("tarball at /"+path+"/-/pkg-1.0.0.tgz", func(t *testing.T) {
			resp, body := get(t, s, path+"/-/pkg-1.0.0.tgz")
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
				t.Errorf("%s, %d bytes, want the published %d", resp.Status, len(body), len(want))
			}
		})
		t.Run("version document at /"+path+"/1.0.0", func(t *testing.T) {
			resp, body := get(t, s, path+"/1.0.0")
			if resp.StatusCode != http.StatusOK || decode(t, body)["_id"] != "@scope/pkg@1.0.0" {
				t.Errorf("%s %s", resp.Status, body)
			}
		})
	}
}

func TestMissingThingsAre404NotFound(t *testing.T) {
	s := newServer(t)
	s.Publish("lodash", "1.0.0", nil)
	s.Publish("@scope/pkg", "1.0.0", nil)
	for _, tc := range []struct{ what, path string }{
		{"an unknown package", "nope"},
		{"an unknown scoped package", "@scope%2fnope"},
		{"an unknown version", "lodash/9.9.9"},
		{"an unknown dist-tag", "lodash/next"},
		{"an unknown tarball version", "lodash/-/lodash-9.9.9.tgz"},
		{"a tarball named after another package", "lodash/-/underscore-1.0.0.tgz"},
		{"a scoped tarball named with its scope", "@scope/pkg/-/@scope/pkg-1.0.0.tgz"},
		{"a bare scope", "@scope"},
		{"an unknown /-/ endpoint", "-/whatever"},
	} {
		t.Run(tc.what+" is 404", func(t *testing.T) {
			for _, accept := range []string{npmAccept, "application/json"} {
				resp, body := get(t, s, tc.path, "Accept", accept)
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("Accept %q: status %s, want 404", accept, resp.Status)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
				if string(body) != `{"error":"Not found"}` {
					t.Errorf("body %s, want {\"error\":\"Not found\"}", body)
				}
			}
		})
	}
}

func TestPackumentFormDependsOnAccept(t *testing.T) {
	s := newServer(t)
	s.Publish("lodash", "1.0.0", map[string]string{"dep": "^2.0.0"})
	for _, tc := range []struct {
		accept      string
		abbreviated bool
	}{
		{npmAccept, true},
		{"application/vnd.npm.install-v1+json", true},
		{"application/json", false},
		{"*/*", false},
		{"", false},
	} {
		t.Run(fmt.Sprintf("Accept %q gets abbreviated=%v", tc.accept, tc.abbreviated), func(t *testing.T) {
			resp, body := get(t, s, "lodash", "Accept", tc.accept)
			doc := decode(t, body)
			v := jsonAt(t, doc, "versions", "1.0.0").(map[string]any)
			if got := fmt.Sprint(jsonAt(t, v, "dependencies")); got != "map[dep:^2.0.0]" {
				t.Errorf("dependencies = %s", got)
			}
			jsonAt(t, v, "dist", "integrity")
			if tc.abbreviated {
				if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.npm.install-v1+json" {
					t.Errorf("Content-Type %q", ct)
				}
				if got := slices.Sorted(maps.Keys(doc)); !slices.Equal(got, []string{"dist-tags", "modified", "name", "versions"}) {
					t.Errorf("top-level fields %v, want exactly dist-tags, modified, name, versions (no time)", got)
				}
				for k := range v {
					if !abbreviatedFields[k] {
						t.Errorf("abbreviated version has %q", k)
					}
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			for _, k := range []string{"_id", "_rev", "name", "description", "dist-tags", "versions", "time", "maintainers", "readme", "license"} {
				jsonAt(t, doc, k)
			}
			for k, want := range map[string]any{"name": "lodash", "version": "1.0.0", "main": "index.js", "_id": "lodash@1.0.0"} {
				if v[k] != want {
					t.Errorf("version %s = %v, want %v", k, v[k], want)
				}
			}
			jsonAt(t, v, "description")
		})
	}
}

func TestPackumentsListVersionsInPublishOrder(t *testing.T) {
	s := newServer(t)
	for _, v := range []string{"1.9.0", "1.10.0", "1.2.0"} {
		s.Publish("pkg", v, nil)
	}
	for _, accept := range []string{npmAccept, "application/json"} {
		_, body := get(t, s, "pkg", "Accept", accept)
		a, b, c := bytes.Index(body, []byte(`"1.9.0":{`)), bytes.Index(body, []byte(`"1.10.0":{`)), bytes.Index(body, []byte(`"1.2.0":{`))
		if a < 0 || !(a < b && b < c) {
			t.Errorf("Accept %q: versions not in publish order: %s", accept, body)
		}
	}
}

func TestIgnoreAbbreviatedAnswersTheFullDocumentAsJSON(t *testing.T) {
	s := newServer(t)
	s.Publish("lodash", "1.0.0", nil)
	s.IgnoreAbbreviated(true)
	resp, body := get(t, s, "lodash", "Accept", npmAccept)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	jsonAt(t, decode(t, body), "time", "1.0.0")

	s.IgnoreAbbreviated(false)
	if resp, _ := get(t, s, "lodash", "Accept", npmAccept); resp.Header.Get("Content-Type") != abbreviatedType {
		t.Errorf("after IgnoreAbbreviated(false): Content-Type %q", resp.Header.Get("Content-Type"))
	}
}

var registryTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestTimesAreRFC3339WithMillisecondsAndModifiedMovesOnEveryChange(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	s.Publish("pkg", "1.1.0", nil)
	_, body := get(t, s, "pkg")
	times := jsonAt(t, decode(t, body), "time").(map[string]any)
	for _, k := range []string{"created", "modified", "1.0.0", "1.1.0"} {
		if v, _ := times[k].(string); !registryTimeRE.MatchString(v) {
			t.Errorf("time.%s = %q, want like 2024-05-01T12:34:56.789Z", k, times[k])
		}
	}
	if !(times["created"].(string) <= times["1.0.0"].(string) && times["1.0.0"].(string) < times["1.1.0"].(string) && times["1.1.0"].(string) <= times["modified"].(string)) {
		t.Errorf("times out of order: %v", times)
	}
	_, abbreviated := get(t, s, "pkg", "Accept", npmAccept)
	if got := decode(t, abbreviated)["modified"]; got != times["modified"] {
		t.Errorf("abbreviated modified %v, full time.modified %v", got, times["modified"])
	}

	for _, change := range []struct {
		what string
		do   func()
	}{
		{"a publish", func() { s.Publish("pkg", "1.2.0", nil) }},
		{"a dist-tag", func() { s.SetDistTag("pkg", "next", "1.2.0") }},
		{"a deprecation", func() { s.Deprecate("pkg", "1.0.0", "use 1.2.0") }},
	} {
		_, before := get(t, s, "pkg")
		change.do()
		_, after := get(t, s, "pkg")
		if b, a := jsonAt(t, decode(t, before), "time", "modified").(string), jsonAt(t, decode(t, after), "time", "modified").(string); a <= b {
			t.Errorf("after %s time.modified went from %s to %s", change.what, b, a)
		}
		if decode(t, before)["_rev"] == decode(t, after)["_rev"] {
			t.Errorf("after %s _rev did not change", change.what)
		}
	}
}

func TestDistTagsLatestFollowsTheHighestRelease(t *testing.T) {
	for _, tc := range []struct {
		published []string
		latest    string
	}{
		{[]string{"1.0.0"}, "1.0.0"},
		{[]string{"1.0.0", "2.0.0", "1.5.0"}, "2.0.0"},
		{[]string{"1.9.0", "1.10.0"}, "1.10.0"},
		{[]string{"1.0.0", "2.0.0-beta.1"}, "1.0.0"},
		{[]string{"1.0.0-alpha", "1.0.0-beta"}, "1.0.0-beta"},
		{[]string{"1.0.0-rc.1", "1.0.0"}, "1.0.0"},
		{[]string{"1.0.0-rc.2", "1.0.0-rc.10"}, "1.0.0-rc.10"},
	} {
		t.Run(fmt.Sprintf("publishing %v makes latest %s", tc.published, tc.latest), func(t *testing.T) {
			s := newServer(t)
			for _, v := range tc.published {
				s.Publish("pkg", v, nil)
			}
			_, body := get(t, s, "pkg")
			if got := jsonAt(t, decode(t, body), "dist-tags", "latest"); got != tc.latest {
				t.Errorf("latest = %v", got)
			}
		})
	}
}

func TestSetDistTagAddsMovesAndRemovesTags(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	s.Publish("pkg", "2.0.0-beta.1", nil)
	s.SetDistTag("pkg", "next", "2.0.0-beta.1")

	_, body := get(t, s, "pkg/next")
	if got := decode(t, body)["version"]; got != "2.0.0-beta.1" {
		t.Errorf("GET /pkg/next gave version %v", got)
	}
	_, body = get(t, s, "-/package/pkg/dist-tags")
	if got := string(body); got != `{"latest":"1.0.0","next":"2.0.0-beta.1"}` {
		t.Errorf("GET /-/package/pkg/dist-tags = %s", got)
	}

	s.SetDistTag("pkg", "latest", "2.0.0-beta.1")
	_, body = get(t, s, "pkg/latest")
	if got := decode(t, body)["version"]; got != "2.0.0-beta.1" {
		t.Errorf("after moving latest, GET /pkg/latest gave %v", got)
	}

	s.SetDistTag("pkg", "next", "")
	if resp, _ := get(t, s, "pkg/next"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after removing next, GET /pkg/next: %s", resp.Status)
	}
}

func TestVersionDocumentsAreTheFullVersionObjects(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", map[string]string{"dep": "1"})
	_, full := get(t, s, "pkg")
	want, _ := json.Marshal(jsonAt(t, decode(t, full), "versions", "1.0.0"))
	for _, path := range []string{"pkg/1.0.0", "pkg/latest"} {
		resp, body := get(t, s, path, "Accept", npmAccept)
		got, _ := json.Marshal(decode(t, body))
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("GET /%s: %s\n got %s\nwant %s", path, resp.Status, got, want)
		}
		if resp.Header.Get("ETag") == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET /%s: headers %v", path, resp.Header)
		}
	}
}

func TestConditionalRequestsAreAnswered304(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	resp, _ := get(t, s, "pkg")
	tag := resp.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]+"$`).MatchString(tag) {
		t.Fatalf("ETag %q, want a strong quoted tag", tag)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q", cc)
	}
	if v := resp.Header.Get("Vary"); v != "Accept, Accept-Encoding" {
		t.Errorf("Vary %q", v)
	}
	lastModified, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil {
		t.Errorf("Last-Modified %q: %v", resp.Header.Get("Last-Modified"), err)
	}

	abbreviated, _ := get(t, s, "pkg", "Accept", npmAccept)
	if abbreviated.Header.Get("ETag") == tag {
		t.Error("full and abbreviated documents have the same ETag")
	}

	for _, tc := range []struct {
		what   string
		header []string
		want   int
	}{
		{"the current ETag", []string{"If-None-Match", tag}, 304},
		{"the weak form of the current ETag", []string{"If-None-Match", "W/" + tag}, 304},
		{"a list holding the current ETag", []string{"If-None-Match", `"other", ` + tag}, 304},
		{"*", []string{"If-None-Match", "*"}, 304},
		{"another ETag", []string{"If-None-Match", `"other"`}, 200},
		{"the abbreviated ETag on the full document", []string{"If-None-Match", abbreviated.Header.Get("ETag")}, 200},
		{"If-Modified-Since Last-Modified", []string{"If-Modified-Since", lastModified.Format(http.TimeFormat)}, 304},
		{"If-Modified-Since before Last-Modified", []string{"If-Modified-Since", lastModified.Add(-time.Hour).Format(http.TimeFormat)}, 200},
		{"another ETag and a late If-Modified-Since", []string{"If-None-Match", `"other"`, "If-Modified-Since", lastModified.Add(time.Hour).Format(http.TimeFormat)}, 200},
	} {
		t.Run(tc.what+fmt.Sprintf(" gets %d", tc.want), func(t *testing.T) {
			resp, body := get(t, s, "pkg", tc.header...)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %s", resp.Status)
			}
			if tc.want == 304 && (len(body) != 0 || resp.Header.Get("ETag") != tag) {
				t.Errorf("304 with body %q and ETag %q", body, resp.Header.Get("ETag"))
			}
		})
	}

	t.Run("an ETag from before a publish gets 200 and a new ETag", func(t *testing.T) {
		s.Publish("pkg", "1.0.1", nil)
		resp, _ := get(t, s, "pkg", "If-None-Match", tag)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == tag {
			t.Errorf("%s with ETag %q", resp.Status, resp.Header.Get("ETag"))
		}
	})
	t.Run("a tarball's ETag gets 304", func(t *testing.T) {
		resp, _ := get(t, s, TarballPath("pkg", "1.0.0"))
		tag := resp.Header.Get("ETag")
		if tag == "" {
			t.Fatal("tarball has no ETag")
		}
		if resp, _ := get(t, s, TarballPath("pkg", "1.0.0"), "If-None-Match", tag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("status %s", resp.Status)
		}
	})
}

func TestStripValidatorsSendsNoETagLastModifiedOrCacheControl(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	paths := []string{"pkg", "pkg/1.0.0", TarballPath("pkg", "1.0.0")}
	tags := map[string]string{}
	for _, path := range paths {
		resp, _ := get(t, s, path)
		tags[path] = resp.Header.Get("ETag")
	}
	s.StripValidators(true)
	for _, path := range paths {
		t.Run("on /"+path, func(t *testing.T) {
			resp, body := get(t, s, path, "If-None-Match", tags[path])
			if resp.StatusCode != http.StatusOK || len(body) == 0 {
				t.Errorf("status %s with %d bytes, want 200 with the body", resp.Status, len(body))
			}
			for _, h := range []string{"ETag", "Last-Modified", "Cache-Control"} {
				if v := resp.Header.Get(h); v != "" {
					t.Errorf("%s: %q", h, v)
				}
			}
		})
	}
}

func TestPackumentsAreGzippedWhenTheClientAcceptsIt(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	for _, tc := range []struct {
		acceptEncoding string
		gzipped        bool
	}{
		{"gzip", true},
		{"gzip, deflate, br", true},
		{"br;q=1.0, gzip;q=0.8", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"", false},
	} {
		t.Run(fmt.Sprintf("Accept-Encoding %q gives gzip=%v", tc.acceptEncoding, tc.gzipped), func(t *testing.T) {
			for _, accept := range []string{npmAccept, "application/json"} {
				resp, body := get(t, s, "pkg", "Accept", accept, "Accept-Encoding", tc.acceptEncoding)
				if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzipped {
					t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
				}
				if resp.ContentLength != int64(len(body)) {
					t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
				}
				if tc.gzipped {
					zr, err := gzip.NewReader(bytes.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					if body, err = io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
				}
				decode(t, body)
			}
		})
	}
	t.Run("tarballs are sent as they are", func(t *testing.T) {
		resp, body := get(t, s, TarballPath("pkg", "1.0.0"), "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, Tarball("pkg", "1.0.0", nil)) {
			t.Errorf("Content-Encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("Content-Type %q", ct)
		}
	})
	t.Run("Go's default client decodes it transparently", func(t *testing.T) {
		resp, err := http.Get(s.URL + "pkg")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !resp.Uncompressed || decode(t, body)["name"] != "pkg" {
			t.Errorf("Uncompressed=%v body %.80s", resp.Uncompressed, body)
		}
	})
}

func TestHeadAnswersLikeGetWithoutABody(t *testing.T) {
	s := newServer(t)
	s.Publish("@scope/pkg", "1.0.0", nil)
	for _, path := range []string{"@scope%2fpkg", "@scope/pkg/1.0.0", TarballPath("@scope/pkg", "1.0.0"), "@scope%2fpkg/-/pkg-1.0.0.tgz", "nope", "-/ping"} {
		t.Run("on /"+path, func(t *testing.T) {
			c := rawClient(t)
			getResp, getBody := do(t, c, http.MethodGet, s.URL+path)
			headResp, headBody := do(t, c, http.MethodHead, s.URL+path)
			if headResp.StatusCode != getResp.StatusCode || len(headBody) != 0 {
				t.Errorf("HEAD: %s with %d bytes; GET: %s", headResp.Status, len(headBody), getResp.Status)
			}
			for _, h := range []string{"Content-Type", "Content-Length", "ETag"} {
				if headResp.Header.Get(h) != getResp.Header.Get(h) {
					t.Errorf("%s: HEAD %q, GET %q", h, headResp.Header.Get(h), getResp.Header.Get(h))
				}
			}
			if getResp.ContentLength != int64(len(getBody)) {
				t.Errorf("GET Content-Length %d for %d bytes", getResp.ContentLength, len(getBody))
			}
		})
	}
}

func TestSetTarballBaseChangesURLsButNotWhereTarballsAreServed(t *testing.T) {
	s := newServer(t)
	s.Publish("@scope/pkg", "1.0.0", nil)
	s.SetTarballBase("https://registry.npmjs.org")
	for _, accept := range []string{npmAccept, "application/json"} {
		_, body := get(t, s, "@scope%2fpkg", "Accept", accept)
		if got := jsonAt(t, decode(t, body), "versions", "1.0.0", "dist", "tarball"); got != "https://registry.npmjs.org/@scope/pkg/-/pkg-1.0.0.tgz" {
			t.Errorf("Accept %q: dist.tarball = %v", accept, got)
		}
	}
	if resp, _ := get(t, s, TarballPath("@scope/pkg", "1.0.0")); resp.StatusCode != http.StatusOK {
		t.Errorf("tarball at s.URL: %s", resp.Status)
	}
	s.SetTarballBase("")
	_, body := get(t, s, "@scope%2fpkg")
	if got := jsonAt(t, decode(t, body), "versions", "1.0.0", "dist", "tarball"); got != s.URL+"@scope/pkg/-/pkg-1.0.0.tgz" {
		t.Errorf("after SetTarballBase(\"\"): dist.tarball = %v", got)
	}
}

func TestPublishTarballTakesVersionFieldsFromItsPackageJSON(t *testing.T) {
	manifest := `{"name":"tool","version":"3.0.0","description":"A tool","bin":{"tool":"cli.js"},` +
		`"engines":{"node":">=18"},"scripts":{"postinstall":"node setup.js","test":"true"},` +
		`"dependencies":{"from-manifest":"1.0.0"},"os":["linux"]}`
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range map[string]string{"package/package.json": manifest, "package/cli.js": "#!/usr/bin/env node\n"} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	_ = zw.Close()

	s := newServer(t)
	s.PublishTarball("tool", "3.0.0", buf.Bytes(), nil)
	_, body := get(t, s, "tool")
	full := jsonAt(t, decode(t, body), "versions", "3.0.0").(map[string]any)
	_, body = get(t, s, "tool", "Accept", npmAccept)
	abbreviated := jsonAt(t, decode(t, body), "versions", "3.0.0").(map[string]any)

	for _, tc := range []struct {
		key                    string
		inFull, inAbbreviated  bool
		wantFull, wantAbbrevia string
	}{
		{"description", true, false, "A tool", ""},
		{"bin", true, true, "map[tool:cli.js]", "map[tool:cli.js]"},
		{"engines", true, true, "map[node:>=18]", "map[node:>=18]"},
		{"os", true, true, "[linux]", "[linux]"},
		{"scripts", true, false, "map[postinstall:node setup.js test:true]", ""},
		{"hasInstallScript", true, true, "true", "true"},
		{"dependencies", true, true, "map[from-manifest:1.0.0]", "map[from-manifest:1.0.0]"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if v, ok := full[tc.key]; ok != tc.inFull || (ok && fmt.Sprint(v) != tc.wantFull) {
				t.Errorf("full: %v (present %v)", v, ok)
			}
			if v, ok := abbreviated[tc.key]; ok != tc.inAbbreviated || (ok && fmt.Sprint(v) != tc.wantAbbrevia) {
				t.Errorf("abbreviated: %v (present %v)", v, ok)
			}
		})
	}
	if !bytes.Contains(body, []byte(`">=18"`)) {
		t.Errorf("the abbreviated document escapes >=18: %s", body)
	}
	if got := jsonAt(t, full, "dist", "fileCount"); got != 2.0 {
		t.Errorf("dist.fileCount = %v", got)
	}
}

func TestPublishTarballAcceptsBytesThatAreNotATarball(t *testing.T) {
	s := newServer(t)
	junk := []byte("not a tarball")
	s.PublishTarball("junk", "1.0.0", junk, map[string]string{"a": "1"})
	resp, body := get(t, s, TarballPath("junk", "1.0.0"))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, junk) {
		t.Errorf("%s %q", resp.Status, body)
	}
	_, body = get(t, s, "junk")
	if got := jsonAt(t, decode(t, body), "versions", "1.0.0", "dist", "integrity"); got != sri512(junk) {
		t.Errorf("dist.integrity %v", got)
	}
}

func TestRepublishingAVersionReplacesItsBytes(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	replacement := Tarball("pkg", "1.0.0", map[string]string{"new": "1"})
	s.PublishTarball("pkg", "1.0.0", replacement, nil)
	if _, body := get(t, s, TarballPath("pkg", "1.0.0")); !bytes.Equal(body, replacement) {
		t.Error("old bytes still served")
	}
	_, body := get(t, s, "pkg")
	doc := decode(t, body)
	if got := jsonAt(t, doc, "versions", "1.0.0", "dist", "integrity"); got != sri512(replacement) {
		t.Errorf("dist.integrity %v", got)
	}
	if n := len(jsonAt(t, doc, "versions").(map[string]any)); n != 1 {
		t.Errorf("%d versions, want 1", n)
	}
}

func TestDeprecateMarksTheVersionInBothForms(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	s.Deprecate("pkg", "1.0.0", "use 2")
	for _, accept := range []string{npmAccept, "application/json"} {
		_, body := get(t, s, "pkg", "Accept", accept)
		if got := jsonAt(t, decode(t, body), "versions", "1.0.0", "deprecated"); got != "use 2" {
			t.Errorf("Accept %q: deprecated = %v", accept, got)
		}
	}
}

func TestServiceEndpointsAnswerLikeTheRegistry(t *testing.T) {
	s := newServer(t)
	s.Publish("lodash", "4.17.21", nil)
	for _, tc := range []struct {
		what, method, path string
		want               int
		check              func(t *testing.T, doc map[string]any)
	}{
		{"ping answers {}", "GET", "-/ping", 200, func(t *testing.T, doc map[string]any) {
			if len(doc) != 0 {
				t.Errorf("%v", doc)
			}
		}},
		{"keys lists the fake key", "GET", "-/npm/v1/keys", 200, func(t *testing.T, doc map[string]any) {
			keys := jsonAt(t, doc, "keys").([]any)
			key := keys[0].(map[string]any)
			if len(keys) != 1 || key["keyid"] != "SHA256:fake" || key["keytype"] != "ecdsa-sha2-nistp256" || key["expires"] != nil {
				t.Errorf("%v", doc)
			}
			if !strings.HasPrefix(key["key"].(string), "MFkw") {
				t.Errorf("key %v", key["key"])
			}
		}},
		{"search finds by name", "GET", "-/v1/search?text=lod&size=20", 200, func(t *testing.T, doc map[string]any) {
			if doc["total"] != 1.0 || jsonAt(t, jsonAt(t, doc, "objects").([]any)[0].(map[string]any), "package", "name") != "lodash" {
				t.Errorf("%v", doc)
			}
			jsonAt(t, doc, "time")
		}},
		{"bulk advisories answer {}", "POST", "-/npm/v1/security/advisories/bulk", 200, nil},
		{"quick audits answer {}", "POST", "-/npm/v1/security/audits/quick", 200, nil},
		{"audits answer {}", "POST", "-/npm/v1/security/audits", 200, nil},
		{"GET on an audit endpoint is not allowed", "GET", "-/npm/v1/security/audits", 405, nil},
		{"PUT on a packument is not allowed", "PUT", "lodash", 405, nil},
	} {
		t.Run(tc.what, func(t *testing.T) {
			var body io.Reader
			if tc.method == "POST" {
				body = strings.NewReader(`{"lodash":["4.17.21"]}`)
			}
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, body)
			resp, err := rawClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %s: %s", resp.Status, raw)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			doc := decode(t, raw)
			if tc.check != nil {
				tc.check(t, doc)
			} else if tc.want == 200 && len(doc) != 0 {
				t.Errorf("body %s, want {}", raw)
			}
		})
	}
}

func TestSearchMatchesEveryWordAndPages(t *testing.T) {
	s := newServer(t)
	for _, name := range []string{"lodash", "lodash-es", "@types/lodash", "react"} {
		s.Publish(name, "1.0.0", nil)
	}
	for _, tc := range []struct {
		query string
		total int
		names []string
	}{
		{"text=lodash", 3, []string{"@types/lodash", "lodash", "lodash-es"}},
		{"text=lodash&size=1&from=1", 3, []string{"lodash"}},
		{"text=lodash&from=10", 3, []string{}},
		{"text=fake+react", 1, []string{"react"}},
		{"text=vue", 0, []string{}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			_, body := get(t, s, "-/v1/search?"+tc.query)
			doc := decode(t, body)
			names := []string{}
			for _, o := range jsonAt(t, doc, "objects").([]any) {
				names = append(names, jsonAt(t, o.(map[string]any), "package", "name").(string))
			}
			if doc["total"] != float64(tc.total) || !slices.Equal(names, tc.names) {
				t.Errorf("total %v objects %v, want %d %v", doc["total"], names, tc.total, tc.names)
			}
		})
	}
}

func TestModeRefuseRefusesConnectionsThenReopensTheSameURL(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	c := rawClient(t) // keeps its connection alive across the modes
	url := s.URL
	if resp, _ := do(t, c, "GET", url+"pkg"); resp.StatusCode != http.StatusOK {
		t.Fatalf("before: %s", resp.Status)
	}

	s.SetMode(ModeRefuse)
	for range 2 {
		_, err := c.Get(url + "pkg")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("in ModeRefuse: err %v, want connection refused", err)
		}
	}
	s.SetMode(ModeRefuse) // staying refused is fine

	s.SetMode(ModeNormal)
	if s.URL != url {
		t.Errorf("URL changed from %s to %s", url, s.URL)
	}
	if resp, _ := do(t, c, "GET", url+"pkg"); resp.StatusCode != http.StatusOK {
		t.Errorf("after: %s", resp.Status)
	}
}

func TestModeHangParksRequestsUntilTheClientGivesUp(t *testing.T) {
	s := New()
	s.Publish("pkg", "1.0.0", nil)
	s.SetMode(ModeHang)

	for _, path := range []string{"pkg", TarballPath("pkg", "1.0.0"), "-/ping"} {
		c := &http.Client{Timeout: 300 * time.Millisecond}
		start := time.Now()
		_, err := c.Get(s.URL + path)
		var netErr net.Error
		if !errors.As(err, &netErr) || !netErr.Timeout() {
			t.Errorf("GET /%s: err %v, want a time-out", path, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("GET /%s took %v", path, d)
		}
		if n := s.Count("GET", path); n != 1 {
			t.Errorf("GET /%s logged %d times, want 1", path, n)
		}
	}

	// A request with no time-out stays parked until Close.
	parked := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.URL + "pkg")
		if err == nil {
			resp.Body.Close()
		}
		parked <- err
	}()
	waitFor(t, func() bool { return s.Count("GET", "/pkg") == 2 })

	start := time.Now()
	s.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v with parked requests", d)
	}
	select {
	case err := <-parked:
		if err == nil {
			t.Error("the parked request was answered, want a broken connection")
		}
	case <-time.After(5 * time.Second):
		t.Error("the parked request is still waiting after Close")
	}
	s.Close() // twice is fine
}

func TestSetDelayMakesEveryAnswerSlowUntilItIsCleared(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	c := rawClient(t)
	s.SetDelay(300 * time.Millisecond)
	for _, path := range []string{"pkg", TarballPath("pkg", "1.0.0"), "-/ping"} {
		start := time.Now()
		resp, _ := do(t, c, "GET", s.URL+path)
		if d := time.Since(start); resp.StatusCode != http.StatusOK || d < 300*time.Millisecond {
			t.Errorf("GET /%s with a delay of 300ms: %s after %v", path, resp.Status, d)
		}
	}
	// A client that gives up ends the wait; the request is logged all the same.
	impatient := &http.Client{Timeout: 50 * time.Millisecond}
	if _, err := impatient.Get(s.URL + "pkg"); err == nil {
		t.Error("a client with a 50ms time-out got an answer through a 300ms delay")
	}
	if n := s.Count("GET", "/pkg"); n != 2 {
		t.Errorf("GET /pkg logged %d times, want 2", n)
	}
	s.SetDelay(0)
	start := time.Now()
	if resp, _ := do(t, c, "GET", s.URL+"pkg"); resp.StatusCode != http.StatusOK || time.Since(start) > 250*time.Millisecond {
		t.Errorf("without a delay: %s after %v", resp.Status, time.Since(start))
	}
}

func TestModeHangAnswersParkedRequestsWhenTheModeChanges(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	s.SetMode(ModeHang)
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(s.URL + "pkg")
		if err != nil {
			done <- result{0, err}
			return
		}
		resp.Body.Close()
		done <- result{resp.StatusCode, nil}
	}()
	waitFor(t, func() bool { return s.Count("GET", "/pkg") == 1 })
	select {
	case r := <-done:
		t.Fatalf("answered while hanging: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	s.SetMode(ModeNormal)
	select {
	case r := <-done:
		if r.err != nil || r.status != http.StatusOK {
			t.Errorf("after ModeNormal: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Error("still parked after ModeNormal")
	}
}

func TestMode500AnswersEveryRequest500(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	s.SetMode(Mode500)
	for _, tc := range []struct{ method, path string }{
		{"GET", "pkg"},
		{"GET", "pkg/1.0.0"},
		{"GET", TarballPath("pkg", "1.0.0")},
		{"HEAD", TarballPath("pkg", "1.0.0")},
		{"GET", "missing"},
		{"GET", "-/ping"},
		{"GET", "-/npm/v1/keys"},
		{"GET", "-/v1/search?text=pkg"},
		{"POST", "-/npm/v1/security/advisories/bulk"},
	} {
		t.Run(tc.method+" /"+tc.path, func(t *testing.T) {
			resp, _ := do(t, rawClient(t), tc.method, s.URL+tc.path)
			if resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("status %s", resp.Status)
			}
		})
	}
	if n := len(s.Requests()); n != 9 {
		t.Errorf("%d requests logged, want 9", n)
	}
	s.SetMode(ModeNormal)
	if resp, _ := get(t, s, "pkg"); resp.StatusCode != http.StatusOK {
		t.Errorf("after ModeNormal: %s", resp.Status)
	}
}

func TestModeTruncateCutsTarballsInHalf(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "1.0.0", nil)
	full := Tarball("pkg", "1.0.0", nil)
	s.SetMode(ModeTruncate)

	resp, err := rawClient(t).Get(s.URL + TarballPath("pkg", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != int64(len(full)) {
		t.Errorf("Content-Length %d, want the full %d", resp.ContentLength, len(full))
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read err %v, want unexpected EOF", err)
	}
	if len(got) >= len(full) || !bytes.Equal(got, full[:len(got)]) {
		t.Errorf("read %d bytes, want a prefix of the %d", len(got), len(full))
	}

	for _, path := range []string{"pkg", "pkg/1.0.0"} {
		if resp, _ := get(t, s, path); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /%s in ModeTruncate: %s", path, resp.Status)
		}
	}
	if resp, _ := do(t, rawClient(t), http.MethodHead, s.URL+TarballPath("pkg", "1.0.0")); resp.ContentLength != int64(len(full)) {
		t.Errorf("HEAD Content-Length %d", resp.ContentLength)
	}
}

func TestModeBadIntegrityServesBytesThatFailTheirHashes(t *testing.T) {
	for _, tc := range []struct {
		what     string
		tgz      []byte
		unpacked bool
	}{
		{"a real tarball is re-gzipped", Tarball("pkg", "1.0.0", nil), true},
		{"other bytes are flipped", []byte("not gzip"), false},
	} {
		t.Run(tc.what, func(t *testing.T) {
			s := newServer(t)
			s.PublishTarball("pkg", "1.0.0", tc.tgz, nil)
			_, normalDoc := get(t, s, "pkg")
			s.SetMode(ModeBadIntegrity)

			_, doc := get(t, s, "pkg")
			if !bytes.Equal(doc, normalDoc) {
				t.Error("the packument changed")
			}
			dist := jsonAt(t, decode(t, doc), "versions", "1.0.0", "dist").(map[string]any)
			resp, body := get(t, s, TarballPath("pkg", "1.0.0"))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
			if sri512(body) == dist["integrity"] || sha1hex(body) == dist["shasum"] {
				t.Error("the served bytes match dist.integrity or dist.shasum")
			}
			if tc.unpacked {
				if got, want := untar(t, body), untar(t, tc.tgz); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Error("the re-gzipped tarball unpacks to other files")
				}
			}

			s.SetMode(ModeNormal)
			if _, body := get(t, s, TarballPath("pkg", "1.0.0")); sri512(body) != dist["integrity"] {
				t.Error("back in ModeNormal the bytes still differ")
			}
		})
	}
}

func TestRequestsAreLoggedAsSentAndCounted(t *testing.T) {
	s := newServer(t)
	s.Publish("@scope/pkg", "1.0.0", nil)
	get(t, s, "@scope%2fpkg", "Accept", npmAccept)
	get(t, s, "@scope%2fpkg")
	get(t, s, "@scope%2Fpkg")
	get(t, s, "@scope/pkg")
	get(t, s, TarballPath("@scope/pkg", "1.0.0"))
	get(t, s, "-/v1/search?text=x&size=5")
	req, _ := http.NewRequest("POST", s.URL+"-/npm/v1/security/advisories/bulk", strings.NewReader("payload"))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/@scope%2fpkg", 2},
		{"GET", "/@scope%2Fpkg", 1},
		{"GET", "/@scope/pkg", 1},
		{"GET", "/" + TarballPath("@scope/pkg", "1.0.0"), 1},
		{"GET", TarballPath("@scope/pkg", "1.0.0"), 1},
		{"HEAD", "/@scope/pkg", 0},
		{"GET", "/-/v1/search", 1},
		{"POST", "/-/npm/v1/security/advisories/bulk", 1},
	} {
		if got := s.Count(tc.method, tc.path); got != tc.want {
			t.Errorf("Count(%q, %q) = %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}

	reqs := s.Requests()
	if len(reqs) != 7 {
		t.Fatalf("%d requests logged, want 7", len(reqs))
	}
	if reqs[0].Header.Get("Accept") != npmAccept {
		t.Errorf("first request's Accept %q", reqs[0].Header.Get("Accept"))
	}
	if reqs[5].RawQuery != "text=x&size=5" {
		t.Errorf("search RawQuery %q", reqs[5].RawQuery)
	}
	if string(reqs[6].Body) != "payload" {
		t.Errorf("audit body %q", reqs[6].Body)
	}
	reqs[0].Header.Set("Accept", "changed")
	if s.Requests()[0].Header.Get("Accept") != npmAccept {
		t.Error("Requests returned the log itself, not a copy")
	}

	s.Reset()
	if n := len(s.Requests()); n != 0 || s.Count("GET", "/@scope%2fpkg") != 0 {
		t.Errorf("after Reset: %d requests", n)
	}
}

func TestServerIsSafeForConcurrentUse(t *testing.T) {
	s := newServer(t)
	s.Publish("pkg", "0.0.1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			c := &http.Client{Timeout: 5 * time.Second}
			for j := range 8 {
				s.Publish(fmt.Sprintf("pkg%d", i), fmt.Sprintf("1.0.%d", j), nil)
				for _, path := range []string{"pkg", TarballPath("pkg", "0.0.1"), fmt.Sprintf("pkg%d", i), "-/v1/search?text=pkg"} {
					req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+path, nil)
					req.Header.Set("Accept", npmAccept)
					resp, err := c.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				_ = s.Requests()
				_ = s.Count("GET", "/pkg")
			}
		})
	}
	wg.Go(func() {
		for i := range 30 {
			s.SetMode([]Mode{ModeNormal, Mode500, ModeBadIntegrity, ModeNormal}[i%4])
			s.IgnoreAbbreviated(i%2 == 0)
			s.StripValidators(i%3 == 0)
			s.SetDistTag("pkg", "next", "0.0.1")
			time.Sleep(time.Millisecond)
		}
		s.SetMode(ModeNormal)
	})
	wg.Wait()
}

func TestServerListensOnLoopbackOnlyAndRefusesAfterClose(t *testing.T) {
	s := New()
	u, err := url.Parse(s.URL)
	if err != nil || u.Hostname() != "127.0.0.1" || !strings.HasSuffix(s.URL, "/") {
		t.Errorf("URL %q, want http://127.0.0.1:port/", s.URL)
	}
	s.Close()
	s.SetMode(ModeNormal) // does not re-open a closed Server
	if _, err := http.Get(s.URL + "-/ping"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("after Close: err %v, want connection refused", err)
	}
}

func TestCompareSemverOrdersLikeSemverOrg(t *testing.T) {
	ordered := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"}
	for i, a := range ordered {
		for j, b := range ordered {
			if got, want := compareSemver(a, b), cmp.Compare(i, j); got != want {
				t.Errorf("compareSemver(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	if compareSemver("1.0.0+build.1", "1.0.0") != 0 {
		t.Error("build metadata is not ignored")
	}
}

func TestModeStringsNameTheModes(t *testing.T) {
	for m, want := range map[Mode]string{ModeNormal: "normal", ModeRefuse: "refuse", ModeHang: "hang", Mode500: "500", ModeTruncate: "truncate", ModeBadIntegrity: "wrong-digest", Mode(42): "Mode(42)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}
