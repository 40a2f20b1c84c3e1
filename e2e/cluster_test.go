package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/storage"
	"github.com/larder-mirror/larder/storage/backendtest"
)

// cluster is several larder processes over one PostgreSQL database and one
// S3 bucket (SeaweedFS), behind a real nginx on loopback.
type cluster struct {
	t        *testing.T
	nodes    []*larder
	URL      string // nginx
	database string
	bucket   string
	config   string // the nodes' configuration, for the subcommands
}

// startCluster starts n nodes with config (registries) over a new
// database and bucket, and nginx in front of them.
func startCluster(t *testing.T, n int, config string) *cluster {
	t.Helper()
	c := &cluster{t: t, database: backendtest.NewDatabase(t), bucket: backendtest.NewBucket(t)}
	lbAddr := freeAddr(t)
	c.URL = "http://" + lbAddr
	full := fmt.Sprintf("database = %q\nblob_store = %q\npublic_url = %q\n", c.database, c.bucket, c.URL) + config
	c.config = filepath.Join(t.TempDir(), "cluster.toml")
	if err := os.WriteFile(c.config, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for i := 0; i < n; i++ {
		c.nodes = append(c.nodes, startLarder(t, full))
		addrs = append(addrs, c.nodes[i].addr)
	}
	backendtest.Balancer(t, lbAddr, addrs)
	return c
}

// db opens the cluster's database, for checks on what was stored.
func (c *cluster) db() *sql.DB {
	c.t.Helper()
	db, err := sql.Open("pgx", c.database)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

func (c *cluster) storedSHA256(registry, path string) string {
	c.t.Helper()
	var sum sql.NullString
	err := c.db().QueryRow(`SELECT sha256 FROM artifacts WHERE registry = $1 AND path = $2`, registry, path).Scan(&sum)
	if err != nil && err != sql.ErrNoRows {
		c.t.Fatal(err)
	}
	return sum.String
}

// heldSHA256 is storedSHA256 once a row is there (see larder.heldSHA256).
func (c *cluster) heldSHA256(registry, path string) string {
	c.t.Helper()
	return awaitRow(func() string { return c.storedSHA256(registry, path) })
}

// inBucket reports whether the bucket holds a blob under digest.
func (c *cluster) inBucket(digest string) bool {
	c.t.Helper()
	b, err := storage.OpenS3Blobs(c.t.Context(), c.bucket, "")
	if err != nil {
		c.t.Fatal(err)
	}
	_, err = b.Stat(c.t.Context(), storage.Digest(digest))
	return err == nil
}

// larderCmd runs a larder subcommand against the cluster's backends.
func (c *cluster) larderCmd(args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 2*time.Minute)
	defer cancel()
	args = append(args, "--config", c.config, "--data", filepath.Join(c.t.TempDir(), "cli-data"))
	out, err := exec.CommandContext(ctx, larderBin, args...).CombinedOutput()
	return string(out), err
}

func TestThreeNodesBehindNginxFetchEachArtifactOnceAndServeItFromTheSharedStore(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	publishGraph(up)
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i*13 + i/1024)
	}
	up.PublishTarball("bulky", "1.0.0", big, nil)
	c := startCluster(t, 3, npmConfig(up, ""))

	// A cold npm install through the load balancer: every tarball is
	// fetched once, whichever node each request reached.
	p := newProject(t, graphPackageJSON)
	p.mustRun(c.URL+"/npm/", "npm", "install", "--no-audit")
	installed(t, p, "@acme/top", "@acme/util", "mid", "leaf")
	tarballRequestsOnlyFromLarder(t, up)
	versions := map[string]string{"leaf": "1.1.0", "mid": "2.0.0", "@acme/top": "3.0.0", "@acme/util": "1.0.0"}
	for name, v := range versions {
		path := npmtest.TarballPath(name, v)
		if n := up.Count("GET", "/"+path); n != 1 {
			t.Errorf("upstream saw %d requests for %s, want 1", n, path)
		}
		sum := c.heldSHA256("npm", path)
		if sum == "" || !c.inBucket(sum) {
			t.Errorf("%s: row %q, in the bucket: %v", path, sum, sum != "" && c.inBucket(sum))
		}
	}

	// Fifty concurrent requests for one cold tarball, spread over the
	// three nodes directly: one upstream fetch between them.
	for _, l := range c.nodes {
		if resp, _ := l.get(t, "/npm/bulky"); resp.StatusCode != 200 {
			t.Fatalf("packument: %d", resp.StatusCode)
		}
	}
	// A document within its TTL is asked of the upstream once, not once
	// per node.
	if n := up.Count("GET", "/bulky"); n != 1 {
		t.Errorf("upstream saw %d requests for the packument from three nodes, want 1", n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(l *larder) {
			defer wg.Done()
			resp, err := http.Get(l.URL + "/npm/bulky/-/bulky-1.0.0.tgz")
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || sha(b) != sha(big) {
				errs <- fmt.Errorf("%s: status %d, %d bytes, err %v", l.addr, resp.StatusCode, len(b), err)
			}
		}(c.nodes[i%3])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := up.Count("GET", "/bulky/-/bulky-1.0.0.tgz"); n != 1 {
		t.Errorf("upstream saw %d requests for the cold tarball across three nodes, want 1", n)
	}

	// Warm, with the upstream refusing: npm ci through the load balancer
	// is answered from the shared database and bucket by every node.
	up.SetMode(npmtest.ModeRefuse)
	p.removeNodeModules()
	p.freshCache()
	p.mustRun(c.URL+"/npm/", "npm", "ci", "--no-audit")
	installed(t, p, "@acme/top", "@acme/util", "mid", "leaf")
	for _, l := range c.nodes {
		resp, body := l.get(t, "/npm/bulky/-/bulky-1.0.0.tgz", "Range", "bytes=100-199")
		if resp.StatusCode != http.StatusPartialContent || string(body) != string(big[100:200]) {
			t.Errorf("%s: a range of a tarball held in the bucket: %d, %d bytes", l.addr, resp.StatusCode, len(body))
		}
		resp, _ = l.get(t, "/npm/bulky/-/bulky-1.0.0.tgz", "If-None-Match", `"sha256-`+sha(big)+`"`)
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s: a conditional request for a held tarball: %d, want 304", l.addr, resp.StatusCode)
		}
	}
	up.SetMode(npmtest.ModeNormal)

	// The subcommands run against the shared backends from any machine
	// with the nodes' config: verify reads every object back, export
	// writes an archive of them, import of that archive changes nothing.
	if out, err := c.larderCmd("verify"); err != nil || !strings.Contains(out, "0 missing") {
		t.Errorf("larder verify: %v\n%s", err, out)
	}
	archive := filepath.Join(t.TempDir(), "cluster.tar")
	if out, err := c.larderCmd("export", "--out", archive); err != nil {
		t.Fatalf("larder export: %v\n%s", err, out)
	}
	if fi, err := os.Stat(archive); err != nil || fi.Size() < int64(len(big)) {
		t.Errorf("the archive is not there or lacks the tarball: %v", err)
	}
	if out, err := c.larderCmd("import", archive); err != nil {
		t.Errorf("larder import: %v\n%s", err, out)
	}

	// What one process evicts, no node serves: gc (a subcommand, on the
	// shared backends) forgets every artifact, and the next request on
	// each node fetches again rather than serving a copy it remembers.
	out, err := c.larderCmd("gc", "--max-size", "1")
	if err != nil {
		t.Fatalf("larder gc: %v\n%s", err, out)
	}
	if sum := c.storedSHA256("npm", "bulky/-/bulky-1.0.0.tgz"); sum != "" {
		t.Fatalf("after gc the row still names %s:\n%s", sum, out)
	}
	if c.inBucket(sha(big)) {
		t.Errorf("after gc the blob is still in the bucket")
	}
	for _, l := range c.nodes {
		resp, body := l.get(t, "/npm/bulky/-/bulky-1.0.0.tgz")
		if resp.StatusCode != 200 || sha(body) != sha(big) {
			t.Errorf("%s after gc: %d, %d bytes", l.addr, resp.StatusCode, len(body))
		}
	}
	if n := up.Count("GET", "/bulky/-/bulky-1.0.0.tgz"); n != 2 {
		t.Errorf("after gc the upstream saw %d requests for the tarball in all, want 2 (once before, once after)", n)
	}
}

