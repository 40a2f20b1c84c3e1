// Command load is larder's load test: many concurrent clients asking for
// warm and cold npm and PyPI packages, against in-process fake upstreams on
// 127.0.0.1, for a bounded time. Every body is checked: artifacts by SHA-256
// against the bytes published upstream, documents by the digests and links
// they must carry. It reports latency percentiles per kind of request, and
// larder's goroutines, open files and peak RSS before and after the load, and
// exits non-zero on any error, any corrupted body or growth beyond the slack.
//
//	go run ./bench/load -duration 30s   # from the repository root; or bench/load.sh
package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

var (
	duration   = flag.Duration("duration", 30*time.Second, "how long the clients run")
	clients    = flag.Int("clients", 200, "concurrent clients")
	npmCount   = flag.Int("npm", 400, "npm packages published upstream (half are warmed)")
	pypiCount  = flag.Int("pypi", 200, "PyPI projects published upstream (half are warmed)")
	coldShare  = flag.Float64("cold", 0.2, "share of picks that take a cold item while any is left")
	timeout    = flag.Duration("timeout", 15*time.Second, "time-out of every HTTP request")
	larderPath = flag.String("larder", "", "larder binary (default: go build ./cmd/larder)")
	outPath    = flag.String("out", "bench/out/load.md", "where the Markdown report is written")
	slackG     = flag.Int("slack-goroutines", 10, "goroutine growth allowed")
	slackFD    = flag.Int("slack-fds", 10, "open-file growth allowed")
	nodeCount  = flag.Int("nodes", 1, "larder nodes: 1 on SQLite and a data folder; more on one PostgreSQL database and one S3 bucket (SeaweedFS) behind nginx, all started here")
)

// The kinds of request, each with its own latency figures.
const (
	packWarm = iota
	packCold
	tgzWarm
	tgzCold
	pageWarm
	pageCold
	wheelWarm
	wheelCold
	nKinds
)

var kindNames = [nKinds]string{
	"npm packument, warm", "npm packument, cold", "npm tarball, warm", "npm tarball, cold",
	"PyPI page, warm", "PyPI page, cold", "PyPI wheel, warm", "PyPI wheel, cold",
}

// Accept headers as the clients send them.
const (
	npmAccept  = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
	pipAccept  = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
	htmlAccept = "text/html"
)

// item is one package a client installs: a document, then one artifact.
type item struct {
	npm       bool
	name      string // npm name, or PyPI project name
	version   string // npm: the version whose tarball is fetched
	file      string // PyPI: the wheel's filename
	integrity string // npm: dist.integrity of that version
	sum       [32]byte
	size      int
	warm      atomic.Bool
	coldPool  bool // not warmed before the run
}

// pool holds the items of one registry: the warm ones, and cold ones handed
// out in order, each to two clients, until none is left.
type pool struct {
	mu       sync.RWMutex
	warmList []*item
	cold     []*item
	next     atomic.Int64
}

