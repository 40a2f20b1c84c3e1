package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// Issue 12: a dead or slow upstream costs an install past the metadata TTL
// at most one time-out, never one per document. Each test warms larder's
// cache with the upstream up, measures an install with every document stale
// and the upstream up, then breaks the upstream one way at a time and runs
// the same install with fresh client caches and no lockfile.

// unwellMode is one way of breaking an upstream.
type unwellMode struct {
	name       string
	set, reset func()
	// fails: the upstream does not answer at all (refused, black-holed), so
	// larder must mark it suspect or down, say so once in its log, and
	// answer a never-cached package with a 404 at once. A slow upstream
	// answers, and must be neither.
	fails bool
}

// unwellRun is what a test needs to run its install and read larder.
type unwellRun struct {
	l        *larder
	registry string // the mount's name, e.g. "npm"
	install  func() (string, error)
	// neverCached asks for a package the upstream has and larder never
	// fetched; it must fail.
	neverCached func() (string, error)
	// neverCachedPath is that package's document at larder, e.g. "/npm/never-cached".
	neverCachedPath string
}

// checkUnwell runs the install with the upstream up, then in each mode, and
// checks the bounds of issue 12 on each.
func checkUnwell(t *testing.T, r unwellRun, modes []unwellMode) {
	t.Helper()
	// Warm: everything the install needs is cached.
	if out, err := r.install(); err != nil {
		t.Fatalf("warming install: %v\n%s", err, out)
	}
	last := time.Now()
	r.l.restart() // as before each mode below
	sleepPastTTL(last)
	mark := len(r.l.log.String())
	start := time.Now()
	if out, err := r.install(); err != nil {
		t.Fatalf("install past the TTL with the upstream up: %v\n%s", err, out)
	}
	upTime := time.Since(start)
	last = time.Now()
	if !r.l.logged("cache=REVALIDATED") || !strings.Contains(r.l.log.String()[mark:], "cache=REVALIDATED") {
		t.Fatal("nothing was revalidated with the upstream up: the documents were not past their TTL")
	}
	bound := 2*upTime + connectTimeout + 10*time.Second
	t.Logf("install past the TTL with the upstream up: %v; bound for the others: %v", upTime.Round(time.Millisecond), bound.Round(time.Millisecond))

	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			// A restart forgets the upstream's health and latency.
			r.l.restart()
			sleepPastTTL(last)
			mark := len(r.l.log.String())
			m.set()
			defer func() { m.reset(); last = time.Now() }()

			start := time.Now()
			out, err := r.install()
			took := time.Since(start)
			if err != nil {
				t.Fatalf("install with the upstream %s: %v\n%s", m.name, err, out)
			}
			phase := r.l.flushedLog()[mark:]
			reqs := requestsIn(phase)
			slow := waits(reqs, time.Second)
			if !strings.Contains(phase, "cache=STALE") {
				t.Errorf("nothing was answered STALE with the upstream %s", m.name)
			}
			t.Logf("install with the upstream %s: %v (%.2f× upstream up), %d requests, %d waited over 1s: %v", m.name, took.Round(time.Millisecond), took.Seconds()/upTime.Seconds(), len(reqs), len(slow), slow)
			if took > bound {
				t.Errorf("install with the upstream %s took %v, over 2×%v + connect_timeout + 10s", m.name, took, upTime)
			}
			// Not one wait per document: whatever waited began within one
			// connect time-out (and a bit) of the install's first request;
			// after that, everything is answered at once.
			if len(reqs) == 0 {
				t.Fatal("no request in larder's log")
			}
			first := reqs[0].start
			for _, w := range slow {
				if w.start.Sub(first) > connectTimeout+2*time.Second {
					t.Errorf("%s began %v into the install and waited: larder waited on the upstream past the first time-out; every request:\n%s",
						w, w.start.Sub(first).Round(time.Millisecond), timeline(reqs))
					break
				}
			}

			if !m.fails {
				for _, s := range []string{"upstream suspect;", "upstream marked down;"} {
					if n := countLogged(phase, s); n != 0 {
						t.Errorf("a slow but alive upstream was logged %q %d times", s, n)
					}
				}
				return
			}
			// The failures mark the upstream down soon: a connect time-out
			// or a response time-out after the first request at most.
			st := awaitState(t, r.l, r.registry, 10*time.Second, "down")
			if st != "down" {
				t.Errorf("upstream %s after the install and 10s: %s, want down", m.name, st)
			}
			// A never-cached package: a 404 at once from larder, and the
			// client gives up without retrying (within what a whole install
			// takes it, plus a time-out at most).
			start = time.Now()
			out, err = r.neverCached()
			nc := time.Since(start)
			if err == nil {
				t.Errorf("a never-cached package installed with the upstream %s:\n%s", m.name, out)
			}
			if nc > upTime+connectTimeout {
				t.Errorf("a never-cached package took %v to fail with the upstream %s, want less than an install (%v)", nc, m.name, upTime)
			}
			var asked []loggedRequest
			for _, q := range requestsIn(r.l.flushedLog()[mark:]) {
				if q.path == r.neverCachedPath {
					asked = append(asked, q)
				}
			}
			for _, q := range asked {
				if q.status != "404" || q.took > time.Second {
					t.Errorf("larder answered the never-cached package %s, want a 404 at once", q)
				}
			}
			t.Logf("never-cached package with the upstream %s: the client failed in %v; larder answered %v", m.name, nc.Round(time.Millisecond), asked)
			if len(asked) == 0 {
				t.Errorf("the client never asked larder for %s:\n%s", r.neverCachedPath, out)
			}
			resp, body := r.l.get(t, r.neverCachedPath)
			if resp.StatusCode != 404 || !strings.Contains(string(body), "unreachable") {
				t.Errorf("GET %s with the upstream %s: %d %s, want a 404 that says the upstream is unreachable", r.neverCachedPath, m.name, resp.StatusCode, body)
			}
			phase = r.l.flushedLog()[mark:]
			suspect, down := countLogged(phase, "upstream suspect;"), countLogged(phase, "upstream marked down;")
			if suspect > 1 || down != 1 {
				t.Errorf("larder logged the upstream suspect %d times and down %d times, want at most once and once:\n%s", suspect, down, logLines(phase, "msg=\"upstream"))
			}
		})
	}
}

