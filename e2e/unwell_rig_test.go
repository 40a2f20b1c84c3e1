package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// What the tests of an unwell upstream (unwell_test.go) and the benchmark of
// installs past the TTL (bench_test.go) share: a dependency tree published on
// the fake upstreams, an HTTPS upstream under a made-up name reached through
// a CONNECT proxy that can fall silent, installs with fresh client caches,
// and a reading of larder's request log.

// unwellTimeouts are the registry settings of these tests: every document is
// stale a second after it was fetched; connect_timeout is left at its default
// (connectTimeout); response_timeout is cut from 15 s so that a black-holed
// upstream is marked down within the test, yet stays well above the slow
// upstream's delay, which must not count as a failure.
const unwellTimeouts = `metadata_ttl = "1s"
response_timeout = "6s"`

// connectTimeout is larder's default connect_timeout, which these tests keep.
const connectTimeout = 5 * time.Second

// slowDelay is how long the slow upstream takes over every answer.
const slowDelay = 3 * time.Second

// The names the proxied upstreams go by. .example never resolves (RFC 2606),
// and nothing resolves them here but connectProxy, which maps them to
// loopback servers.
const (
	proxiedNpmHost   = "registry.example"
	proxiedIndexHost = "pypi.example"
	proxiedFilesHost = "files.example"
)

// treeSize is how many packages publishTree publishes: an install resolves
// that many packuments, which is what multiplies any wait per document.
const treeSize = 45

// publishTree publishes treeSize packages, tree-00 … tree-44, each depending
// on two or three later ones (a tree five or six levels deep that npm
// resolves level by level), and never-cached, which nothing depends on. It
// returns the package.json of a project that depends on the root.
func publishTree(up *npmtest.Server) string {
	for i := range treeSize {
		deps := map[string]string{}
		for _, j := range []int{2*i + 1, 2*i + 2} {
			if j < treeSize {
				deps[treeName(j)] = "^1.0.0"
			}
		}
		if i%4 == 0 && i+3 < treeSize {
			deps[treeName(i+3)] = "^1.0.0"
		}
		up.Publish(treeName(i), "1.0.0", deps)
		up.Publish(treeName(i), "1.1.0", deps)
	}
	up.Publish("never-cached", "1.0.0", nil)
	return `{"name":"app","version":"1.0.0","private":true,"dependencies":{"tree-00":"^1.0.0"}}`
}

func treeName(i int) string { return fmt.Sprintf("tree-%02d", i) }

// publishPyTree publishes a project, app, with seven dependencies that pip
// resolves one page after another, and never-cached, which nothing needs.
func publishPyTree(up *pypitest.Server) {
	up.AddWheel("app", "1.0.0", []string{"alpha>=1", "bravo"}, "")
	up.AddWheel("alpha", "1.0.0", []string{"charlie", "delta<2"}, "")
	up.AddWheel("alpha", "1.1.0", []string{"charlie", "delta<2"}, "")
	up.AddWheel("bravo", "2.0.0", []string{"echo"}, "")
	up.AddWheel("charlie", "1.0.0", []string{"foxtrot"}, "")
	up.AddWheel("delta", "1.5.0", nil, "")
	up.AddWheel("delta", "2.0.0", nil, "")
	up.AddWheel("echo", "0.9.0", []string{"golf"}, "")
	up.AddWheel("foxtrot", "3.0.0", nil, "")
	up.AddWheel("golf", "1.0.0", nil, "")
	up.AddWheel("never-cached", "1.0.0", nil, "")
}

// pyTree is what pip installs from publishPyTree's app.
var pyTree = []string{"app-1.0.0", "alpha-1.1.0", "bravo-2.0.0", "charlie-1.0.0", "delta-1.5.0", "echo-0.9.0", "foxtrot-3.0.0", "golf-1.0.0"}

