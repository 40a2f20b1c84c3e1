package npm

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
)

// BenchmarkPackumentUnderMinReleaseAge serves a packument of 1,000
// versions, half of them younger than the policy, from memory (the quick
// path an install takes), and reports its time against the same packument
// with no policy, measured in the same run (policy/none).
func BenchmarkPackumentUnderMinReleaseAge(b *testing.B) {
	up := npmtest.New()
	defer up.Close()
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		v := fmt.Sprintf("1.0.%d", i)
		up.Publish("big", v, nil)
		up.SetPublished("big", v, now.Add(-time.Duration(1000-i)*time.Hour/4))
	}
	base, _ := url.Parse(up.URL)
	mount := func(policy time.Duration) *registries.Mounted {
		u := registries.NewUpstream(registriestest.NewEnv(b), registries.Options{Name: "npm", Upstream: base,
			MetadataTTL: time.Hour, MinReleaseAge: policy, Now: func() time.Time { return now }})
		b.Cleanup(u.Close)
		m := registries.Mount(New(u, ""))
		if w := serve(m, "/big", mediaAbbreviated); w.Code != http.StatusOK {
			b.Fatalf("filling: %d", w.Code)
		}
		return m
	}
	req := registries.Request{Path: "/big", Host: "larder.test", Accept: mediaAbbreviated, Encoding: "gzip"}
	run := func(m *registries.Mounted, n int) time.Duration {
		start := time.Now()
		for range n {
			if _, ok := m.Quick(req); !ok {
				b.Fatal("not answered from memory")
			}
		}
		return time.Since(start)
	}
	none, policy := mount(0), mount(72*time.Hour)
	run(none, 100)
	run(policy, 100)
	var tNone, tPolicy time.Duration
	for b.Loop() {
		tNone += run(none, 1)
		tPolicy += run(policy, 1)
	}
	b.ReportMetric(float64(tNone.Nanoseconds())/float64(b.N), "none-ns/op")
	b.ReportMetric(float64(tPolicy.Nanoseconds())/float64(b.N), "policy-ns/op")
	b.ReportMetric(float64(tPolicy)/float64(tNone), "policy/none")
}
