package e2e

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// npmConfig mounts one npm registry on the fake upstream.
func npmConfig(up *npmtest.Server, extra string) string {
	return fmt.Sprintf(`
[[registry]]
name = "npm"
kind = "npm"
upstream = %q
response_timeout = "3s"
%s
`, up.URL, extra)
}

// npmThroughRelay is the config of an npm registry reached through relay (a
// slow or refusing proxy in front of up), whose packuments still name
// tarballs at up's own host, which larder must accept.
func npmThroughRelay(relay string, up *npmtest.Server, extra string) string {
	return fmt.Sprintf(`
[[registry]]
name = "npm"
kind = "npm"
upstream = %q
tarball_hosts = [%q]
%s
`, relay, strings.TrimSuffix(strings.TrimPrefix(up.URL, "http://"), "/"), extra)
}

// publishGraph publishes a small dependency graph, scoped and unscoped.
func publishGraph(up *npmtest.Server) {
	up.Publish("leaf", "1.0.0", nil)
	up.Publish("leaf", "1.1.0", nil)
	up.Publish("mid", "2.0.0", map[string]string{"leaf": "^1.0.0"})
	up.Publish("@acme/top", "3.0.0", map[string]string{"mid": "^2.0.0", "@acme/util": "^1.0.0"})
	up.Publish("@acme/util", "1.0.0", map[string]string{"leaf": "1.0.0"})
}

const graphPackageJSON = `{"name":"app","version":"1.0.0","private":true,"dependencies":{"@acme/top":"^3.0.0","leaf":"^1.0.0"}}`

// tarballRequestsOnlyFromLarder checks that every request the upstream saw
// came from larder (the client never went around it).
func tarballRequestsOnlyFromLarder(t *testing.T, up *npmtest.Server) {
	t.Helper()
	for _, r := range up.Requests() {
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "larder/") {
			t.Errorf("upstream saw %s %s from %q: a client went around larder", r.Method, r.Path, ua)
		}
	}
}

func installed(t *testing.T, c *client, names ...string) {
	t.Helper()
	for _, n := range names {
		if !c.exists(filepath.Join("node_modules", n, "package.json")) {
			t.Errorf("node_modules/%s is missing", n)
		}
	}
}

func TestNpmInstallsThroughLarderAndCIWorksWithTheUpstreamGone(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	publishGraph(up)
	l := startLarder(t, npmConfig(up, ""))
	reg := l.URL + "/npm/"

	c := newProject(t, graphPackageJSON)
	c.mustRun(reg, "npm", "install")
	installed(t, c, "@acme/top", "@acme/util", "mid", "leaf")
	tarballRequestsOnlyFromLarder(t, up)
	lock := c.read("package-lock.json")
	if strings.Contains(lock, strings.TrimSuffix(strings.TrimPrefix(up.URL, "http://"), "/")) {
		t.Errorf("the lockfile names the upstream's host:\n%s", lock)
	}
	for _, name := range []string{"leaf", "mid", "@acme/top", "@acme/util"} {
		path := npmtest.TarballPath(name, map[string]string{"leaf": "1.1.0", "mid": "2.0.0", "@acme/top": "3.0.0", "@acme/util": "1.0.0"}[name])
		if l.heldSHA256("npm", path) == "" {
			t.Errorf("%s is not stored", path)
		}
	}

	// Warm, with the upstream up: the baseline.
	c.removeNodeModules()
	c.freshCache()
	start := time.Now()
	c.mustRun(reg, "npm", "ci", "--no-audit")
	baseline := time.Since(start)

	up.SetMode(npmtest.ModeRefuse)
	c.removeNodeModules()
	c.freshCache()
	start = time.Now()
	c.mustRun(reg, "npm", "ci", "--no-audit")
	refused := time.Since(start)
	installed(t, c, "@acme/top", "@acme/util", "mid", "leaf")

	up.SetMode(npmtest.ModeHang)
	c.removeNodeModules()
	c.freshCache()
	start = time.Now()
	c.mustRun(reg, "npm", "ci", "--no-audit")
	hanging := time.Since(start)
	installed(t, c, "@acme/top", "@acme/util", "mid", "leaf")
	up.SetMode(npmtest.ModeNormal)

	t.Logf("warm npm ci: upstream up %v, refused %v, hanging %v", baseline, refused, hanging)
	// A generous bound: the point is that no request waited for a time-out
	// (3s response_timeout per request would add far more).
	for name, d := range map[string]time.Duration{"refused": refused, "hanging": hanging} {
		if d > 3*baseline+5*time.Second {
			t.Errorf("warm npm ci with the upstream %s took %v, against %v with it up", name, d, baseline)
		}
	}
}