func (p *pool) pick(rng *rand.Rand) (it *item, cold bool) {
	if rng.Float64() < *coldShare {
		if i := int(p.next.Add(1)-1) / 2; i < len(p.cold) {
			return p.cold[i], true
		}
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.warmList[rng.IntN(len(p.warmList))], false
}

func (p *pool) warmed(it *item) {
	if it.warm.CompareAndSwap(false, true) {
		p.mu.Lock()
		p.warmList = append(p.warmList, it)
		p.mu.Unlock()
	}
}

// stats is what one client saw; clients keep their own and they are merged.
type stats struct {
	lat     [nKinds][]time.Duration
	errs    [nKinds]int
	corrupt [nKinds]int
	cache   [nKinds]map[string]int
	bytes   int64
	samples []string // the first problems, in words
}

func newStats() *stats {
	s := &stats{}
	for k := range s.cache {
		s.cache[k] = map[string]int{}
	}
	return s
}

func (s *stats) problem(format string, args ...any) {
	if len(s.samples) < 20 {
		s.samples = append(s.samples, fmt.Sprintf(format, args...))
	}
}

func (s *stats) merge(o *stats) {
	for k := range nKinds {
		s.lat[k] = append(s.lat[k], o.lat[k]...)
		s.errs[k] += o.errs[k]
		s.corrupt[k] += o.corrupt[k]
		for c, n := range o.cache[k] {
			s.cache[k][c] += n
		}
	}
	s.bytes += o.bytes
	for _, p := range o.samples {
		s.problem("%s", p)
	}
}

type loader struct {
	base   string // larder's URL, "http://127.0.0.1:PORT"
	client *http.Client
	npm    pool
	pypi   pool
}

// get fetches u and reads the whole body (gunzipped when larder gzip'd it),
// counting it under kind. It returns nil after counting an error.
func (l *loader) get(st *stats, kind int, u, accept string, gz bool) []byte {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		st.errs[kind]++
		st.problem("%s: GET %s: %v", kindNames[kind], u, err)
		return nil
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	start := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		st.errs[kind]++
		st.problem("%s: GET %s: %v", kindNames[kind], u, err)
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	st.lat[kind] = append(st.lat[kind], time.Since(start))
	st.bytes += int64(len(body))
	st.cache[kind][resp.Header.Get("X-Larder-Cache")]++
	if err != nil || resp.StatusCode != http.StatusOK {
		st.errs[kind]++
		st.problem("%s: GET %s: status %d, read error %v, body %.200q", kindNames[kind], u, resp.StatusCode, err, body)
		return nil
	}
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			st.corrupt[kind]++
			st.problem("%s: GET %s: bad gzip: %v", kindNames[kind], u, err)
			return nil
		}
	} else if gz && len(body) > 2 && body[0] == 0x1f && body[1] == 0x8b && kind != tgzWarm && kind != tgzCold {
		st.corrupt[kind]++
		st.problem("%s: GET %s: gzip body without Content-Encoding", kindNames[kind], u)
		return nil
	}
	return body
}

// checkArtifact compares an artifact's bytes with those published upstream.
func checkArtifact(st *stats, kind int, u string, body []byte, it *item) bool {
	if body == nil {
		return false
	}
	if sha256.Sum256(body) != it.sum {
		st.corrupt[kind]++
		st.problem("%s: GET %s: %d bytes, sha256 %x, want %d bytes, %x", kindNames[kind], u, len(body), sha256.Sum256(body), it.size, it.sum)
		return false
	}
	return true
}

// install fetches it as a client would: the packument and the tarball it
// names, or the project page and the wheel it links to.
func (l *loader) install(st *stats, rng *rand.Rand, it *item, cold bool) bool {
	c := 0
	if cold {
		c = 1
	}
	gz := rng.IntN(10) < 3
	if it.npm {
		u := l.base + "/npm/" + strings.Replace(it.name, "/", "%2f", 1)
		body := l.get(st, packWarm+c, u, npmAccept, gz)
		if body == nil {
			return false
		}
		var doc struct {
			Versions map[string]struct {
				Dist struct{ Integrity, Tarball string }
			}
		}
		err := json.Unmarshal(body, &doc)
		dist := doc.Versions[it.version].Dist
		if err != nil || dist.Integrity != it.integrity || !strings.HasPrefix(dist.Tarball, l.base+"/npm/") {
			st.corrupt[packWarm+c]++
			st.problem("%s: GET %s: %d bytes, JSON error %v, dist of %s: %+v, want integrity %s", kindNames[packWarm+c], u, len(body), err, it.version, dist, it.integrity)
			return false
		}
		return checkArtifact(st, tgzWarm+c, dist.Tarball, l.get(st, tgzWarm+c, dist.Tarball, "", false), it)
	}

	u := l.base + "/pypi/simple/" + pypitest.Normalize(it.name) + "/"
	accept := pipAccept
	if rng.IntN(5) == 0 {
		accept = htmlAccept
	}
	body := l.get(st, pageWarm+c, u, accept, gz)
	if body == nil {
		return false
	}
	href, sum := findFile(body, accept == pipAccept, it.file)
	link, err := url.Parse(u)
	if err == nil {
		link, err = link.Parse(href)
	}
	if href == "" || sum != hex.EncodeToString(it.sum[:]) || err != nil || !strings.HasPrefix(link.String(), l.base+"/pypi/") {
		st.corrupt[pageWarm+c]++
		st.problem("%s: GET %s (Accept %s): %d bytes, link to %s: %q sha256 %q, want sha256 %x", kindNames[pageWarm+c], u, accept, len(body), it.file, href, sum, it.sum)
		return false
	}
	return checkArtifact(st, wheelWarm+c, link.String(), l.get(st, wheelWarm+c, link.String(), "", false), it)
}

