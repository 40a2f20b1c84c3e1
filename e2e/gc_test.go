package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// max_cache_size evicts the least recently served artifacts while larder
// serves; metadata stays, and an evicted tarball is fetched again on use.
func TestMaxCacheSizeEvictsTheLeastRecentlyServed(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i * 31)
	}
	for _, name := range []string{"old", "mid", "new"} {
		up.PublishTarball(name, "1.0.0", append([]byte(name), big...), nil)
	}
	l := startLarder(t, npmConfig(up, ""))
	for _, name := range []string{"old", "mid", "new"} {
		l.get(t, "/npm/"+name+"/-/"+name+"-1.0.0.tgz")
		time.Sleep(20 * time.Millisecond)
	}
	l.get(t, "/npm/mid/-/mid-1.0.0.tgz") // mid is now more recent than old
	l.stop()                             // flushes hit counters

	cfg, _ := os.ReadFile(l.config)
	os.WriteFile(l.config, append([]byte("max_cache_size = \"150KiB\"\n"), cfg...), 0o644)
	l.start()
	deadline := time.Now().Add(10 * time.Second)
	for l.storedSHA256("npm", "old/-/old-1.0.0.tgz") != "" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if l.storedSHA256("npm", "old/-/old-1.0.0.tgz") != "" {
		t.Error("the least recently served tarball was not evicted")
	}
	if l.storedSHA256("npm", "mid/-/mid-1.0.0.tgz") == "" || l.storedSHA256("npm", "new/-/new-1.0.0.tgz") == "" {
		t.Error("a recently served tarball was evicted")
	}
	if resp, _ := l.get(t, "/npm/old", "Accept", "application/vnd.npm.install-v1+json"); resp.StatusCode != 200 || resp.Header.Get("X-Larder-Cache") != "HIT" {
		t.Errorf("metadata should stay: %d %s", resp.StatusCode, resp.Header.Get("X-Larder-Cache"))
	}
	resp, body := l.get(t, "/npm/old/-/old-1.0.0.tgz")
	if resp.StatusCode != 200 || resp.Header.Get("X-Larder-Cache") != "MISS" || len(body) != len(big)+3 {
		t.Errorf("the evicted tarball is fetched again: %d %s", resp.StatusCode, resp.Header.Get("X-Larder-Cache"))
	}
}
