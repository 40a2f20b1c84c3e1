package rubygems

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/rubygems/rubygemstest"
)

// BenchmarkVersionsUnderACutoff serves /versions to a mirror that has
// read the info files of 300 gems of 20 releases each, half of them held
// back by min_release_age, and reports its time against /versions with no
// policy (the upstream's bytes, from memory), measured in the same run:
// policy/none with the gems served written once (memory_cache on), and
// unkept/none with them written on every request (memory_cache off, as on
// a cluster).
func BenchmarkVersionsUnderACutoff(b *testing.B) {
	up := rubygemstest.New()
	defer up.Close()
	clock := &testClock{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	const gems, releases = 300, 20
	name := func(i int) string { return fmt.Sprintf("gem%03d", i) }
	publishAll := func(from, to int) {
		for r := from; r < to; r++ {
			for i := range gems {
				publish(up, name(i), fmt.Sprintf("1.0.%d", r))
			}
		}
	}
	mount := func(policy time.Duration, memory bool) testMirror {
		env := registriestest.NewEnv(b)
		env.NoMemoryCache = !memory
		return newTestMirror(b, up, env, registries.Options{MinReleaseAge: policy, Now: clock.Now})
	}
	mirrors := []testMirror{mount(0, true), mount(72*time.Hour, true), mount(72*time.Hour, false)}
	read := func() {
		for _, m := range mirrors {
			for i := range gems {
				if r := m.get(b, "/info/"+name(i)); r.StatusCode != http.StatusOK {
					b.Fatalf("filling /info/%s: %d", name(i), r.StatusCode)
				}
			}
		}
	}
	publishAll(0, releases/2)
	read()
	clock.add(96 * time.Hour)
	publishAll(releases/2, releases)
	clock.add(2 * time.Hour) // the info files are stale: read again, their new releases first seen now
	read()
	run := func(m testMirror) time.Duration {
		start := time.Now()
		r := m.get(b, "/versions")
		if r.StatusCode != http.StatusOK {
			b.Fatalf("GET /versions: %d", r.StatusCode)
		}
		return time.Since(start)
	}
	for _, m := range mirrors {
		run(m)
	}
	var took [3]time.Duration
	for b.Loop() {
		for i, m := range mirrors {
			took[i] += run(m)
		}
	}
	b.ReportMetric(float64(took[0].Nanoseconds())/float64(b.N), "none-ns/op")
	b.ReportMetric(float64(took[1].Nanoseconds())/float64(b.N), "policy-ns/op")
	b.ReportMetric(float64(took[2].Nanoseconds())/float64(b.N), "unkept-ns/op")
	b.ReportMetric(float64(took[1])/float64(took[0]), "policy/none")
	b.ReportMetric(float64(took[2])/float64(took[0]), "unkept/none")
}