var anchorRE = regexp.MustCompile(`<a [^>]*href="([^"]+)"[^>]*>([^<]+)</a>`)

// findFile finds a file's link and declared sha256 in a PEP 691 JSON page or
// a PEP 503 HTML page.
func findFile(page []byte, isJSON bool, filename string) (href, sum string) {
	if isJSON {
		var doc struct {
			Files []struct {
				Filename, URL string
				Hashes        map[string]string
			}
		}
		if json.Unmarshal(page, &doc) != nil {
			return "", ""
		}
		for _, f := range doc.Files {
			if f.Filename == filename {
				return f.URL, f.Hashes["sha256"]
			}
		}
		return "", ""
	}
	for _, m := range anchorRE.FindAllSubmatch(page, -1) {
		if string(m[2]) == filename {
			link, frag, _ := strings.Cut(strings.ReplaceAll(string(m[1]), "&amp;", "&"), "#")
			return link, strings.TrimPrefix(frag, "sha256=")
		}
	}
	return "", ""
}

// run lets n clients loop until the deadline: pick a registry, then a warm or
// a cold item of it, install it.
func (l *loader) run(n int, deadline time.Time) *stats {
	all := newStats()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			st := newStats()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for time.Now().Before(deadline) {
				p := &l.pypi
				if rng.IntN(5) < 3 {
					p = &l.npm
				}
				it, cold := p.pick(rng)
				if l.install(st, rng, it, cold) {
					p.warmed(it)
				}
			}
			mu.Lock()
			all.merge(st)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all
}

// warmUp installs every warm item once, 32 at a time.
func (l *loader) warmUp() error {
	items := append(slices.Clone(l.npm.warmList), l.pypi.warmList...)
	work := make(chan *item)
	var mu sync.Mutex
	all := newStats()
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			st, rng := newStats(), rand.New(rand.NewPCG(uint64(i), 9))
			for it := range work {
				l.install(st, rng, it, false)
			}
			mu.Lock()
			all.merge(st)
			mu.Unlock()
		})
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	if len(all.samples) > 0 {
		return fmt.Errorf("warm-up failed:\n  %s", strings.Join(all.samples, "\n  "))
	}
	return nil
}

// Upstream content. Sizes are incompressible random bytes, so that a tarball
// of ~200 KB is 200 KB on the wire.

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// artifactSize: mostly a few KB, some tens of KB, one in twenty ~200 KB.
func artifactSize(rng *rand.Rand, i int) int {
	switch {
	case i%20 == 0:
		return 180<<10 + rng.IntN(40<<10)
	case i%5 == 0:
		return 30<<10 + rng.IntN(70<<10)
	default:
		return 1<<10 + rng.IntN(29<<10)
	}
}

