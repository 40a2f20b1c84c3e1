package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// coldLatencies are the fake upstream's delays before each answer: a
// registry on the same network, across a country, across an ocean.
var coldLatencies = []time.Duration{0, 20 * time.Millisecond, 80 * time.Millisecond}

// coldCondition is what the installs of one case of a round run under:
// at names it in the metrics ("@0ms"); set and reset, when not nil, put
// it in place before the case's installs and take it away after.
type coldCondition struct {
	at         string
	set, reset func()
}

// latencyConditions are coldLatencies, each set by setDelay.
func latencyConditions(setDelay func(time.Duration)) []coldCondition {
	var cs []coldCondition
	for _, lat := range coldLatencies {
		cs = append(cs, coldCondition{
			at:    fmt.Sprintf("@%dms", lat.Milliseconds()),
			set:   func() { setDelay(lat) },
			reset: func() { setDelay(0) },
		})
	}
	return cs
}

// wipe stops l, empties its data folder and starts it again on the same
// address: the next install through it is cold.
func (l *larder) wipe() {
	l.t.Helper()
	l.stop()
	if err := os.RemoveAll(l.dir); err != nil {
		l.t.Fatal(err)
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		l.t.Fatal(err)
	}
	l.start()
}

// BenchmarkColdNpmCI measures a cold `npm ci` of a generated lockfile of
// 300 packages (issue 21) through larder with an empty cache against the
// same install straight from the fake upstream, at each of coldLatencies,
// medians of interleaved rounds. bench/cold.sh runs it.
func BenchmarkColdNpmCI(b *testing.B) {
	const n = 300
	up := npmtest.New()
	defer up.Close()
	deps := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("pkg-%03d", i)
		up.Publish(name, "1.0.0", map[string]string{})
		deps[i] = fmt.Sprintf("%q:%q", name, "1.0.0")
	}
	pkg := `{"name":"big","version":"1.0.0","dependencies":{` + strings.Join(deps, ",") + `}}`
	l := startLarder(b, npmConfig(up, ""))
	through, direct := l.URL+"/npm/", up.URL
	// One lockfile each: npm ci fetches what a lockfile's resolved URLs
	// name, so each must name its own registry.
	viaLarderProject, straight := newProject(b, pkg), newProject(b, pkg)
	viaLarderProject.mustRun(through, "npm", "install", "--no-audit", "--package-lock-only")
	straight.mustRun(direct, "npm", "install", "--no-audit", "--package-lock-only")

	coldRounds(b, "cold npm ci", latencyConditions(up.SetDelay), l, coldNpmCI(straight, direct, viaLarderProject, through))
}

// coldNpmCI is coldRounds' install for npm: `npm ci` with no node_modules
// and an empty cache, of straight from direct, or of viaLarder through
// larder at through (each project's lockfile names its own registry).
func coldNpmCI(straight *client, direct string, viaLarder *client, through string) func(bool) {
	return func(throughLarder bool) {
		c, registry := straight, direct
		if throughLarder {
			c, registry = viaLarder, through
		}
		c.removeNodeModules()
		c.freshCache()
		c.mustRun(registry, "npm", "ci", "--no-audit")
	}
}

// BenchmarkColdNpmCILive is BenchmarkColdNpmCI against the public npm
// registry, whose packuments are real ones (hundreds of versions, some
// megabytes): a lockfile of about 450 packages (express, webpack, eslint
// and jest, resolved today), through an empty larder against straight from
// the registry, over whatever network the machine has. Off by default:
// LARDER_LIVE_NPM=1 (bench/cold.sh passes it on).
func BenchmarkColdNpmCILive(b *testing.B) {
	if os.Getenv("LARDER_LIVE_NPM") != "1" {
		b.Skip("set LARDER_LIVE_NPM=1 to install from the public npm registry")
	}
	const registry = "https://registry.npmjs.org/"
	l := startLarder(b, `
[[registry]]
name = "npm"
kind = "npm"
upstream = "`+registry+`"
`)
	pkg := `{"name":"live","version":"1.0.0","private":true,` +
		`"dependencies":{"express":"^4.19.0","webpack":"^5.90.0","eslint":"^8.57.0","jest":"^29.7.0"}}`
	through := l.URL + "/npm/"
	viaLarderProject, straight := newProject(b, pkg), newProject(b, pkg)
	viaLarderProject.mustRun(through, "npm", "install", "--no-audit", "--package-lock-only")
	straight.mustRun(registry, "npm", "install", "--no-audit", "--package-lock-only")
	lock, err := os.ReadFile(filepath.Join(straight.dir, "package-lock.json"))
	if err != nil {
		b.Fatal(err)
	}
	coldRounds(b, "cold npm ci, public registry", []coldCondition{{at: "@live"}}, l, coldNpmCI(straight, registry, viaLarderProject, through))
	b.ReportMetric(float64(bytes.Count(lock, []byte(`"resolved":`))), "packages")
}

