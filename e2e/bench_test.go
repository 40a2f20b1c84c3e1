package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// BenchmarkWarmNpmCI measures a warm `npm ci` of a large generated lockfile
// (LARDER_BENCH_PACKAGES packages, default 300) with the upstream up,
// refusing connections, blackholed, and with larder --offline. bench/offline.sh
// runs it and prints each as a ratio of the upstream-up time.
func BenchmarkWarmNpmCI(b *testing.B) {
	const n = 300
	up := npmtest.New()
	defer up.Close()
	deps := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("pkg-%03d", i)
		up.Publish(name, "1.0.0", map[string]string{})
		deps[i] = fmt.Sprintf("%q:%q", name, "1.0.0")
	}
	l := startLarder(b, npmConfig(up, `metadata_ttl = "1s"`))
	reg := l.URL + "/npm/"
	c := newProject(b, `{"name":"big","version":"1.0.0","dependencies":{`+strings.Join(deps, ",")+`}}`)
	c.mustRun(reg, "npm", "install", "--no-audit")

	// Rounds interleave the cases, so that a machine growing busier during
	// the run weighs on each alike; each is reported as the median of its
	// rounds divided by the median with the upstream up.
	cases := []struct {
		name  string
		set   func()
		reset func()
	}{
		{"up", func() {}, func() {}},
		{"refused", func() { up.SetMode(npmtest.ModeRefuse) }, func() { up.SetMode(npmtest.ModeNormal) }},
		{"blackholed", func() { up.SetMode(npmtest.ModeHang) }, func() { up.SetMode(npmtest.ModeNormal) }},
		{"offline", func() { l.restart("--offline") }, func() { l.restart() }},
	}
	took := map[string][]float64{}
	for b.Loop() {
		for _, cs := range cases {
			b.StopTimer()
			cs.set()
			c.removeNodeModules()
			c.freshCache()
			start := time.Now()
			c.mustRun(reg, "npm", "ci", "--no-audit")
			took[cs.name] = append(took[cs.name], time.Since(start).Seconds())
			cs.reset()
			b.StartTimer()
		}
	}
	base := median(took["up"])
	b.ReportMetric(base, "up-s")
	for _, cs := range cases[1:] {
		b.ReportMetric(median(took[cs.name])/base, cs.name+"/up")
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
