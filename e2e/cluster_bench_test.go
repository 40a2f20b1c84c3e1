package e2e

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/storage/backendtest"
)

// BenchmarkSharedBackendsWarm measures warm throughput of one node on
// PostgreSQL + S3 (SeaweedFS) against one node on SQLite + its data folder,
// in the same run: a 1 MB tarball and a packument, each fetched by 8
// clients for a fixed count of requests. A third node on PostgreSQL + S3
// has blob_redirect on: its clients follow each tarball's redirect and
// fetch the bytes from SeaweedFS. It reports requests per second of each
// and the shared nodes' as ratios of the embedded one's.
func BenchmarkSharedBackendsWarm(b *testing.B) {
	up := npmtest.New()
	defer up.Close()
	tarball := make([]byte, 1<<20)
	for i := range tarball {
		tarball[i] = byte(i * 31)
	}
	up.PublishTarball("bench", "1.0.0", tarball, nil)
	embedded := startLarder(b, npmConfig(up, ""))
	shared := startLarder(b, fmt.Sprintf("database = %q\nblob_store = %q\n", backendtest.NewDatabase(b), backendtest.NewBucket(b))+npmConfig(up, ""))
	redirect := startLarderEnv(b, fmt.Sprintf("database = %q\nblob_store = %q\nblob_redirect = true\n", backendtest.NewDatabase(b), backendtest.NewBucket(b))+npmConfig(up, ""),
		backendtest.S3Credentials())
	const requests, clients = 2000, 8
	for _, target := range []struct{ name, path string }{
		{"tarball", "/npm/bench/-/bench-1.0.0.tgz"},
		{"packument", "/npm/bench"},
	} {
		rate := map[string]float64{}
		for _, node := range []struct {
			name string
			l    *larder
		}{{"embedded", embedded}, {"shared", shared}, {"redirect", redirect}} {
			// Warm it first: the row, the blob, the rendering. A cold
			// fill is streamed (200) by every node.
			if resp, _ := node.l.get(b, target.path); resp.StatusCode != 200 {
				b.Fatalf("%s %s: %d", node.name, target.path, resp.StatusCode)
			}
			if node.l == redirect && target.name == "tarball" {
				// Redirected once held: its row is written just after
				// the cold answer.
				waitFor(b, "the tarball's redirect", func() bool {
					resp, _ := node.l.get(b, target.path)
					return resp.StatusCode == http.StatusTemporaryRedirect
				})
			}
			rate[node.name] = throughput(b, node.l.URL+target.path, requests, clients)
		}
		if n := redirect.redirects(b, "npm"); target.name == "tarball" && n <= requests {
			b.Fatalf("the redirecting node redirected %d of %d requests for the tarball", n, requests)
		}
		b.ReportMetric(rate["embedded"], target.name+"-embedded-req/s")
		b.ReportMetric(rate["shared"], target.name+"-shared-req/s")
		b.ReportMetric(rate["shared"]/rate["embedded"], target.name+"-shared/embedded")
		b.ReportMetric(rate["redirect"], target.name+"-redirect-req/s")
		b.ReportMetric(rate["redirect"]/rate["embedded"], target.name+"-redirect/embedded")
	}
}

// throughput fetches url n times from c concurrent clients and returns
// requests per second; any failure fails the benchmark.
func throughput(b *testing.B, url string, n, c int) float64 {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}, Timeout: 30 * time.Second}
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		b.Fatalf("%s: %v", url, failed)
	}
	return float64(n) / time.Since(start).Seconds()
}
