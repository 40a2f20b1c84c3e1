package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/gomod/gomodtest"
	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
	"github.com/larder-mirror/larder/storage/backendtest"
)

// redirectingLarder is one larder on PostgreSQL and SeaweedFS with
// blob_redirect on, its store reached through a watch that sees which
// blobs clients fetch from it, and config (registries) on top; the
// cluster of that one node reads what it stored.
func redirectingLarder(t *testing.T, config string) (*larder, *cluster, *backendtest.S3Watch) {
	t.Helper()
	s3 := backendtest.WatchS3(t)
	c := &cluster{t: t, database: backendtest.NewDatabase(t), bucket: s3.Bucket(backendtest.NewBucket(t))}
	shared := fmt.Sprintf("database = %q\nblob_store = %q\nblob_redirect = true\n", c.database, c.bucket)
	return startLarderEnv(t, shared+config, backendtest.S3Credentials()), c, s3
}

// redirects is larder_artifact_redirects_total of a registry.
func (l *larder) redirects(t testing.TB, registry string) int {
	t.Helper()
	_, body := l.get(t, "/metrics")
	m := regexp.MustCompile(`(?m)^larder_artifact_redirects_total\{registry="` + registry + `"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no larder_artifact_redirects_total for %s", registry)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// presignedGETs counts the GETs of presigned URLs the store saw, by the
// client's User-Agent prefix, and fails on any other request from a client.
func presignedGETs(t *testing.T, s3 *backendtest.S3Watch, userAgent string) int {
	t.Helper()
	n := 0
	for _, r := range s3.Take() {
		switch {
		case !r.Presigned():
			// larder's own requests (uploads of cold fills), signed in
			// their headers.
		case r.Method != http.MethodGet:
			t.Errorf("a client sent %s %s to the store", r.Method, r.Path)
		case !strings.HasPrefix(r.UserAgent, userAgent):
			t.Errorf("a presigned GET of %s came from %q, want %s…", r.Path, r.UserAgent, userAgent)
		default:
			n++
		}
	}
	return n
}

func TestNpmPipAndGoFollowBlobRedirectsToTheObjectStoreWarm(t *testing.T) {
	npmUp := npmtest.New()
	defer npmUp.Close()
	publishGraph(npmUp)
	npmUp.Publish("tampered", "1.0.0", nil)
	pyUp := pypitest.New()
	defer pyUp.Close()
	publishPython(pyUp)
	goUp := gomodtest.New()
	defer goUp.Close()
	publishGoGraph(goUp)
	l, shared, s3 := redirectingLarder(t, npmConfig(npmUp, "")+pypiConfig(pyUp, "")+goConfig(goUp))

	// Cold: every artifact is fetched and streamed by larder, never
	// redirected (nothing is held yet), but for what larder loaded ahead of
	// pip, which pip may ask for once it is held: a metadata file, and the
	// wheel whose metadata file pip read.
	c := newProject(t, graphPackageJSON)
	c.mustRun(l.URL+"/npm/", "npm", "install", "--no-audit")
	p := newPip(t, l.URL+"/pypi/simple/")
	p.mustRun("install", "--target", filepath.Join(t.TempDir(), "site"), "alpha", "gamma")
	g := newGoProject(t, l)
	g.built(goUp, "cold")
	for _, reg := range []string{"npm", "go"} {
		if n := l.redirects(t, reg); n != 0 {
			t.Errorf("%s: %d redirects while cold, want 0", reg, n)
		}
	}
	coldPypi := l.redirects(t, "pypi")
	for _, line := range strings.Split(l.flushedLog(), "\n") {
		if strings.Contains(line, "path=/pypi/") && strings.Contains(line, "status=307") && !strings.Contains(line, ".metadata status=") && !strings.Contains(line, ".whl status=") {
			t.Errorf("pip was redirected while cold for what it was the first to ask for: %s", line)
		}
	}
	s3.Take()

	// Warm, the upstreams refusing: each client is sent to the store for
	// every artifact, follows, and installs.
	npmUp.SetMode(npmtest.ModeRefuse)
	pyUp.SetMode(pypitest.ModeRefuse)
	goUp.SetMode(faults.Refuse)
	c.removeNodeModules()
	c.freshCache()
	c.mustRun(l.URL+"/npm/", "npm", "ci", "--no-audit")
	installed(t, c, "@acme/top", "@acme/util", "mid", "leaf")
	if r, got := l.redirects(t, "npm"), presignedGETs(t, s3, "npm/"); r < 4 || got != r {
		t.Errorf("npm ci: %d redirects, %d presigned GETs from npm at the store; want one each per tarball (4)", r, got)
	}
	site := filepath.Join(t.TempDir(), "site")
	newPip(t, l.URL+"/pypi/simple/").mustRun("install", "--target", site, "alpha", "gamma")
	if got := installedDists(t, site); !strings.Contains(got, "alpha-1.0.0") || !strings.Contains(got, "beta-1.0.0") || !strings.Contains(got, "gamma-1.0.0") {
		t.Errorf("warm pip install: installed %q", got)
	}
	if r, got := l.redirects(t, "pypi")-coldPypi, presignedGETs(t, s3, "pip/"); r < 3 || got != r {
		t.Errorf("pip install: %d redirects, %d presigned GETs from pip at the store; want one each per wheel (3)", r, got)
	}
	g.freshCache()
	g.built(goUp, "warm")
	if r, got := l.redirects(t, "go"), presignedGETs(t, s3, "Go-http-client/"); r < 3 || got != r {
		t.Errorf("go mod download: %d redirects, %d presigned GETs from go at the store; want one each per file (at least 3)", r, got)
	}
	if log := l.flushedLog(); !strings.Contains(log, "path=/npm/leaf/-/leaf-1.1.0.tgz status=307") {
		t.Errorf("the request log shows no redirect of a tarball:\n%s", grepLines(log, "leaf-1.1.0.tgz"))
	}

	tarball := "/npm/" + npmtest.TarballPath("leaf", "1.1.0")
	want := npmtest.Tarball("leaf", "1.1.0", nil)
	etag := `"sha256-` + sha(want) + `"`
	// Documents are never redirected.
	if resp, _ := l.get(t, "/npm/leaf"); resp.StatusCode != 200 {
		t.Errorf("a packument: %d, want 200 from larder", resp.StatusCode)
	}
	// A redirect is not to be kept, and its URL gets the bytes, a range of
	// them too.
	resp, _ := l.get(t, tarball)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(loc, s3.URL+"/") {
		t.Fatalf("a held tarball: %d, Location %q, Cache-Control %q; want 307 to the store, no-store", resp.StatusCode, loc, resp.Header.Get("Cache-Control"))
	}
	if code, body := rawGet(t, loc); code != 200 || sha(body) != sha(want) {
		t.Errorf("the presigned URL: %d, %d bytes; want the tarball", code, len(body))
	}
	if code, body := rawGet(t, loc, "Range", "bytes=10-19"); code != 206 || string(body) != string(want[10:20]) {
		t.Errorf("a range of the presigned URL: %d %q", code, body)
	}
	mid := sha(npmtest.Tarball("mid", "2.0.0", map[string]string{"leaf": "^1.0.0"}))
	key := func(d string) string { return "/sha256/" + d[:2] + "/" + d }
	if other := strings.Replace(loc, key(sha(want)), key(mid), 1); other == loc {
		t.Errorf("the presigned URL %s does not name the tarball's digest", loc)
	} else if code, _ := rawGet(t, other); code != http.StatusForbidden {
		t.Errorf("the URL signed for one object, for another: %d, want 403", code)
	}
	// What larder answers itself: HEAD (the URL is signed for GET), its own
	// ETag, preconditions the store would judge by its own ETags, and
	// several ranges at once.
	for _, tc := range []struct {
		name   string
		method string
		header []string
		status int
	}{
		{"HEAD", http.MethodHead, nil, 200},
		{"If-None-Match with its ETag", "GET", []string{"If-None-Match", etag}, 304},
		{"If-None-Match with another ETag", "GET", []string{"If-None-Match", `"other"`}, 307},
		{"one range", "GET", []string{"Range", "bytes=0-9"}, 307},
		{"two ranges", "GET", []string{"Range", "bytes=0-9,20-29"}, 206},
		{"If-Match with its ETag", "GET", []string{"If-Match", etag}, 200},
		{"If-Range with its ETag", "GET", []string{"Range", "bytes=0-9", "If-Range", etag}, 206},
	} {
		req, _ := http.NewRequest(tc.method, l.URL+tarball, nil)
		for i := 0; i+1 < len(tc.header); i += 2 {
			req.Header.Set(tc.header[i], tc.header[i+1])
		}
		resp, err := testTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if tc.method == http.MethodHead && (resp.ContentLength != int64(len(want)) || resp.Header.Get("Etag") != etag) {
			t.Errorf("HEAD: length %d, ETag %q; want %d, %s", resp.ContentLength, resp.Header.Get("Etag"), len(want), etag)
		}
		if tc.name == "If-Match with its ETag" && sha(body) != sha(want) {
			t.Errorf("If-Match: %d bytes that are not the tarball", len(body))
		}
	}

	// Held back: a view older than the release refuses its held tarball
	// with 403, as without redirects, and sends nobody to the store.
	before := l.redirects(t, "npm")
	if resp, _ := l.get(t, "/@P1D"+tarball); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a held tarball newer than the view: %d, want 403", resp.StatusCode)
	}
	// Tampered: bytes that do not match the integrity are refused (502),
	// never held, and so never redirected to.
	npmUp.SetMode(npmtest.ModeBadIntegrity)
	for range 2 {
		if resp, _ := l.get(t, "/npm/tampered/-/tampered-1.0.0.tgz"); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("a tampered tarball: %d, want 502", resp.StatusCode)
		}
	}
	if n := l.redirects(t, "npm"); n != before {
		t.Errorf("%d redirects for refused tarballs", n-before)
	}
	if shared.storedSHA256("npm", "tampered/-/tampered-1.0.0.tgz") != "" {
		t.Error("the tampered tarball is held")
	}
}

// rawGet GETs url without following redirects.
func rawGet(t *testing.T, url string, header ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := testTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}