// bigPackage is an npm package tarball with a file of size random bytes
// beside its package.json: large enough to take seconds through a slow
// upstream, and stored gzip'd without compression.
func bigPackage(t *testing.T, name, version string, size int) []byte {
	t.Helper()
	manifest := fmt.Appendf(nil, `{"name":%q,"version":%q,"main":"index.js","license":"MIT"}`, name, version)
	payload := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(payload)
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		body []byte
	}{{"package/package.json", manifest}, {"package/index.js", []byte("module.exports = 1;\n")}, {"package/payload.bin", payload}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Unix(499162500, 0), Format: tar.FormatUSTAR}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.body)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// extraNode starts one more node on the cluster's backends that is not
// behind the load balancer: a node another client reached.
func (c *cluster) extraNode() *larder {
	c.t.Helper()
	b, err := os.ReadFile(c.config)
	if err != nil {
		c.t.Fatal(err)
	}
	return startLarder(c.t, string(b))
}

// waitingForALock reports whether a node behind the load balancer waits
// for a cluster lock that another holds.
func (c *cluster) waitingForALock() bool {
	for _, l := range c.nodes {
		_, body := l.get(c.t, "/metrics")
		for line := range strings.Lines(string(body)) {
			if n, ok := strings.CutPrefix(strings.TrimSpace(line), "larder_cluster_lock_waits "); ok && n != "0" {
				return true
			}
		}
	}
	return false
}