func TestPnpmAndYarnInstallScopedPackagesThroughLarder(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	publishGraph(up)
	// An intermediary that ignores the abbreviated Accept and strips validators,
	// as on this project's own build machines.
	up.IgnoreAbbreviated(true)
	up.StripValidators(true)
	l := startLarder(t, npmConfig(up, ""))
	reg := l.URL + "/npm/"

	t.Run("pnpm", func(t *testing.T) {
		c := newProject(t, graphPackageJSON)
		c.mustRun(reg, "pnpm", "install", "--reporter=append-only")
		if !c.exists("node_modules/@acme/top/package.json") || !c.exists("node_modules/leaf/package.json") {
			t.Fatal("pnpm did not install the dependencies")
		}
		lock := c.read("pnpm-lock.yaml")
		if strings.Contains(lock, "127.0.0.1") {
			t.Errorf("pnpm-lock.yaml names a host; conventional tarball URLs should keep it host-free:\n%s", lock)
		}
		// Warm, from a fresh store, with the upstream refused.
		up.SetMode(npmtest.ModeRefuse)
		defer up.SetMode(npmtest.ModeNormal)
		c.removeNodeModules()
		c.freshCache()
		c.mustRun(reg, "pnpm", "install", "--frozen-lockfile", "--reporter=append-only")
		if !c.exists("node_modules/@acme/top/package.json") {
			t.Fatal("warm pnpm install did not install")
		}
	})
	t.Run("yarn classic", func(t *testing.T) {
		up.SetMode(npmtest.ModeNormal)
		c := newProject(t, graphPackageJSON)
		c.mustRun(reg, "yarn", "install", "--non-interactive", "--registry", reg)
		installed(t, c, "@acme/top", "@acme/util", "mid", "leaf")
		lock := c.read("yarn.lock")
		if !strings.Contains(lock, reg) {
			t.Errorf("yarn.lock should resolve through larder:\n%s", lock)
		}
	})
	tarballRequestsOnlyFromLarder(t, up)
}

