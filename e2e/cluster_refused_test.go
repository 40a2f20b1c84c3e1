package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
	"github.com/larder-mirror/larder/storage"
)

// slowRelay is the upstream larder talks to: it forwards every request to
// a fake registry and streams the answer back in chunks with a pause
// between them, so that a download is in flight for seconds. It listens
// on a faults.Switch: refusing closes its listener and every connection,
// cutting the bodies in flight mid-way, as an upstream that goes away
// does.
type slowRelay struct {
	URL      string
	sw       *faults.Switch
	target   string
	chunk    int
	pause    atomic.Int64 // time.Duration
	inFlight atomic.Int64 // bodies being sent
	sent     atomic.Int64 // bytes of bodies sent, all requests
}

func newSlowRelay(t *testing.T, target string, chunk int, pause time.Duration) *slowRelay {
	t.Helper()
	r := &slowRelay{sw: faults.NewSwitch(), target: strings.TrimSuffix(target, "/"), chunk: chunk}
	r.pause.Store(int64(pause))
	r.URL = "http://" + r.sw.Listen(http.HandlerFunc(r.serve)) + "/"
	t.Cleanup(r.sw.Close)
	return r
}

// relayClient passes larder's Accept-Encoding on rather than asking for
// gzip itself.
var relayClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

func (r *slowRelay) serve(w http.ResponseWriter, req *http.Request) {
	if _, ok := r.sw.Admit(w, req); !ok {
		return
	}
	out, err := http.NewRequestWithContext(req.Context(), req.Method, r.target+req.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out.Header = req.Header.Clone()
	resp, err := relayClient.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	buf := make([]byte, r.chunk)
	for {
		n, err := io.ReadFull(resp.Body, buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			w.(http.Flusher).Flush()
			r.sent.Add(int64(n))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return
		}
		if err != nil {
			panic(http.ErrAbortHandler) // the fake cut it: cut it too
		}
		select {
		case <-time.After(time.Duration(r.pause.Load())):
		case <-req.Context().Done():
			return
		}
	}
}

// The upstream starts refusing connections while a cold npm ci through
// three nodes is downloading: what was fetched before stays, complete and
// verified; what was in flight leaves nothing behind; npm fails saying
// which download broke; every node still answers; and once the upstream
// is back, a rerun completes, fetching each missing tarball once.
func TestUpstreamRefusedDuringAColdInstallThroughThreeNodesLeavesNothingPartial(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	small := []string{"small-a", "small-b", "small-c"}
	for _, name := range small {
		up.Publish(name, "1.0.0", nil)
	}
	big := map[string][]byte{}
	all := append([]string{"big-a", "big-b", "big-c"}, small...)
	for i, name := range all[:3] {
		big[name] = bigPackage(t, name, "1.0.0", (2<<20)+i*4096)
		up.PublishTarball(name, "1.0.0", big[name], nil)
	}
	// 32 KiB every 40 ms: a big tarball takes about 2.6 s; a small one
	// and every packument leave in one chunk.
	relay := newSlowRelay(t, up.URL, 32<<10, 40*time.Millisecond)
	c := startCluster(t, 3, npmThroughRelay(relay.URL, up, `response_timeout = "3s"`))
	var deps []string
	for _, name := range all {
		deps = append(deps, fmt.Sprintf("%q:%q", name, "1.0.0"))
	}
	p := newProject(t, `{"name":"app","version":"1.0.0","private":true,"dependencies":{`+strings.Join(deps, ",")+`}}`)
	reg := c.URL + "/npm/"
	// The lockfile first: the packuments are held, no tarball is fetched.
	p.mustRun(reg, "npm", "install", "--package-lock-only", "--no-audit")
	tarball := func(name string) string { return npmtest.TarballPath(name, "1.0.0") }
	for _, name := range all {
		if n := up.Count("GET", "/"+tarball(name)); n != 0 {
			t.Fatalf("the lockfile alone fetched %s %d times", tarball(name), n)
		}
	}

	// The cold install; the upstream goes away once the small tarballs are
	// held and a big one is part-way.
	p.freshCache()
	relay.sent.Store(0)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(t, "npm"), "ci", "--no-audit")
	cmd.Dir = p.dir
	cmd.Env = p.env(reg)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ciDone := make(chan error, 1)
	go func() { ciDone <- cmd.Wait() }()
	smallHeld := func() bool {
		for _, name := range small {
			if c.storedSHA256("npm", tarball(name)) == "" {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(30 * time.Second); !smallHeld() || relay.inFlight.Load() == 0 || relay.sent.Load() < 256<<10; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no moment with the small tarballs held and a big one in flight (relay in flight %d, sent %d); npm says:\n%s", relay.inFlight.Load(), relay.sent.Load(), out.String())
		}
	}
	inFlight := relay.inFlight.Load()
	relay.sw.Set(faults.Refuse)
	up.SetMode(npmtest.ModeRefuse)
	var ciErr error
	select {
	case ciErr = <-ciDone:
	case <-ctx.Done():
		t.Fatalf("npm ci did not end after the upstream went away:\n%s", out.String())
	}
	t.Logf("refused with %d bodies in flight; npm ci: %v\n%s", inFlight, ciErr, tail(out.String(), 8))

	// What must hold at once, the upstream still refusing. A row is
	// written a moment after its tarball was verified and sent: give the
	// rows of downloads that ended just before the refusal that moment.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		held := 0
		for _, name := range all {
			if c.storedSHA256("npm", tarball(name)) != "" {
				held++
			}
		}
		if held == len(all) {
			break
		}
	}
	missing := c.checkHeldIntact(t, all, big)
	if len(missing) == 0 {
		t.Fatalf("every big tarball was held before the upstream went away: the test refused too late")
	}
	if ciErr == nil {
		// Then npm has every tarball: from larder, whole and verified.
		installed(t, p, all...)
		t.Errorf("npm ci succeeded though %v were not held", missing)
	} else {
		// npm names the download that broke and passes larder's word that
		// the upstream failed; a cut body taken for a corrupt one
		// (EINTEGRITY) would send a user after the wrong cause.
		npmOut := out.String()
		named := false
		for _, name := range missing {
			named = named || strings.Contains(npmOut, name)
		}
		if !named || !strings.Contains(npmOut, "upstream") || strings.Contains(npmOut, "EINTEGRITY") {
			t.Errorf("npm ci failed without naming a missing tarball (%v) and the upstream, or took a cut body for a corrupt one:\n%s", missing, npmOut)
		}
	}
	c.noNodeWedged(t, small[0], missing[0])

	// The upstream comes back: a rerun completes, and asks it for each
	// tarball that was missing, once, and for nothing it already holds.
	up.Reset()
	up.SetMode(npmtest.ModeNormal)
	relay.pause.Store(0)
	relay.sw.Set(faults.Normal)
	c.awaitUpstreamUp(t, "npm")
	p.removeNodeModules()
	p.freshCache()
	p.mustRun(reg, "npm", "ci", "--no-audit")
	installed(t, p, all...)
	wasMissing := map[string]bool{}
	for _, name := range missing {
		wasMissing[name] = true
	}
	for _, name := range all {
		want := 0
		if wasMissing[name] {
			want = 1
		}
		if n := up.Count("GET", "/"+tarball(name)); n != want {
			t.Errorf("after the upstream came back it saw %d requests for %s, want %d", n, tarball(name), want)
		}
	}
	// The last rows follow the answers npm already has.
	for _, name := range all {
		c.heldSHA256("npm", tarball(name))
	}
	if left := c.checkHeldIntact(t, all, big); len(left) > 0 {
		t.Errorf("after the rerun %v are still not held", left)
	}
	if out, err := c.larderCmd("verify"); err != nil || !strings.Contains(out, " 0 missing, 0 corrupt") {
		t.Errorf("larder verify: %v\n%s", err, out)
	}
}