func tarball(name, version string, payload []byte) []byte {
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	manifest := fmt.Sprintf(`{"name": %q, "version": %q, "main": "index.js", "license": "MIT"}`+"\n", name, version)
	for _, f := range []struct {
		name string
		body []byte
	}{{"package/package.json", []byte(manifest)}, {"package/index.js", []byte("module.exports = {};\n")}, {"package/data.bin", payload}} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Unix(499162500, 0), Format: tar.FormatUSTAR})
		tw.Write(f.body)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func wheel(name, version string, payload []byte) (filename string, data []byte) {
	filename, _ = pypitest.Wheel(name, version, nil, "")
	dist := strings.ReplaceAll(pypitest.Normalize(name), "-", "_")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{
		{dist + "/__init__.py", []byte("")},
		{dist + "/data.bin", payload},
		{dist + "-" + version + ".dist-info/METADATA", pypitest.WheelMetadata(name, version, nil, "")},
	} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Store, Modified: time.Date(2020, 2, 2, 0, 0, 0, 0, time.UTC)})
		w.Write(f.body)
	}
	zw.Close()
	return filename, buf.Bytes()
}

// publish fills the fake upstreams and returns the items, warm half first.
func publish(npmUp *npmtest.Server, pypiUp *pypitest.Server) (npmItems, pypiItems []*item) {
	rng := rand.New(rand.NewChaCha8([32]byte{'l', 'o', 'a', 'd'}))
	for i := range *npmCount {
		name := fmt.Sprintf("load-pkg-%d", i)
		if i%10 == 3 {
			name = fmt.Sprintf("@load/scoped-%d", i)
		}
		// Older versions make the packuments of varied size.
		for v := range i % 5 {
			npmUp.Publish(name, fmt.Sprintf("0.%d.0", v), nil)
		}
		it := &item{npm: true, name: name, version: "1.0.0"}
		tgz := tarball(name, it.version, randomBytes(rng, artifactSize(rng, i)))
		npmUp.PublishTarball(name, it.version, tgz, map[string]string{})
		it.sum, it.size = sha256.Sum256(tgz), len(tgz)
		it.integrity = integrity(tgz)
		npmItems = append(npmItems, it)
	}
	for i := range *pypiCount {
		name := fmt.Sprintf("Load_Project.%d", i)
		for v := range i % 3 {
			pypiUp.AddWheel(name, fmt.Sprintf("0.%d", v), nil, "")
		}
		it := &item{name: name}
		var data []byte
		it.file, data = wheel(name, "1.0", randomBytes(rng, artifactSize(rng, i)))
		pypiUp.AddFile(name, it.file, data, pypitest.FileOpts{Metadata: pypitest.WheelMetadata(name, "1.0", nil, "")})
		it.sum, it.size = sha256.Sum256(data), len(data)
		pypiItems = append(pypiItems, it)
	}
	return npmItems, pypiItems
}