func TestAnIntegrityMismatchFailsTheInstallAndStoresNothing(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("tampered", "1.0.0", nil)
	up.SetMode(npmtest.ModeBadIntegrity)
	l := startLarder(t, npmConfig(up, ""))
	reg := l.URL + "/npm/"

	c := newProject(t, `{"name":"app","version":"1.0.0","dependencies":{"tampered":"1.0.0"}}`)
	out, err := c.run(reg, "npm", "install", "--no-audit")
	if err == nil {
		t.Fatalf("npm install succeeded with bytes that do not match the integrity:\n%s", out)
	}
	if l.storedSHA256("npm", "tampered/-/tampered-1.0.0.tgz") != "" {
		t.Error("the tampered tarball was recorded as stored")
	}
	resp, _ := l.get(t, "/npm/tampered/-/tampered-1.0.0.tgz")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a mismatching tarball: status %d, want 502", resp.StatusCode)
	}
	if files := l.blobFiles("tmp"); len(files) != 0 {
		t.Errorf("partial files left behind: %v", files)
	}
	// Once the upstream serves the right bytes, the same request succeeds.
	up.SetMode(npmtest.ModeNormal)
	resp, body := l.get(t, "/npm/tampered/-/tampered-1.0.0.tgz")
	if resp.StatusCode != http.StatusOK || sha(body) != sha(npmtest.Tarball("tampered", "1.0.0", nil)) {
		t.Errorf("after the upstream recovered: status %d", resp.StatusCode)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestFiftyConcurrentRequestsForOneColdTarballMakeOneUpstreamFetch(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i*7 + i/4096)
	}
	up.PublishTarball("bulky", "1.0.0", big, nil)
	l := startLarder(t, npmConfig(up, ""))
	// Learn the packument first so that all 50 race on the tarball alone.
	if resp, _ := l.get(t, "/npm/bulky"); resp.StatusCode != 200 {
		t.Fatalf("packument: %d", resp.StatusCode)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(l.URL + "/npm/bulky/-/bulky-1.0.0.tgz")
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || sha(b) != sha(big) {
				errs <- fmt.Errorf("status %d, %d bytes, err %v", resp.StatusCode, len(b), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := up.Count("GET", "/bulky/-/bulky-1.0.0.tgz"); n != 1 {
		t.Errorf("upstream saw %d tarball requests, want 1", n)
	}
}

func TestPackumentsAreRewrittenNegotiatedAndRevalidated(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	publishGraph(up)
	l := startLarder(t, npmConfig(up, `metadata_ttl = "1s"`))

	abbreviated := "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
	for _, path := range []string{"/npm/@acme/top", "/npm/@acme%2ftop", "/npm/@acme%2Ftop"} {
		resp, body := l.get(t, path, "Accept", abbreviated)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.npm.install-v1+json" {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var doc struct {
			Versions map[string]struct {
				Dist struct{ Tarball string } `json:"dist"`
			} `json:"versions"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if got, want := doc.Versions["3.0.0"].Dist.Tarball, l.URL+"/npm/@acme/top/-/top-3.0.0.tgz"; got != want {
			t.Errorf("%s: tarball %s, want %s", path, got, want)
		}
	}
	// One cache entry for all three spellings: the upstream was asked once.
	if n := up.Count("GET", "/@acme%2ftop"); n != 1 {
		t.Errorf("upstream asked %d times for @acme/top's abbreviated packument, want 1", n)
	}

	resp, _ := l.get(t, "/npm/leaf")
	etag := resp.Header.Get("ETag")
	if resp.Header.Get("Vary") != "Accept, Accept-Encoding" || etag == "" {
		t.Errorf("headers: %v", resp.Header)
	}
	if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "must-revalidate") || !strings.Contains(cc, "max-age=1") {
		t.Errorf("Cache-Control %q", cc)
	}
	if resp, _ := l.get(t, "/npm/leaf", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	if resp, _ := l.get(t, "/npm/leaf"); resp.Header.Get("X-Larder-Cache") != "HIT" {
		t.Errorf("within the TTL: %s", resp.Header.Get("X-Larder-Cache"))
	}
	time.Sleep(1100 * time.Millisecond)
	if resp, _ := l.get(t, "/npm/leaf"); resp.Header.Get("X-Larder-Cache") != "REVALIDATED" {
		t.Errorf("after the TTL: %s, want REVALIDATED (a conditional request answered 304)", resp.Header.Get("X-Larder-Cache"))
	}
	up.Publish("leaf", "1.2.0", nil)
	time.Sleep(1100 * time.Millisecond)
	resp, body := l.get(t, "/npm/leaf")
	if resp.Header.Get("X-Larder-Cache") != "MISS" || !strings.Contains(string(body), `"1.2.0"`) {
		t.Errorf("after a publish: %s", resp.Header.Get("X-Larder-Cache"))
	}
	up.SetMode(npmtest.Mode500)
	time.Sleep(1100 * time.Millisecond)
	if resp, _ := l.get(t, "/npm/leaf"); resp.StatusCode != 200 || resp.Header.Get("X-Larder-Cache") != "STALE" {
		t.Errorf("upstream 500: %d %s, want a STALE 200", resp.StatusCode, resp.Header.Get("X-Larder-Cache"))
	}
	up.SetMode(npmtest.ModeNormal)
	// The 500 made the upstream suspect: what was never cached is a 404 at
	// once until the next probe (2 s later) sees it back.
	waitUpstreamState(t, l, "npm", "up", 10*time.Second)

	// gzip when asked; the version document; the unknown; the malformed.
	resp, _ = l.get(t, "/npm/mid", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("no gzip: %v", resp.Header)
	}
	resp, body = l.get(t, "/npm/mid/latest")
	if resp.StatusCode != 200 || !strings.Contains(string(body), l.URL+"/npm/mid/-/mid-2.0.0.tgz") {
		t.Errorf("version document: %d %s", resp.StatusCode, body)
	}
	resp, body = l.get(t, "/npm/no-such-package")
	if resp.StatusCode != 404 || strings.TrimSpace(string(body)) != `{"error":"Not found"}` {
		t.Errorf("unknown package: %d %s", resp.StatusCode, body)
	}
	resp, body = l.get(t, "/npm/..%2f..%2fetc%2fpasswd")
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"error"`) {
		t.Errorf("path traversal: %d %s", resp.StatusCode, body)
	}
	resp, _ = l.get(t, "/npm/"+strings.Repeat("a", 215))
	if resp.StatusCode != 400 {
		t.Errorf("a 215-character name: %d", resp.StatusCode)
	}
}

func TestClientHeadersNeverReachTheUpstream(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	l := startLarder(t, npmConfig(up, ""))
	secret := []string{"Authorization", "Bearer s3cret", "Cookie", "session=s3cret", "X-Forwarded-For", "10.0.0.1", "X-Forwarded-Host", "evil.example"}
	l.get(t, "/npm/leaf", secret...)
	l.get(t, "/npm/leaf/-/leaf-1.0.0.tgz", secret...)
	l.get(t, "/npm/-/v1/search?text=leaf", secret...)
	for _, r := range up.Requests() {
		for _, h := range []string{"Authorization", "Cookie", "X-Forwarded-For", "X-Forwarded-Host"} {
			if r.Header.Get(h) != "" {
				t.Errorf("%s %s reached the upstream with %s", r.Method, r.Path, h)
			}
		}
	}
	if len(up.Requests()) < 3 {
		t.Errorf("the upstream saw %d requests, want at least 3", len(up.Requests()))
	}
}

func TestTarballsOnOtherHostsAreNeverFetched(t *testing.T) {
	trap := npmtest.New() // a host that must see no request
	defer trap.Close()
	trapHost := strings.TrimSuffix(strings.TrimPrefix(trap.URL, "http://"), "/")
	for _, base := range []string{
		trap.URL, // another port on loopback
		"http://registry.npmjs.org@" + trapHost + "/", // the user-info trick
		"http://169.254.169.254/latest/meta-data/",    // cloud metadata
	} {
		t.Run(base, func(t *testing.T) {
			up := npmtest.New()
			defer up.Close()
			up.SetTarballBase(base)
			up.Publish("elsewhere", "1.0.0", nil)
			l := startLarder(t, npmConfig(up, ""))
			resp, body := l.get(t, "/npm/elsewhere")
			if resp.StatusCode != 200 || strings.Contains(string(body), trapHost) || strings.Contains(string(body), "169.254") {
				t.Fatalf("packument: %d; it must not name the other host:\n%s", resp.StatusCode, body)
			}
			if resp, _ := l.get(t, "/npm/elsewhere/-/elsewhere-1.0.0.tgz"); resp.StatusCode != 404 {
				t.Errorf("tarball on another host: %d, want 404", resp.StatusCode)
			}
			if n := len(trap.Requests()); n != 0 {
				t.Errorf("the other host saw %d requests", n)
			}
			if !l.logged("larder will not fetch it") {
				t.Error("the refused tarball was not logged")
			}
		})
	}
}

func TestTarballURLsOfTheRelayedPublicRegistryAreFetchedFromTheUpstream(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.SetTarballBase("https://registry.npmjs.org/")
	up.Publish("@acme/relayed", "1.0.0", nil)
	l := startLarder(t, npmConfig(up, ""))
	c := newProject(t, `{"name":"app","version":"1.0.0","dependencies":{"@acme/relayed":"1.0.0"}}`)
	c.mustRun(l.URL+"/npm/", "npm", "install", "--no-audit")
	installed(t, c, "@acme/relayed")
	if n := up.Count("GET", "/@acme/relayed/-/relayed-1.0.0.tgz"); n != 1 {
		t.Errorf("upstream served the tarball %d times, want 1", n)
	}
}

func TestRestartAfterKill9MidDownloadLeavesNothingPartial(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	big := make([]byte, 32<<20)
	for i := range big {
		big[i] = byte(i ^ i>>8)
	}
	up.PublishTarball("huge", "1.0.0", big, nil)
	slow := newTrickleProxy(t, up.URL, 256<<10, 20*time.Millisecond)
	l := startLarder(t, npmThroughRelay(slow.URL, up, ""))

	resp, err := http.Get(l.URL + "/npm/huge/-/huge-1.0.0.tgz")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2<<20)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("reading the first bytes: %v", err)
	}
	if len(l.blobFiles("tmp")) == 0 {
		t.Fatal("no download in progress to interrupt")
	}
	l.kill9()
	resp.Body.Close()

	l.start()
	if files := l.blobFiles("tmp"); len(files) != 0 {
		t.Errorf("partial files survived the restart: %v", files)
	}
	for _, f := range l.blobFiles("sha256") {
		if filepath.Base(f) == sha(big) {
			t.Errorf("a blob was committed from an interrupted download: %s", f)
		}
	}
	if l.storedSHA256("npm", "huge/-/huge-1.0.0.tgz") != "" {
		t.Error("a row points at the interrupted download")
	}
	_, body := l.get(t, "/npm/huge/-/huge-1.0.0.tgz")
	if sha(body) != sha(big) {
		t.Errorf("after restart the tarball is %d bytes with the wrong digest", len(body))
	}
	if got := l.heldSHA256("npm", "huge/-/huge-1.0.0.tgz"); got != sha(big) {
		t.Errorf("stored digest %q", got)
	}
}

