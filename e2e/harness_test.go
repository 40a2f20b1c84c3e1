package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/larder-mirror/larder/storage/backendtest"
)

// testTransport trusts any certificate: the TLS test's larder has a
// self-signed one made for the test.
var testTransport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}

var testClient = &http.Client{Transport: testTransport}

// larderBin is the binary under test, built once by TestMain.
var larderBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "larder-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	larderBin = filepath.Join(dir, "larder")
	args := []string{"build", "-o", larderBin}
	if os.Getenv("LARDER_E2E_RACE") != "" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/larder")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building larder:", err)
		os.Exit(1)
	}
	code := m.Run()
	backendtest.Stop() // the PostgreSQL and S3 servers the cluster tests started
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool fails (not skips) when a client is missing: `make test`
// installs them, and a test that silently skips proves nothing.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed; run `make deps` (or `make test`, which installs it)", name)
	}
	return p
}

// larder is one running larder process.
type larder struct {
	t      testing.TB
	dir    string // data folder
	config string // config file path
	addr   string
	URL    string // http://127.0.0.1:PORT
	cmd    *exec.Cmd
	log    *lockedBuffer
	extra  []string // extra serve flags
	env    []string
	exited chan struct{}
	// readyPath and wantReady say how start knows larder is up: by default
	// GET /readyz answers 200.
	readyPath string
	wantReady int
}

// startLarder writes config (a TOML body without listen/data) and starts
// larder on a free loopback port with a fresh data folder.
func startLarder(t testing.TB, config string, flags ...string) *larder {
	t.Helper()
	return startLarderEnv(t, config, nil, flags...)
}

// startLarderEnv is startLarder with extra environment variables.
func startLarderEnv(t testing.TB, config string, env []string, flags ...string) *larder {
	t.Helper()
	return startLarderWith(t, config, func(l *larder) { l.env, l.extra = env, flags })
}

