package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/storage"
	"github.com/larder-mirror/larder/storage/backendtest"
)

// fillCluster publishes n packages upstream and fetches each packument and
// tarball through the load balancer; it returns the tarballs' paths.
func fillCluster(t *testing.T, c *cluster, up *npmtest.Server, n int) []string {
	t.Helper()
	var paths []string
	for i := range n {
		name := fmt.Sprintf("pkg%d", i)
		up.Publish(name, "1.0.0", nil)
		for _, p := range []string{"/npm/" + name, "/npm/" + npmtest.TarballPath(name, "1.0.0")} {
			resp, err := http.Get(c.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", p, resp.StatusCode)
			}
		}
		paths = append(paths, npmtest.TarballPath(name, "1.0.0"))
	}
	for _, p := range paths {
		c.heldSHA256("npm", p)
	}
	return paths
}

// referencedBlobs counts the blobs the cluster's rows point at.
func (c *cluster) referencedBlobs() int {
	c.t.Helper()
	var n int
	err := c.db().QueryRow(`SELECT COUNT(*) FROM (SELECT sha256 FROM artifacts WHERE sha256 IS NOT NULL
		UNION SELECT body_sha256 FROM documents) AS refs`).Scan(&n)
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// overwriteObject replaces a blob's object in the cluster's bucket with
// other bytes, as a failing disk under the object store might (SeaweedFS
// allows anonymous writes in the tests).
func (c *cluster) overwriteObject(digest string, body []byte) {
	c.t.Helper()
	loc, err := storage.ParseS3URL(c.bucket)
	if err != nil {
		c.t.Fatal(err)
	}
	url := fmt.Sprintf("%s/%s/%ssha256/%s/%s", loc.Endpoint, loc.Bucket, loc.Prefix, digest[:2], digest)
	req, _ := http.NewRequestWithContext(c.t.Context(), http.MethodPut, url, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		c.t.Fatalf("overwriting %s: %s", url, resp.Status)
	}
}

var checkedLine = regexp.MustCompile(`checked (\d+) blobs? in part (\d)/3 `)

// Three `larder verify --shard K/3` processes, one per node's share, run at
// once against the cluster's PostgreSQL and SeaweedFS: between them they
// check every blob, and the one corrupt object is found by exactly one of
// them, quarantined, its row's bytes forgotten, and fetched again on the
// next request.
func TestThreeVerifyProcessesSplitTheClusterAndOneFindsTheCorruptObject(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	c := startCluster(t, 3, npmConfig(up, ""))
	paths := fillCluster(t, c, up, 12)
	total := c.referencedBlobs()
	corruptPath := paths[5]
	corrupt := c.storedSHA256("npm", corruptPath)
	c.overwriteObject(corrupt, []byte("not the tarball"))

	type result struct {
		out string
		err error
	}
	results := make([]result, 3)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.larderCmd("verify", "--shard", fmt.Sprintf("%d/3", i+1))
			results[i] = result{out, err}
		}()
	}
	wg.Wait()

	checked, found := 0, 0
	for i, r := range results {
		m := checkedLine.FindStringSubmatch(r.out)
		if m == nil || m[2] != strconv.Itoa(i+1) {
			t.Fatalf("verify --shard %d/3 printed no count of its part:\n%s", i+1, r.out)
		}
		n, _ := strconv.Atoi(m[1])
		if n == 0 {
			t.Errorf("verify --shard %d/3 checked nothing: the work was not split", i+1)
		}
		checked += n
		if strings.Contains(r.out, "corrupt blob "+corrupt) {
			found++
			if r.err == nil || !strings.Contains(r.out, "moved to s3://") || !strings.Contains(r.out, "/quarantine/"+corrupt) ||
				!strings.Contains(r.out, "artifact npm/"+corruptPath+": its bytes forgotten") {
				t.Errorf("verify --shard %d/3 found the corrupt object but did not handle it as verify does (exit %v):\n%s", i+1, r.err, r.out)
			}
		} else if r.err != nil {
			t.Errorf("verify --shard %d/3 failed on a sound part: %v\n%s", i+1, r.err, r.out)
		}
	}
	if checked != total || found != 1 {
		t.Errorf("the three parts checked %d blobs and found the corrupt one %d times; want %d checked, found once", checked, found, total)
	}
	if sum := c.storedSHA256("npm", corruptPath); sum != "" {
		t.Errorf("after verify the row still names %s", sum)
	}
	if c.inBucket(corrupt) {
		t.Error("the corrupt object is still under sha256/ in the bucket")
	}
	// Fetched again, sound, by whichever node the request reaches.
	resp, err := http.Get(c.URL + "/npm/" + corruptPath)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the tarball after verify: %v, %v", resp, err)
	}
	resp.Body.Close()
	if sum := c.heldSHA256("npm", corruptPath); sum != corrupt {
		t.Errorf("fetched again, the row names %s; want %s", sum, corrupt)
	}
}