func TestOutboundTrafficGoesThroughTheConfiguredProxy(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.SetTarballBase("http://npm.upstream.test/")
	up.Publish("proxied", "1.0.0", nil)
	proxy := newForwardProxy(t, up.URL)
	cfg := `
[[registry]]
name = "npm"
kind = "npm"
upstream = "http://npm.upstream.test/"
`
	lp := startLarderEnv(t, cfg, []string{"HTTP_PROXY=" + proxy.URL, "http_proxy=" + proxy.URL, "NO_PROXY=", "no_proxy="})
	resp, _ := lp.get(t, "/npm/proxied")
	if resp.StatusCode != 200 {
		t.Fatalf("packument through the proxy: %d", resp.StatusCode)
	}
	resp, body := lp.get(t, "/npm/proxied/-/proxied-1.0.0.tgz")
	if resp.StatusCode != 200 || sha(body) != sha(npmtest.Tarball("proxied", "1.0.0", nil)) {
		t.Fatalf("tarball through the proxy: %d", resp.StatusCode)
	}
	if proxy.count() < 2 {
		t.Errorf("the proxy saw %d requests, want at least 2", proxy.count())
	}
}

// TestLiveNpmRegistry installs a real project from the public registry, then
// again with outbound traffic cut. Off by default: LARDER_LIVE_NPM=1.
func TestLiveNpmRegistry(t *testing.T) {
	if os.Getenv("LARDER_LIVE_NPM") != "1" {
		t.Skip("set LARDER_LIVE_NPM=1 to install from the public npm registry")
	}
	l := startLarder(t, `
[[registry]]
name = "npm"
kind = "npm"
upstream = "https://registry.npmjs.org/"
`)
	reg := l.URL + "/npm/"
	c := newProject(t, `{"name":"live","version":"1.0.0","private":true,"dependencies":{"express":"^4.19.0","lodash":"^4.17.21","@types/node":"^20.0.0","chalk":"^5.3.0"}}`)
	c.mustRun(reg, "npm", "install", "--no-audit")
	installed(t, c, "express", "lodash", "@types/node", "chalk", "body-parser")
	l.restart("--offline")
	c.removeNodeModules()
	c.freshCache()
	c.mustRun(reg, "npm", "ci", "--no-audit")
	installed(t, c, "express", "lodash", "@types/node", "chalk", "body-parser")
}