// integrity is the dist.integrity of a tarball: "sha512-" and its base64 SHA-512.
func integrity(tgz []byte) string {
	sum := sha512.Sum512(tgz)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// larder, the process under test.

type proc struct {
	cmd     *exec.Cmd
	url     string
	logPath string
	exited  chan struct{}
	// backends: the shared backends' ports, nil for a node on SQLite
	// and a folder.
	backends *backendPorts
}

func startLarder(bin, dir, config string) (*proc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(dir, "larder.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	p := &proc{url: "http://" + addr, logPath: filepath.Join(dir, "larder.log"), exited: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, "serve", "--config", cfg, "--listen", addr, "--data", filepath.Join(dir, "data"))
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the load test
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.cmd.Wait(); logf.Close(); close(p.exited) }()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if resp, err := probe.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("larder exited at start; log in %s", p.logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.stop()
	return nil, fmt.Errorf("larder not ready after 20s; log in %s", p.logPath)
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// probe asks larder for its figures on connections of its own, closed after
// each request, so that it leaves nothing open.
var probe = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

type snapshot struct {
	goroutines, fds, procFDs int
	// Blob files larder keeps open on purpose (larder_blob_files_open):
	// the descriptors of blobs sent by sendfile stay open for the next
	// request, up to 256 unused ones for a minute each.
	blobFiles int
	// Connections to the shared backends (backendconns.go).
	s3Conns, dbConns int
}

// unshared is the open files but those larder keeps for blobs and its
// pooled connections to the shared backends: what must not grow.
func (s snapshot) unshared() int { return s.procFDs - s.blobFiles - s.s3Conns - s.dbConns }

// ownGoroutines is the goroutines but the two of each pooled connection to
// the S3 server: what must not grow.
func (s snapshot) ownGoroutines() int { return s.goroutines - 2*s.s3Conns }

// snapshots takes every node's figures.
func snapshots(nodes []*proc) ([]snapshot, error) {
	var out []snapshot
	for _, p := range nodes {
		s, err := p.snapshot()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.url, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func logPaths(nodes []*proc) string {
	return joined(nodes, func(p *proc) string { return p.logPath })
}

func (p *proc) snapshot() (snapshot, error) {
	var s snapshot
	resp, err := probe.Get(p.url + "/metrics")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, _ := strings.Cut(sc.Text(), " ")
		f, _ := strconv.ParseFloat(val, 64)
		switch name {
		case "go_goroutines":
			s.goroutines, found = int(f), found+1
		case "process_open_fds":
			s.fds, found = int(f), found+1
		case "larder_blob_files_open":
			// Only a store on a local folder keeps blob files open; a
			// node on S3 has none and no such metric.
			s.blobFiles = int(f)
		}
	}
	if found != 2 {
		return s, errors.New("/metrics lacks go_goroutines or process_open_fds")
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	s.procFDs = len(ents)
	if err == nil && p.backends != nil {
		s.s3Conns, s.dbConns, err = backendConns(p.cmd.Process.Pid, *p.backends)
	}
	return s, err
}

// statusKB reads a field of /proc/PID/status, in kB.
func (p *proc) statusKB(field string) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}

// logProblems counts larder's log lines at WARN or ERROR and keeps a few.
func logProblems(path string) (n int, first []string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "panic") {
			n++
			if len(first) < 10 {
				first = append(first, line)
			}
		}
	}
	return n, first
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// clientLog is where this program logs, and where Go's HTTP client reports
// a response that came on a connection without a request ("Unsolicited
// response received on idle HTTP channel"): the client then drops the
// connection, but had it sent a request on it at that moment, it would
// have taken that response for the answer. Each one fails the run.
var clientLog = &logCounter{w: os.Stderr}

type logCounter struct {
	w           io.Writer
	unsolicited atomic.Int64
}

func (l *logCounter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("Unsolicited response")) {
		l.unsolicited.Add(1)
	}
	return l.w.Write(p)
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("load: ")
	log.SetOutput(clientLog)
	flag.Parse()
	if err := mainErr(); err != nil {
		log.Fatal(err)
	}
}

func mainErr() error {
	tmp, err := os.MkdirTemp("", "larder-load-")
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(tmp)
		}
	}()

	bin := *larderPath
	if bin == "" {
		bin = filepath.Join(tmp, "larder")
		build := exec.Command("go", "build", "-o", bin, "./cmd/larder")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building larder (run from the repository root): %v", err)
		}
	}

	npmUp, pypiUp := npmtest.New(), pypitest.New()
	defer npmUp.Close()
	defer pypiUp.Close()
	start := time.Now()
	npmItems, pypiItems := publish(npmUp, pypiUp)
	log.Printf("published %d npm packages and %d PyPI projects in %s", len(npmItems), len(pypiItems), time.Since(start).Round(time.Millisecond))

	config := fmt.Sprintf(`log_level = "info"

[[registry]]
name = "npm"
kind = "npm"
upstream = %q
metadata_ttl = "1h"

[[registry]]
name = "pypi"
kind = "pypi"
upstream = %q
file_hosts = [%q]
metadata_ttl = "1h"
`, npmUp.URL, pypiUp.IndexURL, pypiUp.FilesURL)
	start = time.Now()
	nodes, base, stop, err := startNodes(bin, tmp, config, *nodeCount)
	defer stop()
	if err != nil {
		keep = true
		return err
	}
	log.Printf("%d larder node(s) ready at %s in %s", len(nodes), base, time.Since(start).Round(time.Millisecond))

	tr := &http.Transport{Proxy: nil, MaxIdleConns: 2 * *clients, MaxIdleConnsPerHost: 2 * *clients, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	l := &loader{base: base, client: &http.Client{Timeout: *timeout, Transport: tr}}
	l.npm.warmList, l.npm.cold = split(npmItems)
	l.pypi.warmList, l.pypi.cold = split(pypiItems)
	start = time.Now()
	if err := l.warmUp(); err != nil {
		keep = true
		return fmt.Errorf("%v\nlarder's logs: %s", err, logPaths(nodes))
	}
	log.Printf("warmed %d npm packages and %d PyPI projects in %s", len(l.npm.warmList), len(l.pypi.warmList), time.Since(start).Round(time.Millisecond))

	// Idle connections, larder's to the upstreams included, are not leaks:
	// figures are taken with them closed.
	quiesce := func(dropUpstream bool) {
		tr.CloseIdleConnections()
		if dropUpstream {
			npmUp.SetMode(npmtest.ModeRefuse)
			npmUp.SetMode(npmtest.ModeNormal)
			pypiUp.SetMode(pypitest.ModeRefuse)
			pypiUp.SetMode(pypitest.ModeNormal)
		}
		time.Sleep(3 * time.Second)
	}
	quiesce(true)
	before, err := snapshots(nodes)
	if err != nil {
		return err
	}
	log.Printf("before: %+v; running %d clients for %s", before, *clients, *duration)

	start = time.Now()
	st := l.run(*clients, start.Add(*duration))
	elapsed := time.Since(start)
	log.Printf("load done in %s", elapsed.Round(time.Millisecond))

	lost := func(err error) error {
		keep = true
		return fmt.Errorf("after the load larder does not answer /metrics: %v\nfirst problems:\n  %s\nlarder's logs: %s",
			err, strings.Join(st.samples, "\n  "), logPaths(nodes))
	}
	quiesce(false)
	pooled, err := snapshots(nodes)
	if err != nil {
		return lost(err)
	}
	var after []snapshot
	for range 5 { // let closing connections finish; a leak stays
		quiesce(true)
		if after, err = snapshots(nodes); err != nil {
			return lost(err)
		}
		if len(leaks(before, after)) == 0 {
			break
		}
	}
	r := &result{st: st, elapsed: elapsed, before: before, pooled: pooled, after: after,
		npmItems: len(npmItems), pypiItems: len(pypiItems), nodes: len(nodes),
		fetches:     upstreamFetches(npmUp, pypiUp, append(slices.Clone(npmItems), pypiItems...)),
		unsolicited: int(clientLog.unsolicited.Load())}
	for _, p := range nodes {
		r.hwmKB = append(r.hwmKB, p.statusKB("VmHWM"))
		r.rssKB = append(r.rssKB, p.statusKB("VmRSS"))
		n, first := logProblems(p.logPath)
		r.logN += n
		r.logFirst = append(r.logFirst, first...)
	}
	text, fails := r.report()
	fmt.Print(text)
	if err := os.MkdirAll(filepath.Dir(*outPath), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*outPath, []byte(text), 0o644); err != nil {
		return err
	}
	if len(fails) > 0 {
		keep = true
		return fmt.Errorf("FAIL: %s; larder's log and data kept in %s", strings.Join(fails, ", "), tmp)
	}
	return nil
}