// BenchmarkColdPipInstall is BenchmarkColdNpmCI for `pip install` of a
// project with 20 dependencies, no lockfile, from an index that offers PEP
// 658 metadata files, as PyPI does.
func BenchmarkColdPipInstall(b *testing.B) { benchColdPip(b, true) }

// BenchmarkColdPipInstallNoMetadata is BenchmarkColdPipInstall from an
// index without PEP 658 metadata files (many private ones): pip downloads
// each wheel to read its dependencies.
func BenchmarkColdPipInstallNoMetadata(b *testing.B) { benchColdPip(b, false) }

func benchColdPip(b *testing.B, metadataFiles bool) {
	up := pypitest.New()
	defer up.Close()
	add := func(name, version string, requires []string) {
		if metadataFiles {
			up.AddWheel(name, version, requires, "")
			return
		}
		filename, data := pypitest.Wheel(name, version, requires, "")
		up.AddFile(name, filename, data, pypitest.FileOpts{})
	}
	const n = 20
	var deps []string
	for i := range n {
		name := fmt.Sprintf("dep%02d", i)
		var own []string
		if i+1 < n && i%3 == 0 {
			own = []string{fmt.Sprintf("dep%02d>=1", i+1)}
		}
		add(name, "1.0.0", own)
		add(name, "1.1.0", own)
		deps = append(deps, name)
	}
	add("coldapp", "1.0.0", deps)
	l := startLarder(b, pypiConfig(up, ""))
	what := "cold pip install"
	if !metadataFiles {
		what += ", no PEP 658 files"
	}
	coldRounds(b, what, latencyConditions(up.SetDelay), l, func(viaLarder bool) {
		index := up.IndexURL
		if viaLarder {
			index = l.URL + "/pypi/simple/"
		}
		if out, err := pipInstall(b, index, "coldapp"); err != nil {
			b.Fatalf("pip install (through larder: %v): %v\n%s", viaLarder, err, out)
		}
	})
}

// coldRounds runs install straight from the upstream and through l
// emptied (wipe), under each of conditions, in interleaved rounds, and
// reports the direct medians, larder's ratios to them and the median of
// the rounds' own ratios (paired). It reports too the CPU the client spent
// on a direct install and the CPU larder spent on one through it: on a
// machine whose cores the client keeps busy, larder's CPU is what the 0 ms
// case measures.
func coldRounds(b *testing.B, what string, conditions []coldCondition, l *larder, install func(viaLarder bool)) {
	took, cpu := map[string][]float64{}, map[string][]float64{}
	for b.Loop() {
		for _, c := range conditions {
			b.StopTimer()
			if c.set != nil {
				c.set()
			}
			for _, viaLarder := range []bool{false, true} {
				name := "direct"
				if viaLarder {
					name = "larder"
					l.wipe()
				}
				clientBefore, larderBefore := childrenCPU(), l.cpu()
				start := time.Now()
				install(viaLarder)
				s := time.Since(start).Seconds()
				key := name + c.at
				took[key] = append(took[key], s)
				if viaLarder {
					cpu["larder-cpu-s"+c.at] = append(cpu["larder-cpu-s"+c.at], l.cpu()-larderBefore)
				} else {
					cpu["client-cpu-s"+c.at] = append(cpu["client-cpu-s"+c.at], childrenCPU()-clientBefore)
				}
				fmt.Fprintf(os.Stderr, "%s: round %d, %s: %.2fs\n", what, len(took[key]), key, s)
			}
			if c.reset != nil {
				c.reset()
			}
			b.StartTimer()
		}
	}
	for _, c := range conditions {
		d := median(took["direct"+c.at])
		b.ReportMetric(d, "direct-s"+c.at)
		through := took["larder"+c.at]
		b.ReportMetric(median(through)/d, "larder/direct"+c.at)
		// Each round's pair ran back to back: their ratio shares the
		// machine's state of the moment, which a shared machine's drift
		// between rounds moves by more than the target allows.
		paired := make([]float64, len(through))
		for i, s := range through {
			paired[i] = s / took["direct"+c.at][i]
		}
		b.ReportMetric(median(paired), "paired"+c.at)
		for _, who := range []string{"client", "larder"} {
			key := who + "-cpu-s" + c.at
			b.ReportMetric(median(cpu[key]), key)
		}
	}
}

// childrenCPU is the CPU seconds of the child processes this one has
// waited for: the clients, once each install returns.
func childrenCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// cpu is the CPU seconds larder's process has spent so far, from
// /proc/PID/stat (user and system clock ticks, 100 a second on Linux).
func (l *larder) cpu() float64 {
	if l.cmd == nil || l.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", l.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command's closing parenthesis: state is the first,
	// utime the 12th and stime the 13th.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	user, _ := strconv.ParseFloat(f[11], 64)
	sys, _ := strconv.ParseFloat(f[12], 64)
	return (user + sys) / 100
}