func sri512(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(s[:])
}

// A lockfile written against the public registry installs through larder
// unchanged: npm replaces the registry host in resolved URLs.
func TestNpmCIFromALockfileWrittenAgainstThePublicRegistry(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	up.Publish("@acme/util", "1.0.0", map[string]string{"leaf": "1.0.0"})
	l := startLarder(t, npmConfig(up, ""))
	c := newProject(t, `{"name":"app","version":"1.0.0","dependencies":{"@acme/util":"1.0.0"}}`)
	lock := fmt.Sprintf(`{
  "name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {
    "": {"name": "app", "version": "1.0.0", "dependencies": {"@acme/util": "1.0.0"}},
    "node_modules/@acme/util": {"version": "1.0.0", "resolved": "https://registry.npmjs.org/@acme/util/-/util-1.0.0.tgz", "integrity": %q, "dependencies": {"leaf": "1.0.0"}},
    "node_modules/leaf": {"version": "1.0.0", "resolved": "https://registry.npmjs.org/leaf/-/leaf-1.0.0.tgz", "integrity": %q}
  }
}`, sri512(npmtest.Tarball("@acme/util", "1.0.0", map[string]string{"leaf": "1.0.0"})), sri512(npmtest.Tarball("leaf", "1.0.0", nil)))
	if err := os.WriteFile(filepath.Join(c.dir, "package-lock.json"), []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustRun(l.URL+"/npm/", "npm", "ci", "--no-audit")
	installed(t, c, "@acme/util", "leaf")
	// Cold larder, lockfile only: the tarballs were asked for before any
	// packument, and larder found them through the packument itself.
	if up.Count("GET", "/leaf/-/leaf-1.0.0.tgz") != 1 || up.Count("GET", "/@acme/util/-/util-1.0.0.tgz") != 1 {
		t.Errorf("upstream tarball requests: %v", up.Requests())
	}
	tarballRequestsOnlyFromLarder(t, up)
}

func TestMetricsAndProbesAnswer(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	l := startLarder(t, npmConfig(up, ""))
	l.get(t, "/npm/leaf")
	l.get(t, "/npm/leaf/-/leaf-1.0.0.tgz")
	l.get(t, "/npm/leaf/-/leaf-1.0.0.tgz")
	// The row that larder_artifacts counts follows the answer.
	if l.heldSHA256("npm", "leaf/-/leaf-1.0.0.tgz") == "" {
		t.Fatal("the tarball was served but is not held")
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, _ := l.get(t, p); resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	_, body := l.get(t, "/metrics")
	for _, want := range []string{
		`larder_requests_total{cache="MISS",kind="document",registry="npm"} 1`,
		`larder_requests_total{cache="HIT",kind="artifact",registry="npm"} 1`,
		`larder_requests_total{cache="MISS",kind="artifact",registry="npm"} 1`,
		`larder_upstream_up{registry="npm"} 1`,
		`larder_upstream_requests_total{outcome="ok",registry="npm"} 2`,
		"larder_served_bytes_total",
		"larder_blob_store_bytes",
		"larder_upstream_response_seconds_bucket",
		`larder_artifacts{registry="npm"} 1`,
		"larder_evictions_total 0",
		"larder_quarantines_total 0",
		"larder_cache_limit_bytes 0",
		"larder_disk_free_bytes ",
		`larder_upstream_received_bytes_total{registry="npm"} `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), `larder_upstream_received_bytes_total{registry="npm"} 0`+"\n") {
		t.Error("larder_upstream_received_bytes_total counted nothing of a packument and a tarball")
	}
}

func TestOfflineNpmInstallWithoutALockfileResolvesToCachedVersions(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	up.Publish("leaf", "1.1.0", nil)
	l := startLarder(t, npmConfig(up, ""))
	reg := l.URL + "/npm/"
	newProject(t, `{"name":"warm","version":"1.0.0"}`).mustRun(reg, "npm", "install", "--no-audit", "leaf@1.0.0")
	up.Publish("leaf", "1.2.0", nil)

	l.restart("--offline")
	up.Reset()
	c := newProject(t, `{"name":"app","version":"1.0.0"}`)
	c.mustRun(reg, "npm", "install", "--no-audit", "leaf")
	var pkg struct{ Version string }
	if err := json.Unmarshal([]byte(c.read("node_modules/leaf/package.json")), &pkg); err != nil || pkg.Version != "1.0.0" {
		t.Errorf("offline npm install leaf gave %q (%v), want the cached 1.0.0", pkg.Version, err)
	}
	resp, body := l.get(t, "/npm/never-cached")
	if resp.StatusCode != 404 || !strings.Contains(string(body), "offline") {
		t.Errorf("never cached, offline: %d %s", resp.StatusCode, body)
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("offline larder made %d upstream requests", n)
	}
}
