package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/storage/backendtest"
)

// The object store is killed and started again while a warm `npm ci`
// reads its tarballs through two nodes, the upstream refusing: the
// requests that meet the store down fail as a 5xx that npm retries, and
// the install completes from the store once it is back, with nothing asked
// of the upstream.
func TestAWarmInstallGoesOnWhileTheObjectStoreRestarts(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	const n = 60
	deps := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("warm-%03d", i)
		up.Publish(name, "1.0.0", nil)
		deps[i] = fmt.Sprintf("%q:%q", name, "1.0.0")
	}
	c := startCluster(t, 2, npmConfig(up, ""))
	p := newProject(t, `{"name":"app","version":"1.0.0","dependencies":{`+strings.Join(deps, ",")+`}}`)
	p.mustRun(c.URL+"/npm/", "npm", "install", "--no-audit")
	for i := range n {
		name := fmt.Sprintf("warm-%03d", i)
		if c.heldSHA256("npm", name+"/-/"+name+"-1.0.0.tgz") == "" {
			t.Fatalf("%s is not held after the cold install", name)
		}
	}

	up.SetMode(npmtest.ModeRefuse)
	up.Reset()
	p.removeNodeModules()
	p.freshCache()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(t, "npm"), "ci", "--no-audit")
	cmd.Dir = p.dir
	// npm's own retries, quicker than its defaults (10 s to 60 s apart),
	// carry it over the seconds the store is away.
	cmd.Env = append(p.env(c.URL+"/npm/"), "npm_config_fetch_retries=6",
		"npm_config_fetch_retry_mintimeout=500", "npm_config_fetch_retry_maxtimeout=3000")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// The store goes once a few tarballs are served and most are still to
	// come.
	for deadline := time.Now().Add(time.Minute); c.artifactHits() < 10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the warm install served no tarballs in a minute:\n%s", out.String())
		}
	}
	before := c.artifactHits()
	backendtest.RestartS3(t)
	if before >= n {
		t.Fatalf("all %d tarballs were served before the store went: the test proves nothing; make the install longer", before)
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("npm ci did not survive the store's restart: %v\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("npm ci did not finish:\n%s", out.String())
	}
	for _, name := range []string{"warm-000", fmt.Sprintf("warm-%03d", n-1)} {
		installed(t, p, name)
	}
	if reqs := up.Requests(); len(reqs) != 0 {
		t.Errorf("the upstream, refusing, was asked %d times (first: %s %s): every tarball was held", len(reqs), reqs[0].Method, reqs[0].Path)
	}
	t.Logf("%d of %d tarballs served before the store went; npm said:\n%s", before, n, out.String())
}

// artifactHits sums, over the nodes, the artifacts answered from what the
// cluster holds.
func (c *cluster) artifactHits() int {
	total := 0
	for _, l := range c.nodes {
		_, body := l.get(c.t, "/metrics")
		for line := range strings.Lines(string(body)) {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), `larder_requests_total{cache="HIT",kind="artifact",registry="npm"} `)
			if !ok {
				continue
			}
			if v, err := strconv.ParseFloat(rest, 64); err == nil {
				total += int(v)
			}
		}
	}
	return total
}