// result is what one run measured.
type result struct {
	st                    *stats
	elapsed               time.Duration
	before, pooled, after []snapshot // one per node
	npmItems, pypiItems   int
	nodes                 int
	fetches               fetchCounts
	hwmKB, rssKB          []int // one per node
	logN                  int
	logFirst              []string
	unsolicited           int // responses larder sent on a connection without a request
}

// report renders the Markdown report and says what failed, if anything.
func (r *result) report() (text string, fails []string) {
	var b strings.Builder
	var total, totalErr, totalCorrupt int
	target := "one larder node on SQLite and its data folder"
	if r.nodes > 1 {
		target = fmt.Sprintf("%d larder nodes on one PostgreSQL database and one S3 bucket (SeaweedFS), through nginx", r.nodes)
	}
	fmt.Fprintf(&b, "# larder under load\n\n%d clients for %s on 127.0.0.1, %s, against in-process fake upstreams: %d npm packages and %d PyPI projects, half warmed before the run; %.0f%% of picks take a cold item while any is left. Latencies in ms, request to last byte.\n\n",
		*clients, *duration, target, r.npmItems, r.pypiItems, *coldShare*100)
	fmt.Fprintf(&b, "| request | count | errors | corrupted | X-Larder-Cache | p50 | p90 | p99 | max |\n| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n")
	var every []time.Duration
	for k := range nKinds {
		lat := r.st.lat[k]
		slices.Sort(lat)
		every = append(every, lat...)
		total, totalErr, totalCorrupt = total+len(lat), totalErr+r.st.errs[k], totalCorrupt+r.st.corrupt[k]
		var cache []string
		for _, c := range slices.Sorted(maps.Keys(r.st.cache[k])) {
			label := c
			if label == "" {
				label = "(none)"
			}
			cache = append(cache, fmt.Sprintf("%s %d", label, r.st.cache[k][c]))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s | %s | %s | %s |\n", kindNames[k], len(lat), r.st.errs[k], r.st.corrupt[k], strings.Join(cache, ", "),
			ms(percentile(lat, .5)), ms(percentile(lat, .9)), ms(percentile(lat, .99)), ms(percentile(lat, 1)))
	}
	slices.Sort(every)
	fmt.Fprintf(&b, "| **all** | %d | %d | %d | | %s | %s | %s | %s |\n\n", total, totalErr, totalCorrupt,
		ms(percentile(every, .5)), ms(percentile(every, .9)), ms(percentile(every, .99)), ms(percentile(every, 1)))
	header := "larder"
	if r.nodes > 1 {
		header = "larder (per node)"
	}
	fmt.Fprintf(&b, "| %s | before (after warm-up) | after, idle upstream connections kept | after, all idle connections closed |\n| --- | ---: | ---: | ---: |\n", header)
	for _, row := range []struct {
		name  string
		of    func(snapshot) int
		nodes int // only for one node (1) or several (2); 0: always
	}{
		{"goroutines (`go_goroutines`)", func(s snapshot) int { return s.goroutines }, 0},
		{"open files (`process_open_fds`)", func(s snapshot) int { return s.fds }, 0},
		{"open files (`/proc/PID/fd`)", func(s snapshot) int { return s.procFDs }, 0},
		{"of which blob files kept open (`larder_blob_files_open`)", func(s snapshot) int { return s.blobFiles }, 0},
		{"of which connections to S3 (pooled)", func(s snapshot) int { return s.s3Conns }, 2},
		{"of which connections to PostgreSQL (pooled)", func(s snapshot) int { return s.dbConns }, 2},
		{"goroutines but two per S3 connection", snapshot.ownGoroutines, 2},
		{"open files but kept blob files", snapshot.unshared, 1},
		{"open files but kept blob files and backend connections", snapshot.unshared, 2},
	} {
		if row.nodes == 1 && r.nodes > 1 || row.nodes == 2 && r.nodes == 1 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.name, perNode(r.before, row.of), perNode(r.pooled, row.of), perNode(r.after, row.of))
	}
	mb := func(kb int) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
	fmt.Fprintf(&b, "\nThroughput: %.0f requests/s, %.1f MB/s of bodies. Peak RSS (VmHWM): %s; RSS at the end: %s. Log lines at WARN or ERROR: %d. Unsolicited responses on idle connections: %d.\n\n",
		float64(total)/r.elapsed.Seconds(), float64(r.st.bytes)/1e6/r.elapsed.Seconds(), joined(r.hwmKB, mb), joined(r.rssKB, mb), r.logN, r.unsolicited)
	fc := r.fetches
	fmt.Fprintf(&b, "Upstream fetches per artifact installed, counted at the fake upstreams: installed cold during the run: %s; warmed before the run: %s. Per document of an installed item: %s. Cold items no client installed: %d (their artifacts fetched %d times).\n\n",
		fc.cold.of("artifacts"), fc.warm.of("artifacts"), fc.documents.of("documents"), fc.notInstalled, fc.unneededFetch)

	if totalErr > 0 {
		fails = append(fails, fmt.Sprintf("%d errors", totalErr))
	}
	if totalCorrupt > 0 {
		fails = append(fails, fmt.Sprintf("%d corrupted bodies", totalCorrupt))
	}
	fails = append(fails, leaks(r.before, r.after)...)
	if !fc.ok() {
		fails = append(fails, fmt.Sprintf("artifacts or documents fetched from the upstream other than once (%s)", strings.Join(fc.wrong, "; ")))
	}
	if r.unsolicited > 0 {
		fails = append(fails, fmt.Sprintf("%d unsolicited responses on idle connections", r.unsolicited))
	}
	if len(fails) == 0 {
		fmt.Fprintf(&b, "Result: **PASS** (slack: %d goroutines, %d open files).\n", *slackG, *slackFD)
	} else {
		fmt.Fprintf(&b, "Result: **FAIL**: %s.\n", strings.Join(fails, ", "))
	}
	if len(r.st.samples) > 0 {
		fmt.Fprintf(&b, "\nFirst problems:\n\n```\n%s\n```\n", strings.Join(r.st.samples, "\n"))
	}
	if r.logN > 0 {
		fmt.Fprintf(&b, "\nlarder's first WARN/ERROR log lines:\n\n```\n%s\n```\n", strings.Join(r.logFirst, "\n"))
	}
	return b.String(), fails
}

