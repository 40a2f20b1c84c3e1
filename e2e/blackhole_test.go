package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// A blackholed upstream (accepts, never answers) must cost at most a few
// time-outs, not one per package: the first failures mark it down and the
// rest is served from the cache at once.
func TestABlackholedUpstreamCostsAFewTimeOutsNotOnePerPackage(t *testing.T) {
	const n = 300
	up := npmtest.New()
	defer up.Close()
	deps := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("pkg-%03d", i)
		up.Publish(name, "1.0.0", nil)
		deps[i] = fmt.Sprintf("%q:%q", name, "1.0.0")
	}
	// A short TTL makes every packument stale: each request would revalidate.
	l := startLarder(t, npmConfig(up, `metadata_ttl = "1s"`))
	reg := l.URL + "/npm/"
	c := newProject(t, `{"name":"big","version":"1.0.0","dependencies":{`+strings.Join(deps, ",")+`}}`)
	c.mustRun(reg, "npm", "install", "--no-audit")

	ci := func() time.Duration {
		c.removeNodeModules()
		c.freshCache()
		start := time.Now()
		c.mustRun(reg, "npm", "ci", "--no-audit")
		return time.Since(start)
	}
	baseline := ci()
	up.SetMode(npmtest.ModeHang)
	hanging := ci()
	t.Logf("warm npm ci of %d packages: upstream up %v, blackholed %v", n, baseline, hanging)
	if hanging > 3*baseline+10*time.Second {
		t.Errorf("blackholed: %v against %v with the upstream up", hanging, baseline)
	}

	// Every packument is stale now; fetch them all at once, 16 at a time
	// like npm does. Without health tracking each would wait for its
	// revalidation.
	time.Sleep(1100 * time.Millisecond)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var mu sync.Mutex
	statuses := map[string]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			resp, err := http.Get(fmt.Sprintf("%s/npm/pkg-%03d", l.URL, i))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			statuses[fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("X-Larder-Cache"))]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("%d stale packuments with the upstream blackholed: %v, %v", n, took, statuses)
	if statuses["200 STALE"] != n {
		t.Errorf("want %d STALE 200s, got %v", n, statuses)
	}
	// 300 requests waiting 2s each, 16 at a time, would take ~40s.
	if took > 15*time.Second {
		t.Errorf("serving %d stale packuments took %v: the blackholed upstream was waited on per package", n, took)
	}
	// Nobody waited on the hanging requests; they fail once the response
	// time-out lands, and then the upstream is marked down.
	waitUpstreamState(t, l, "npm", "down", 40*time.Second)
	up.SetMode(npmtest.ModeNormal)
}

// waitUpstreamState waits until /metrics says the registry's upstream is in
// state, for at most limit.
func waitUpstreamState(t *testing.T, l *larder, registry, state string, limit time.Duration) {
	t.Helper()
	want := fmt.Sprintf(`larder_upstream_state{registry=%q,state=%q} 1`, registry, state)
	deadline := time.Now().Add(limit)
	for {
		_, metrics := l.get(t, "/metrics")
		if strings.Contains(string(metrics), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics does not say %s within %s", want, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