// proxiedCert makes a self-signed certificate for the proxied names and
// writes it as PEM, for larder's SSL_CERT_FILE.
func proxiedCert(tb testing.TB) (tls.Certificate, string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "larder test upstream"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames:              []string{proxiedNpmHost, proxiedIndexHost, proxiedFilesHost},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	pemFile := filepath.Join(tb.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemFile
}

// tlsFront serves HTTPS with cert on 127.0.0.1 and passes every request on
// to target, a plain-HTTP fake upstream.
func tlsFront(tb testing.TB, cert tls.Certificate, target string) string {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path, u.RawPath = "", ""
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewUnstartedServer(rp)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// connectProxy is an HTTP proxy as HTTPS_PROXY names one: it answers CONNECT
// for the names it knows by a tunnel to the loopback address each maps to,
// so that nothing ever resolves them or leaves the machine. Silent, it
// accepts connections and reads them but never answers, as a hung corporate
// proxy or a black-holed route does.
type connectProxy struct {
	URL    string
	ln     net.Listener
	routes map[string]string // "registry.example:443" → "127.0.0.1:port"

	mu      sync.Mutex
	silent  bool
	conns   map[net.Conn]struct{}
	unknown []string // CONNECT targets it had no route for
	closed  bool
}

func newConnectProxy(tb testing.TB, routes map[string]string) *connectProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &connectProxy{URL: "http://" + ln.Addr().String(), ln: ln, routes: routes, conns: map[net.Conn]struct{}{}}
	go p.serve()
	tb.Cleanup(p.close)
	return p
}

func (p *connectProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.handle(c)
	}
}

func (p *connectProxy) handle(c net.Conn) {
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if p.isSilent() {
		io.Copy(io.Discard, br) // until larder gives up or the proxy wakes
		return
	}
	if req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	target, ok := p.routes[req.Host]
	if !ok {
		p.mu.Lock()
		p.unknown = append(p.unknown, req.Host)
		p.mu.Unlock()
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (p *connectProxy) isSilent() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.silent
}

// setSilent switches the proxy. Either way it drops the connections it holds,
// so that larder can reuse no tunnel opened before.
func (p *connectProxy) setSilent(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent = on
	for c := range p.conns {
		c.Close()
	}
}

// unknownTargets lists the CONNECT targets the proxy had no route for.
func (p *connectProxy) unknownTargets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.unknown...)
}

func (p *connectProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
}

// proxiedEnv is larder's environment for upstreams reached through p and
// trusted by the certificate in pemFile. Loopback upstreams are still reached
// directly: Go's proxy rules never send loopback addresses to a proxy.
func proxiedEnv(p *connectProxy, pemFile string) []string {
	return []string{"HTTPS_PROXY=" + p.URL, "https_proxy=" + p.URL, "HTTP_PROXY=", "http_proxy=",
		"NO_PROXY=", "no_proxy=", "SSL_CERT_FILE=" + pemFile}
}

// npmRegistryConfig mounts an npm registry on upstream with unwellTimeouts.
func npmRegistryConfig(name, upstream string) string {
	return fmt.Sprintf("\n[[registry]]\nname = %q\nkind = \"npm\"\nupstream = %q\n%s\n", name, upstream, unwellTimeouts)
}

// pypiRegistryConfig mounts a PyPI registry on index with unwellTimeouts.
func pypiRegistryConfig(name, index, files string) string {
	return fmt.Sprintf("\n[[registry]]\nname = %q\nkind = \"pypi\"\nupstream = %q\nfile_hosts = [%q]\n%s\n", name, index, files, unwellTimeouts)
}

// npmInstall runs `npm install` (or pnpm's) of pkgJSON in a new project
// with a new home and cache, so with no lockfile and nothing cached on the
// client's side: every packument is asked of larder.
func npmInstall(tb testing.TB, tool, registry, pkgJSON string) (string, error) {
	tb.Helper()
	c := newProject(tb, pkgJSON)
	args := []string{"install", "--no-audit"}
	if tool == "pnpm" {
		args = []string{"install", "--reporter=append-only"}
	}
	return c.run(registry, tool, args...)
}