// timeline lists requests by when each began, from the first.
func timeline(rs []loggedRequest) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  +%v %v\n", r.start.Sub(rs[0].start).Round(time.Millisecond), r)
	}
	return b.String()
}

// logLines are the lines of s that contain sub.
func logLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func TestNpmInstallPastTheTTLCostsOneTimeOutAtMostWithTheUpstreamRefusingHangingOrSlow(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	pkgJSON := publishTree(up)
	l := startLarder(t, npmRegistryConfig("npm", up.URL))
	reg := l.URL + "/npm/"
	checkUnwell(t, unwellRun{
		l: l, registry: "npm",
		install: func() (string, error) { return npmInstall(t, "npm", reg, pkgJSON) },
		neverCached: func() (string, error) {
			out, err := npmInstall(t, "npm", reg, `{"name":"nc","version":"1.0.0","dependencies":{"never-cached":"1.0.0"}}`)
			if err == nil || !strings.Contains(out, "unreachable") {
				return out, fmt.Errorf("npm's output does not say the upstream is unreachable: %w", err)
			}
			return out, err
		},
		neverCachedPath: "/npm/never-cached",
	}, []unwellMode{
		{"refusing", func() { up.SetMode(npmtest.ModeRefuse) }, func() { up.SetMode(npmtest.ModeNormal) }, true},
		{"black-holed", func() { up.SetMode(npmtest.ModeHang) }, func() { up.SetMode(npmtest.ModeNormal) }, true},
		{"slow", func() { up.SetDelay(slowDelay) }, func() { up.SetDelay(0) }, false},
	})
}