// serveExpectingRefusal runs `larder serve` with config and expects it to
// exit at start, failing; it returns what it printed.
func serveExpectingRefusal(t *testing.T, config string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "larder.toml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, larderBin, "serve", "--config", path, "--listen", freeAddr(t), "--data", filepath.Join(t.TempDir(), "data"))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || ctx.Err() != nil {
		t.Fatalf("larder serve on a wrong pair: %v (want it to exit, failing)\n%s", err, out)
	}
	return string(out)
}

// A node given the cluster's database but another blob store (an empty
// bucket, or no blob_store at all: its own folder) refuses to start,
// naming both, and changes nothing; so do the subcommands.
func TestANodeOnTheClusterDatabaseWithAnotherBlobStoreRefusesToStart(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	c := startCluster(t, 1, npmConfig(up, ""))
	paths := fillCluster(t, c, up, 3)
	held := func() []string {
		var sums []string
		for _, p := range paths {
			sums = append(sums, c.storedSHA256("npm", p))
		}
		return sums
	}
	before := held()
	empty := backendtest.NewBucket(t)
	database := storage.RedactedDatabase(c.database)

	for _, tt := range []struct {
		name, blobStore string
		says            []string
	}{
		{"an empty bucket", fmt.Sprintf("blob_store = %q\n", empty), []string{empty, "has no larder marker", database}},
		{"no blob_store", "", []string{"has no larder marker", database, "blobs"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			config := fmt.Sprintf("database = %q\n%s", c.database, tt.blobStore) + npmConfig(up, "")
			out := serveExpectingRefusal(t, config)
			for _, w := range append(tt.says, "not a pair", "larder store ") {
				if !strings.Contains(out, w) {
					t.Errorf("the refusal does not say %q:\n%s", w, out)
				}
			}
			path := filepath.Join(t.TempDir(), "wrong.toml")
			os.WriteFile(path, []byte(config), 0o644)
			cmd := exec.CommandContext(t.Context(), larderBin, "verify", "--config", path, "--data", filepath.Join(t.TempDir(), "cli"))
			vout, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(vout), "not a pair") || strings.Contains(string(vout), "missing blob") {
				t.Errorf("larder verify on the wrong pair: %v\n%s; want it refused before checking anything", err, vout)
			}
			if after := held(); !slices.Equal(before, after) {
				t.Errorf("the refused node changed the rows: %v, then %v", before, after)
			}
		})
	}
	// The cluster still serves what it holds, from its own bucket.
	for _, p := range paths {
		resp, body := c.nodes[0].get(t, "/npm/"+p)
		if resp.StatusCode != 200 || sha(body) != c.storedSHA256("npm", p) {
			t.Errorf("%s after the refusals: %d", p, resp.StatusCode)
		}
	}
	if out, err := c.larderCmd("verify"); err != nil || !strings.Contains(out, "0 missing, 0 corrupt") {
		t.Errorf("verify on the right pair: %v\n%s", err, out)
	}

	// A new database beside the cluster's bucket is refused too (it would
	// collect the bucket's blobs as orphans), until the operator says the
	// bucket is now its: the old database is then the one refused.
	fresh := filepath.Join(t.TempDir(), "fresh.toml")
	os.WriteFile(fresh, []byte(fmt.Sprintf("database = %q\nblob_store = %q\n", backendtest.NewDatabase(t), c.bucket)+npmConfig(up, "")), 0o644)
	if out := serveExpectingRefusal(t, mustRead(t, fresh)); !strings.Contains(out, "is new") {
		t.Errorf("a new database beside the cluster's bucket: %s; want it refused as new", out)
	}
	adopt, err := exec.CommandContext(t.Context(), larderBin, "migrate", "--adopt-blob-store", "--config", fresh, "--data", filepath.Join(t.TempDir(), "cli")).CombinedOutput()
	if err != nil || !strings.Contains(string(adopt), "marked as larder store") {
		t.Fatalf("larder migrate --adopt-blob-store: %v\n%s", err, adopt)
	}
	if out, err := c.larderCmd("verify"); err == nil || !strings.Contains(out, "never used together") {
		t.Errorf("verify with the old database after the bucket was adopted: %v\n%s; want it refused", err, out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