// checkHeldIntact checks that the cluster holds nothing partial: every
// artifact row names a blob in the bucket, every blob in the bucket reads
// back with the digest it is stored under, and each of names that has a
// row has the digest of its published tarball (big: the bytes of those
// the test built). It returns the names without a row.
func (c *cluster) checkHeldIntact(t *testing.T, names []string, big map[string][]byte) (missing []string) {
	t.Helper()
	blobs, err := storage.OpenS3Blobs(t.Context(), c.bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	// The rows first, then the bucket: an object is uploaded before its
	// row is written, and a download a client already has may still be
	// writing both.
	rows, err := c.db().Query(`SELECT path, sha256 FROM artifacts WHERE sha256 IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]string{}
	for rows.Next() {
		var path, sum string
		if err := rows.Scan(&path, &sum); err != nil {
			t.Fatal(err)
		}
		held[path] = sum
	}
	rows.Close()
	inBucket := map[string]bool{}
	err = blobs.Walk(t.Context(), func(d storage.Digest, size int64) error {
		inBucket[string(d)] = true
		r, _, err := blobs.Open(t.Context(), d)
		if err != nil {
			t.Errorf("blob %s is listed but does not open: %v", d, err)
			return nil
		}
		defer r.Close()
		h := sha256.New()
		n, err := io.Copy(h, r)
		if got := hex.EncodeToString(h.Sum(nil)); err != nil || got != string(d) || n != size {
			t.Errorf("blob %s (%d bytes listed) reads back as %d bytes with digest %s (%v)", d, size, n, got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, sum := range held {
		if !inBucket[sum] {
			t.Errorf("the row of %s names %s, which the bucket does not hold", path, sum)
		}
	}
	for _, name := range names {
		sum, ok := held[npmtest.TarballPath(name, "1.0.0")]
		if !ok {
			missing = append(missing, name)
			continue
		}
		if b, isBig := big[name]; isBig && sum != sha(b) {
			t.Errorf("%s is held with digest %s, not its tarball's %s", name, sum, sha(b))
		}
	}
	return missing
}

// noNodeWedged asks each node directly, with a bounded client, for a held
// tarball (it must come whole) and a missing one (it must be answered,
// whatever the status, not left hanging).
func (c *cluster) noNodeWedged(t *testing.T, held, missing string) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second}
	for _, l := range c.nodes {
		resp, err := client.Get(l.URL + "/npm/" + npmtest.TarballPath(held, "1.0.0"))
		if err != nil {
			t.Errorf("%s: a held tarball: %v", l.addr, err)
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("%s: a held tarball: %d, %v", l.addr, resp.StatusCode, err)
		}
		resp, err = client.Get(l.URL + "/npm/" + npmtest.TarballPath(missing, "1.0.0"))
		if err != nil {
			t.Errorf("%s: a missing tarball with the upstream refusing is not answered: %v", l.addr, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("%s: a missing tarball with the upstream refusing: 200, %d bytes", l.addr, len(body))
		}
	}
}

// awaitUpstreamUp waits until every node has seen registry's upstream
// answer again (larder_upstream_up 1): a node that found it down answers
// what it lacks with a 404 at once until its probe gets through, and the
// probes back off up to 30 s apart.
func (c *cluster) awaitUpstreamUp(t *testing.T, registry string) {
	t.Helper()
	want := fmt.Sprintf(`larder_upstream_up{registry=%q} 1`, registry)
	deadline := time.Now().Add(45 * time.Second)
	for _, l := range c.nodes {
		for {
			_, body := l.get(t, "/metrics")
			if strings.Contains(string(body), want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not see its upstream back after 45 s", l.addr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