// pipInstall runs `pip install --target` of projects from index with a new
// cache and nothing of this machine's pip configuration.
func pipInstall(tb testing.TB, index string, projects ...string) (string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := tb.TempDir()
	args := append([]string{"-m", "pip", "install", "--no-compile", "--target", filepath.Join(dir, "site")}, projects...)
	cmd := exec.CommandContext(ctx, python(tb), args...)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PIP_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"PIP_INDEX_URL="+index,
		"PIP_CACHE_DIR="+filepath.Join(dir, "pip-cache"),
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1",
		"PIP_CONFIG_FILE=/dev/null",
		"PIP_DEFAULT_TIMEOUT=60",
		"PIP_RETRIES=0",
	)
	out, err := cmd.CombinedOutput()
	if err == nil && len(projects) == 1 && projects[0] == "app" {
		matches, _ := filepath.Glob(filepath.Join(dir, "site", "*.dist-info"))
		got := map[string]bool{}
		for _, m := range matches {
			got[strings.TrimSuffix(filepath.Base(m), ".dist-info")] = true
		}
		for _, want := range pyTree {
			if !got[want] {
				err = fmt.Errorf("pip installed %v, want %s among them", matches, want)
			}
		}
	}
	return string(out), err
}

var pythonOnce struct {
	sync.Once
	path string
}

// python is the interpreter python3 names, without a version manager's shim
// in between (pyenv's costs seconds a run on a busy machine).
func python(tb testing.TB) string {
	tb.Helper()
	shim := requireTool(tb, "python3")
	pythonOnce.Do(func() {
		out, err := exec.Command(shim, "-c", "import sys; print(sys.executable)").Output()
		pythonOnce.path = strings.TrimSpace(string(out))
		if err != nil || pythonOnce.path == "" {
			pythonOnce.path = shim
		}
	})
	return pythonOnce.path
}

// loggedRequest is one line of larder's request log.
type loggedRequest struct {
	start, end time.Time
	took       time.Duration
	path       string
	status     string
	cache      string
}

var requestLine = regexp.MustCompile(`^time=(\S+) level=INFO msg=request method=\S+ path=(\S+) status=(\d+) bytes=\d+ cache=(\S+) took=(\S+)`)

// requestsIn reads the request lines of a stretch of larder's log.
func requestsIn(logText string) []loggedRequest {
	var out []loggedRequest
	for _, line := range strings.Split(logText, "\n") {
		m := requestLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		end, err1 := time.Parse("2006-01-02T15:04:05.000Z07:00", m[1])
		took, err2 := time.ParseDuration(m[5])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, loggedRequest{start: end.Add(-took), end: end, took: took, path: m[2], status: m[3], cache: m[4]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// waits are the requests of rs that took longer than d.
func waits(rs []loggedRequest, d time.Duration) []loggedRequest {
	var out []loggedRequest
	for _, r := range rs {
		if r.took > d {
			out = append(out, r)
		}
	}
	return out
}

func (r loggedRequest) String() string {
	return fmt.Sprintf("%s %s %s took=%v", r.path, r.status, r.cache, r.took.Round(time.Millisecond))
}

// countLogged counts the lines of s that contain sub.
func countLogged(s, sub string) int { return strings.Count(s, sub) }

// upstreamState reads the registry's upstream state from /metrics.
func upstreamState(tb testing.TB, l *larder, registry string) string {
	tb.Helper()
	_, body := l.get(tb, "/metrics")
	for _, st := range []string{"up", "suspect", "down", "offline"} {
		if strings.Contains(string(body), fmt.Sprintf(`larder_upstream_state{registry=%q,state=%q} 1`, registry, st)) {
			return st
		}
	}
	return "unknown"
}

// awaitState waits up to d for the registry's upstream to be in one of
// states, and returns the state it found last.
func awaitState(tb testing.TB, l *larder, registry string, d time.Duration, states ...string) string {
	tb.Helper()
	var st string
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		st = upstreamState(tb, l, registry)
		for _, want := range states {
			if st == want {
				return st
			}
		}
		if time.Now().After(deadline) {
			return st
		}
	}
}

// sleepPastTTL waits until a second and a bit has passed since since, so
// that every document fetched before is stale.
func sleepPastTTL(since time.Time) {
	time.Sleep(time.Until(since.Add(1200 * time.Millisecond)))
}