// leaks says which nodes grew beyond the slack between two snapshots.
func leaks(before, after []snapshot) (fails []string) {
	for i := range before {
		node := ""
		if len(before) > 1 {
			node = fmt.Sprintf("node %d: ", i+1)
		}
		if g := after[i].ownGoroutines() - before[i].ownGoroutines(); g > *slackG {
			fails = append(fails, fmt.Sprintf("%sgoroutines grew by %d (slack %d)", node, g, *slackG))
		}
		if f := after[i].unshared() - before[i].unshared(); f > *slackFD {
			fails = append(fails, fmt.Sprintf("%sopen files but kept blob files and backend connections grew by %d (slack %d)", node, f, *slackFD))
		}
	}
	return fails
}

func perNode(snaps []snapshot, of func(snapshot) int) string {
	return joined(snaps, func(s snapshot) string { return strconv.Itoa(of(s)) })
}

func joined[T any](vs []T, format func(T) string) string {
	var out []string
	for _, v := range vs {
		out = append(out, format(v))
	}
	return strings.Join(out, ", ")
}

func split(items []*item) (warm, cold []*item) {
	h := len(items) / 2
	for _, it := range items[:h] {
		it.warm.Store(true)
	}
	for _, it := range items[h:] {
		it.coldPool = true
	}
	return slices.Clone(items[:h]), slices.Clone(items[h:])
}