func TestPipInstallPastTheTTLCostsOneTimeOutAtMostWithTheUpstreamRefusingHangingOrSlow(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	publishPyTree(up)
	l := startLarder(t, pypiRegistryConfig("pypi", up.IndexURL, up.FilesURL))
	index := l.URL + "/pypi/simple/"
	checkUnwell(t, unwellRun{
		l: l, registry: "pypi",
		install:         func() (string, error) { return pipInstall(t, index, "app") },
		neverCached:     func() (string, error) { return pipInstall(t, index, "never-cached") },
		neverCachedPath: "/pypi/simple/never-cached/",
	}, []unwellMode{
		{"refusing", func() { up.SetMode(pypitest.ModeRefuse) }, func() { up.SetMode(pypitest.ModeNormal) }, true},
		{"black-holed", func() { up.SetMode(pypitest.ModeHang) }, func() { up.SetMode(pypitest.ModeNormal) }, true},
		{"slow", func() { up.SetDelay(slowDelay) }, func() { up.SetDelay(0) }, false},
	})
}

// The upstream is an HTTPS name reached through HTTPS_PROXY, as behind a
// corporate proxy; the proxy then accepts connections and never answers
// CONNECT. connect_timeout must bound that wait, and the failures must mark
// the upstream down like any other.
func TestNpmInstallPastTheTTLCostsOneTimeOutAtMostThroughASilentProxy(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.SetTarballBase("https://" + proxiedNpmHost + "/")
	pkgJSON := publishTree(up)
	cert, pemFile := proxiedCert(t)
	proxy := newConnectProxy(t, map[string]string{proxiedNpmHost + ":443": tlsFront(t, cert, up.URL)})
	l := startLarderEnv(t, npmRegistryConfig("npm", "https://"+proxiedNpmHost+"/"), proxiedEnv(proxy, pemFile))
	reg := l.URL + "/npm/"
	checkUnwell(t, unwellRun{
		l: l, registry: "npm",
		install: func() (string, error) {
			out, err := npmInstall(t, "npm", reg, pkgJSON)
			if err == nil && !strings.Contains(l.flushedLog(), "cache=MISS") {
				err = fmt.Errorf("larder's log shows no fetch through the proxy")
			}
			return out, err
		},
		neverCached: func() (string, error) {
			out, err := npmInstall(t, "npm", reg, `{"name":"nc","version":"1.0.0","dependencies":{"never-cached":"1.0.0"}}`)
			if err == nil || !strings.Contains(out, "unreachable") {
				return out, fmt.Errorf("npm's output does not say the upstream is unreachable: %w", err)
			}
			return out, err
		},
		neverCachedPath: "/npm/never-cached",
	}, []unwellMode{
		{"black-holed through the proxy", func() { proxy.setSilent(true) }, func() { proxy.setSilent(false) }, true},
	})
	if u := proxy.unknownTargets(); len(u) > 0 {
		t.Errorf("larder asked the proxy for %v", u)
	}
}

func TestPipInstallPastTheTTLCostsOneTimeOutAtMostThroughASilentProxy(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	up.SetFilesBase("https://" + proxiedFilesHost + "/")
	publishPyTree(up)
	cert, pemFile := proxiedCert(t)
	proxy := newConnectProxy(t, map[string]string{
		proxiedIndexHost + ":443": tlsFront(t, cert, up.IndexURL),
		proxiedFilesHost + ":443": tlsFront(t, cert, up.FilesURL),
	})
	cfg := pypiRegistryConfig("pypi", "https://"+proxiedIndexHost+"/simple/", proxiedFilesHost)
	l := startLarderEnv(t, cfg, proxiedEnv(proxy, pemFile))
	index := l.URL + "/pypi/simple/"
	checkUnwell(t, unwellRun{
		l: l, registry: "pypi",
		install:         func() (string, error) { return pipInstall(t, index, "app") },
		neverCached:     func() (string, error) { return pipInstall(t, index, "never-cached") },
		neverCachedPath: "/pypi/simple/never-cached/",
	}, []unwellMode{
		{"black-holed through the proxy", func() { proxy.setSilent(true) }, func() { proxy.setSilent(false) }, true},
	})
	if u := proxy.unknownTargets(); len(u) > 0 {
		t.Errorf("larder asked the proxy for %v", u)
	}
	if n := len(up.Requests()); n == 0 {
		t.Error("the upstream saw no request through the proxy")
	}
}