// The node fetching an artifact for the cluster is killed while a client
// of another node waits for it: that node takes the fill over, the install
// succeeds, and nothing of the interrupted download is ever visible.
func TestANodeKilledMidDownloadLeavesNothingPartialAndTheInstallGoesOnThroughTheOthers(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	huge := bigPackage(t, "huge", "1.0.0", 24<<20)
	up.PublishTarball("huge", "1.0.0", huge, nil)
	slow := newTrickleProxy(t, up.URL, 256<<10, 25*time.Millisecond)
	c := startCluster(t, 2, npmThroughRelay(slow.URL, up, ""))
	victim := c.extraNode()
	const tarball = "/npm/huge/-/huge-1.0.0.tgz"

	// Another client starts the download on the victim.
	if resp, _ := victim.get(t, "/npm/huge"); resp.StatusCode != 200 {
		t.Fatalf("packument: %d", resp.StatusCode)
	}
	first, err := http.Get(victim.URL + tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	go io.Copy(io.Discard, first.Body)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if files := victim.blobFiles("tmp"); len(files) > 0 {
			if fi, err := os.Stat(files[0]); err == nil && fi.Size() > 1<<20 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the victim is not downloading the tarball")
		}
	}

	// npm install through the load balancer: its node waits for the
	// victim's fill rather than fetching the tarball a second time.
	p := newProject(t, `{"name":"app","version":"1.0.0","private":true,"dependencies":{"huge":"1.0.0"}}`)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(t, "npm"), "install", "--no-audit")
	cmd.Dir = p.dir
	cmd.Env = p.env(c.URL + "/npm/")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	installDone := make(chan error, 1)
	go func() { installDone <- cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); !c.waitingForALock(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no node waits for the victim's fill; npm says:\n%s", out.String())
		}
	}
	victim.kill9()
	if sum := c.storedSHA256("npm", "huge/-/huge-1.0.0.tgz"); sum != "" {
		t.Errorf("a row names %s for the interrupted download", sum)
	}
	if c.inBucket(sha(huge)) {
		t.Errorf("the interrupted download is in the bucket")
	}
	select {
	case err := <-installDone:
		if err != nil {
			t.Fatalf("npm install did not survive the fetching node's death: %v\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("npm install did not finish:\n%s", out.String())
	}
	installed(t, p, "huge")
	if got := c.heldSHA256("npm", "huge/-/huge-1.0.0.tgz"); got != sha(huge) {
		t.Errorf("stored digest %q, want the tarball's", got)
	}
	if n := up.Count("GET", "/huge/-/huge-1.0.0.tgz"); n != 2 {
		t.Errorf("upstream saw %d requests for the tarball, want 2 (the interrupted one and the one that took over)", n)
	}
	// The bucket holds the documents and the tarball, nothing else.
	b, err := storage.OpenS3Blobs(t.Context(), c.bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{sha(huge): true}
	rows, err := c.db().Query(`SELECT DISTINCT body_sha256 FROM documents`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		rows.Scan(&d)
		want[d] = true
	}
	rows.Close()
	b.Walk(t.Context(), func(d storage.Digest, size int64) error {
		if !want[string(d)] {
			t.Errorf("the bucket holds %s (%d bytes), which no row names", d, size)
		}
		return nil
	})
}

// The object store restarts (killed, then started on its folder again)
// between a cold and a warm install: the nodes, never restarted, serve
// the warm install from it, with the upstream refusing.
func TestAWarmInstallIsServedAfterTheObjectStoreRestarts(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	publishGraph(up)
	c := startCluster(t, 2, npmConfig(up, ""))
	p := newProject(t, graphPackageJSON)
	p.mustRun(c.URL+"/npm/", "npm", "install", "--no-audit")

	backendtest.RestartS3(t)
	up.SetMode(npmtest.ModeRefuse)
	p.removeNodeModules()
	p.freshCache()
	p.mustRun(c.URL+"/npm/", "npm", "ci", "--no-audit")
	installed(t, p, "@acme/top", "@acme/util", "mid", "leaf")
	// Writes come back once the restarted store has found its volumes
	// again (seconds): each node's /readyz, which writes to the bucket,
	// says ready again without the node being restarted.
	for _, l := range c.nodes {
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			resp, body := l.get(t, "/readyz")
			if resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s not ready a minute after the store came back: %s", l.addr, body)
				break
			}
		}
	}
}