// startLarderWith is startLarder with the process's settings adjusted by
// set before it starts.
func startLarderWith(t testing.TB, config string, set func(*larder)) *larder {
	t.Helper()
	engine := os.Getenv("LARDER_E2E_ENGINE")
	if engine != "" && !strings.Contains(config, "http_engine") {
		config = fmt.Sprintf("http_engine = %q\n", engine) + config
	}
	l := &larder{t: t, dir: filepath.Join(t.TempDir(), "data")}
	l.config = filepath.Join(t.TempDir(), "larder.toml")
	if err := os.WriteFile(l.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	l.addr = freeAddr(t)
	l.URL = "http://" + l.addr
	set(l)
	l.start()
	if engine != "" && !l.logs("http_engine="+engine, 3*time.Second) {
		t.Fatalf("LARDER_E2E_ENGINE=%s, but larder does not say it serves with it:\n%s", engine, tail(l.log.String(), 20))
	}
	t.Cleanup(func() {
		l.stop()
		if t.Failed() || os.Getenv("LARDER_E2E_LOG") != "" {
			t.Logf("larder log (tail):\n%s", tail(l.log.String(), 60))
		}
	})
	return l
}

// logs reports whether larder's log says what, waiting up to wait (the log
// is written in batches).
func (l *larder) logs(what string, wait time.Duration) bool {
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(l.log.String(), what) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (l *larder) start() {
	l.t.Helper()
	if l.log == nil {
		l.log = &lockedBuffer{}
	}
	args := append([]string{"serve", "--config", l.config, "--listen", l.addr, "--data", l.dir}, l.extra...)
	l.cmd = exec.Command(larderBin, args...)
	l.cmd.Stdout, l.cmd.Stderr = l.log, l.log
	l.cmd.Env = append(os.Environ(), l.env...)
	if err := l.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(l.cmd, l.exited)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		path, want := l.readyPath, l.wantReady
		if path == "" {
			path, want = "/readyz", 200
		}
		resp, err := testClient.Get(l.URL + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		select {
		case <-l.exited:
			l.t.Fatalf("larder exited at start:\n%s", l.log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	l.t.Fatalf("larder not ready after 20s:\n%s", l.log.String())
}

// stop ends larder the way an operator does (SIGTERM) and waits.
func (l *larder) stop() {
	if l.cmd == nil || l.cmd.Process == nil {
		return
	}
	l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.exited:
	case <-time.After(20 * time.Second):
		l.cmd.Process.Kill()
		<-l.exited
	}
	l.cmd = nil
}

// kill9 ends larder with SIGKILL: no shutdown code runs.
func (l *larder) kill9() {
	l.cmd.Process.Kill()
	<-l.exited
	l.cmd = nil
}

func (l *larder) restart(flags ...string) {
	l.t.Helper()
	l.stop()
	l.extra = flags
	l.start()
}

// db opens larder's database read-only, for checks on what was stored.
func (l *larder) db() *sql.DB {
	l.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(l.dir, "larder.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { db.Close() })
	return db
}

// storedSHA256 is the digest larder recorded for an artifact path, "" if none.
func (l *larder) storedSHA256(registry, path string) string {
	l.t.Helper()
	var sum sql.NullString
	err := l.db().QueryRow(`SELECT sha256 FROM artifacts WHERE registry = ? AND path = ?`, registry, path).Scan(&sum)
	if err != nil && err != sql.ErrNoRows {
		l.t.Fatal(err)
	}
	return sum.String
}

// heldSHA256 is storedSHA256 once a row is there: a client is answered as
// soon as an artifact's bytes are verified, and larder records the artifact
// a moment later, so a test that expects a row waits for it (up to 10s).
func (l *larder) heldSHA256(registry, path string) string {
	l.t.Helper()
	return awaitRow(func() string { return l.storedSHA256(registry, path) })
}

func awaitRow(read func() string) string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if sum := read(); sum != "" || time.Now().After(deadline) {
			return sum
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// blobFiles lists the files under the blob folder's sha256/ and tmp/.
func (l *larder) blobFiles(sub string) []string {
	var out []string
	filepath.Walk(filepath.Join(l.dir, "blobs", sub), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func (l *larder) get(t testing.TB, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, l.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := testTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading: %v", path, err)
	}
	return resp, b
}

// client runs a package manager in a project folder with its own cache, so
// that every run asks larder rather than a cache left by another test.
type client struct {
	t     testing.TB
	dir   string
	cache string
	home  string
}

func newProject(t testing.TB, pkgJSON string) *client {
	t.Helper()
	c := &client{t: t, dir: t.TempDir(), home: t.TempDir()}
	c.cache = filepath.Join(c.home, "cache")
	if err := os.WriteFile(filepath.Join(c.dir, "package.json"), []byte(pkgJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// freshCache points the client at a new, empty cache.
func (c *client) freshCache() {
	c.cache = filepath.Join(c.t.TempDir(), "cache")
}

func (c *client) env(registry string) []string {
	return append(os.Environ(),
		"HOME="+c.home,
		"npm_config_registry="+registry,
		"npm_config_cache="+c.cache,
		"npm_config_store_dir="+filepath.Join(c.cache, "pnpm-store"),
		"npm_config_update_notifier=false",
		"npm_config_fund=false",
		"npm_config_fetch_retries=0",
		"npm_config_omit_lockfile_registry_resolved=false",
		"npm_config_fetch_timeout=60000",
		"YARN_CACHE_FOLDER="+filepath.Join(c.cache, "yarn"),
		"YARN_REGISTRY="+registry,
		"COREPACK_ENABLE_STRICT=0",
		"NO_UPDATE_NOTIFIER=1",
		"CI=1",
	)
}

// run runs a client command and returns its combined output and error.
func (c *client) run(registry string, name string, args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(c.t, name), args...)
	cmd.Dir = c.dir
	cmd.Env = c.env(registry)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *client) mustRun(registry string, name string, args ...string) string {
	c.t.Helper()
	out, err := c.run(registry, name, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (c *client) removeNodeModules() {
	if err := os.RemoveAll(filepath.Join(c.dir, "node_modules")); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read(name string) string {
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}

func (c *client) exists(name string) bool {
	_, err := os.Stat(filepath.Join(c.dir, name))
	return err == nil
}

// lockedBuffer collects a process's output, written and read concurrently.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// flushedLog is larder's log with every line of a request answered
// before the call: larder writes its log in batches, in order, so once the
// line of a request sent now is there, so are the lines before it.
func (l *larder) flushedLog() string {
	l.t.Helper()
	mark := fmt.Sprintf("/-/log-mark-%d", logMarks.Add(1))
	l.get(l.t, mark)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if log := l.log.String(); strings.Contains(log, "path="+mark+" ") {
			return log
		} else if time.Now().After(deadline) {
			l.t.Fatalf("larder's log has no line for %s after 10s", mark)
		}
	}
}

var logMarks atomic.Int64

// logged waits briefly for s to appear in larder's log, which larder
// writes in batches.
func (l *larder) logged(s string) bool {
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(l.log.String(), s) {
			return true
		}
	}
	return false
}

// holdsDocument reports whether db (larder's database) stores a document
// of key, in any variant.
func holdsDocument(t testing.TB, db *sql.DB, registry, key string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM documents WHERE registry = ? AND doc_key = ?`, registry, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// waitFor polls done for up to 10 seconds.
func waitFor(t testing.TB, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !done(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}
