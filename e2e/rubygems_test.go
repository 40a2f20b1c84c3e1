package e2e

import (
	"context"
	"crypto/md5"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries/registriestest/faults"
	"github.com/larder-mirror/larder/rubygems/rubygemstest"
)

// gemsConfig mounts a rubygems registry at /gems/ on the fake rubygems.org.
func gemsConfig(up *rubygemstest.Server, extra ...string) string {
	return fmt.Sprintf(`
[[registry]]
name = "gems"
kind = "rubygems"
upstream = %q
response_timeout = "3s"
%s
`, up.URL, strings.Join(extra, "\n"))
}

// builtGem is a gem `gem build` made, with the gemspec gem install reads.
type builtGem struct {
	name, version string
	deps          []string // info line requirements: "larder-dep:~> 0.1"
	gem, spec     []byte
}

var (
	builtGemsOnce sync.Once
	builtGems     []builtGem
	builtGemsErr  error
)

// gemsToPublish builds, once for every test, larder-dep 0.1.0 and
// larder-lib 1.0.0 and 1.1.0 (which needs larder-dep ~> 0.1) with the
// real `gem build`, and each one's quick/Marshal.4.8 gemspec as
// rubygems.org serves it (Gem.deflate of Marshal.dump of its spec).
func gemsToPublish(t *testing.T) []builtGem {
	t.Helper()
	requireTool(t, "gem")
	requireTool(t, "ruby")
	builtGemsOnce.Do(func() {
		dir := filepath.Join(filepath.Dir(larderBin), "gems-built")
		builtGems, builtGemsErr = buildGems(dir)
	})
	if builtGemsErr != nil {
		t.Fatal(builtGemsErr)
	}
	return builtGems
}

func buildGems(dir string) ([]builtGem, error) {
	gems := []builtGem{
		{name: "larder-dep", version: "0.1.0"},
		{name: "larder-lib", version: "1.0.0"},
		{name: "larder-lib", version: "1.1.0", deps: []string{"larder-dep:~> 0.1"}},
	}
	for i, g := range gems {
		src := filepath.Join(dir, g.name+"-"+g.version)
		mod := strings.ReplaceAll(g.name, "-", "_")
		class := map[string]string{"larder-dep": "LarderDep", "larder-lib": "LarderLib"}[g.name]
		code := fmt.Sprintf("module %s\n  def self.hello\n    \"hello\"\n  end\nend\n", class)
		spec := fmt.Sprintf(`Gem::Specification.new do |s|
  s.name = %q
  s.version = %q
  s.summary = "a gem larder's tests build"
  s.authors = ["larder"]
  s.license = "MIT"
  s.files = ["lib/%s.rb"]
  s.required_ruby_version = ">= 2.0"
`, g.name, g.version, mod)
		if len(g.deps) > 0 {
			spec += "  s.add_dependency \"larder-dep\", \"~> 0.1\"\n"
			code = "require \"larder_dep\"\n\nmodule LarderLib\n  def self.hello\n    \"hello \" + LarderDep.name_of\n  end\nend\n"
		}
		if g.name == "larder-dep" {
			code = "module LarderDep\n  def self.name_of\n    \"dep\"\n  end\nend\n"
		}
		spec += "end\n"
		if err := os.MkdirAll(filepath.Join(src, "lib"), 0o755); err != nil {
			return nil, err
		}
		os.WriteFile(filepath.Join(src, "lib", mod+".rb"), []byte(code), 0o644)
		os.WriteFile(filepath.Join(src, g.name+".gemspec"), []byte(spec), 0o644)
		file := g.name + "-" + g.version + ".gem"
		cmd := exec.Command("gem", "build", g.name+".gemspec")
		cmd.Dir, cmd.Env = src, append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000", "HOME="+src)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("gem build %s: %v\n%s", g.name, err, out)
		}
		rz := filepath.Join(src, file+"spec.rz")
		cmd = exec.Command("ruby", "-rrubygems/package", "-e",
			`File.binwrite(ARGV[1], Gem.deflate(Marshal.dump(Gem::Package.new(ARGV[0]).spec)))`, file, rz)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("writing the gemspec of %s: %v\n%s", file, err, out)
		}
		var err error
		if gems[i].gem, err = os.ReadFile(filepath.Join(src, file)); err != nil {
			return nil, err
		}
		if gems[i].spec, err = os.ReadFile(rz); err != nil {
			return nil, err
		}
	}
	return gems, nil
}

func publishGems(t *testing.T, up *rubygemstest.Server) {
	gems := gemsToPublish(t)
	for _, g := range gems {
		up.Publish(rubygemstest.Gem{Name: g.name, Version: g.version, Body: g.gem, Spec: g.spec, Deps: g.deps, Ruby: ">= 2.0"})
	}
	for file, body := range fullIndexOf(t, gems) {
		up.SetFullIndex(file, body)
	}
}

// fullIndexOf writes the full index of gems with Ruby, as rubygems.org's
// Gem::Indexer does: gzip'd Marshal of [name, Gem::Version, platform].
func fullIndexOf(t *testing.T, gems []builtGem) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	var tuples []string
	for _, g := range gems {
		tuples = append(tuples, fmt.Sprintf("[%q, Gem::Version.new(%q), \"ruby\"]", g.name, g.version))
	}
	script := `specs = [` + strings.Join(tuples, ", ") + `]
latest = specs.group_by(&:first).map { |_, s| s.max_by { |t| t[1] } }
{ "specs.4.8.gz" => specs, "latest_specs.4.8.gz" => latest, "prerelease_specs.4.8.gz" => [] }.each do |f, l|
  File.binwrite(File.join(ARGV[0], f), Gem::Util.gzip(Marshal.dump(l)))
end`
	if out, err := exec.Command("ruby", "-e", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("writing the full index: %v\n%s", err, out)
	}
	files := map[string][]byte{}
	for _, f := range []string{"specs.4.8.gz", "latest_specs.4.8.gz", "prerelease_specs.4.8.gz"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = b
	}
	return files
}

// bundleProject is a Gemfile that needs larder-lib ~> 1.1 from
// rubygems.org, and a HOME whose bundler config mirrors rubygems.org to
// larder: the set-up the README gives.
type bundleProject struct {
	t           *testing.T
	dir         string
	home        string
	installPath string // BUNDLE_PATH
	env         []string
}

func newBundleProject(t *testing.T, l *larder) *bundleProject {
	t.Helper()
	requireTool(t, "bundle")
	p := &bundleProject{t: t, dir: t.TempDir(), home: t.TempDir()}
	os.WriteFile(filepath.Join(p.dir, "Gemfile"), []byte("source \"https://rubygems.org\"\n\ngem \"larder-lib\", \"~> 1.1\"\n"), 0o644)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BUNDLE_") && !strings.HasPrefix(kv, "GEM_") && !strings.HasPrefix(kv, "HOME=") {
			p.env = append(p.env, kv)
		}
	}
	p.env = append(p.env, "HOME="+p.home, "BUNDLE_GEMFILE="+filepath.Join(p.dir, "Gemfile"), "BUNDLE_RETRY=0", "BUNDLE_TIMEOUT=20")
	p.mustRun("bundle", "config", "set", "--global", "mirror.https://rubygems.org", l.URL+"/gems/")
	p.freshInstall()
	return p
}

// freshInstall installs into an empty folder: every gem is downloaded
// again. Bundler's copy of the compact index (in HOME) is kept, so that
// it asks for what it lacks of it with ranges, as it does day to day.
func (p *bundleProject) freshInstall() {
	p.installPath = p.t.TempDir()
	p.env = append(p.env, "BUNDLE_PATH="+p.installPath)
}

// forgetIndex drops bundler's copy of the compact index.
func (p *bundleProject) forgetIndex() {
	os.RemoveAll(filepath.Join(p.home, ".bundle", "cache"))
}

func (p *bundleProject) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = p.dir, p.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *bundleProject) mustRun(name string, args ...string) string {
	p.t.Helper()
	out, err := p.run(name, args...)
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// installed runs bundle install, which must lock and unpack larder-lib
// 1.1.0 and larder-dep 0.1.0 into the install folder.
func (p *bundleProject) installed(what string) {
	p.t.Helper()
	p.mustRun("bundle", "install")
	lock, _ := os.ReadFile(filepath.Join(p.dir, "Gemfile.lock"))
	if !strings.Contains(string(lock), "larder-lib (1.1.0)") || !strings.Contains(string(lock), "larder-dep (0.1.0)") {
		p.t.Fatalf("%s: Gemfile.lock:\n%s", what, lock)
	}
	for _, f := range []string{"larder-lib-1.1.0/lib/larder_lib.rb", "larder-dep-0.1.0/lib/larder_dep.rb"} {
		if m, _ := filepath.Glob(filepath.Join(p.installPath, "ruby", "*", "gems", f)); len(m) != 1 {
			p.t.Fatalf("%s: bundle install left no %s", what, f)
		}
	}
}

// installedAndRuns is installed, then the project's code through bundle
// exec, which must find both gems.
func (p *bundleProject) installedAndRuns(what string) {
	p.t.Helper()
	p.installed(what)
	if got := strings.TrimSpace(p.mustRun("bundle", "exec", "ruby", "-e", `require "larder_lib"; puts LarderLib.hello`)); got != "hello dep" {
		p.t.Fatalf("%s: the program printed %q", what, got)
	}
}

// gemInstall installs with gem alone into a fresh GEM_HOME, larder its
// only source (set with gem sources, as the README says), and returns the
// gems installed, NAME-VERSION a line.
func gemInstall(t *testing.T, l *larder, args ...string) (string, error) {
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GEM_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+home, "GEM_HOME="+filepath.Join(home, "gems"), "GEM_PATH="+filepath.Join(home, "gems"))
	gem := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "gem", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := gem("sources", "--add", l.URL+"/gems/", "--remove", "https://rubygems.org/"); err != nil {
		return out, fmt.Errorf("gem sources: %w", err)
	}
	if out, err := gem(append([]string{"install", "--no-document"}, args...)...); err != nil {
		return out, err
	}
	entries, err := os.ReadDir(filepath.Join(home, "gems", "gems"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, "\n"), err
}

// gemSearch is gem search --remote, larder the only source.
func gemSearch(t *testing.T, l *larder) string {
	t.Helper()
	cmd := exec.Command("gem", "search", "--remote", "--all", "--clear-sources", "--source", l.URL+"/gems/", "larder-")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gem search: %v\n%s", err, out)
	}
	return string(out)
}

var partials = regexp.MustCompile(`path=/gems/(versions|info/\S+) status=206`)

func TestBundleAndGemInstallThroughLarderColdThenWarmWithTheUpstreamBlackHoledOrRefusedThenOffline(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	publishGems(t, up)
	// Documents are stale after a second: warm runs revalidate them.
	l := startLarder(t, gemsConfig(up, `metadata_ttl = "1s"`))
	p := newBundleProject(t, l)

	p.installedAndRuns("cold")
	gem := "/gems/larder-lib-1.1.0.gem"
	if n := up.Count("GET", gem); n != 1 {
		t.Errorf("the upstream was asked for %s %d times, want once", gem, n)
	}
	if l.heldSHA256("gems", strings.TrimPrefix(gem, "/")) == "" {
		t.Fatalf("larder holds no %s", gem)
	}
	if list, err := gemInstall(t, l, "larder-lib"); err != nil || !strings.Contains(list, "larder-lib-1.1.0") || !strings.Contains(list, "larder-dep-0.1.0") {
		t.Fatalf("gem install larder-lib through larder: %v\n%s", err, list)
	}
	// gem install reads each release's gemspec (RubyGems 3.3,
	// APISpecification#spec); larder fetched it once.
	if n := up.Count("GET", "/quick/Marshal.4.8/larder-lib-1.1.0.gemspec.rz"); n != 1 {
		t.Errorf("the upstream was asked for larder-lib's gemspec %d times, want once", n)
	}

	// The UI lists the gem, and says how to set bundler and gem up.
	for path, wants := range map[string][]string{
		"/setup":               {"bundle config set --global mirror." + strings.TrimSuffix(up.URL, "/") + " " + l.URL + "/gems/", "gem sources --add " + l.URL + "/gems/"},
		"/r/gems/p/larder-lib": {"1.1.0", "gem install larder-lib -v 1.1.0", "larder-dep"},
		"/api/v1/registries/gems/packages/larder-lib": {`"1.1.0"`, "larder-dep"},
	} {
		resp, body := l.get(t, path)
		for _, w := range wants {
			if resp.StatusCode != 200 || !strings.Contains(html.UnescapeString(string(body)), w) {
				t.Errorf("GET %s: %d, without %q", path, resp.StatusCode, w)
			}
		}
	}

	t.Run("a new release upstream reaches bundler as the tail of its copy", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		up.Publish(rubygemstest.Gem{Name: "larder-other", Version: "3.0.0", Body: []byte("not installed")})
		p.freshInstall()
		p.installed("after a release upstream")
		// bundler asked for what it lacked of /versions, and larder, whose
		// copy now continues bundler's, sent only that.
		if log := l.flushedLog(); !partials.MatchString(log) {
			t.Errorf("larder answered no range of the compact index with a 206:\n%s", tail(log, 30))
		}
	})

	t.Run("warm, the upstream black-holed", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		up.SetMode(faults.Hang)
		defer up.SetMode(faults.Normal)
		p.freshInstall()
		start := time.Now()
		p.installed("warm, upstream black-holed")
		if took := time.Since(start); took > 40*time.Second {
			t.Errorf("a warm install with the upstream black-holed took %v", took)
		}
		if !l.logged("cache=STALE") {
			t.Errorf("no document was answered STALE")
		}
	})

	t.Run("warm, the upstream refusing connections", func(t *testing.T) {
		up.SetMode(faults.Refuse)
		defer up.SetMode(faults.Normal)
		p.freshInstall()
		p.installed("warm, upstream refused")
	})

	t.Run("offline", func(t *testing.T) {
		l.restart("--offline")
		up.SetMode(faults.Refuse)
		defer up.SetMode(faults.Normal)
		// Bundler's copy of the index is of the online one: larder's
		// offline files are others, which it sends whole.
		p.freshInstall()
		p.installed("offline, with bundler's copy of the online index")
		p.forgetIndex()
		p.freshInstall()
		p.installedAndRuns("offline, from an empty bundler cache")

		// Only held releases are offered: larder-lib 1.0.0 was never
		// fetched, larder-other not at all.
		_, info := l.get(t, "/gems/info/larder-lib")
		if strings.Contains(string(info), "1.0.0") || !strings.Contains(string(info), "1.1.0") {
			t.Errorf("offline /info/larder-lib:\n%s", info)
		}
		_, versions := l.get(t, "/gems/versions")
		if strings.Contains(string(versions), "larder-other") || !strings.Contains(string(versions), fmt.Sprintf("larder-lib 1.1.0 %x", md5Of(info))) {
			t.Errorf("offline /versions does not list the MD5 of /info/larder-lib as served:\n%s", versions)
		}
		if list, err := gemInstall(t, l, "larder-lib"); err != nil || !strings.Contains(list, "larder-lib-1.1.0") {
			t.Fatalf("gem install larder-lib offline: %v\n%s", err, list)
		}
		if out, err := gemInstall(t, l, "larder-lib", "-v", "1.0.0"); err == nil {
			t.Errorf("gem install larder-lib -v 1.0.0, never fetched, succeeded offline:\n%s", out)
		}
		// The full index too lists only what is held.
		if out := gemSearch(t, l); !strings.Contains(out, "larder-lib (1.1.0)") || strings.Contains(out, "1.0.0") || strings.Contains(out, "larder-other") {
			t.Errorf("gem search --remote --all offline:\n%s", out)
		}
	})
}

func TestBundleATamperedGemIsRefusedAndNothingStored(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	publishGems(t, up)
	l := startLarder(t, gemsConfig(up))
	p := newBundleProject(t, l)

	up.SetMode(faults.WrongDigest)
	if out, err := p.run("bundle", "install"); err == nil {
		t.Fatalf("bundle install of tampered gems succeeded:\n%s", out)
	}
	for _, g := range []string{"gems/larder-lib-1.1.0.gem", "gems/larder-dep-0.1.0.gem"} {
		if sum := l.storedSHA256("gems", g); sum != "" {
			t.Errorf("larder stored the tampered %s (%s)", g, sum)
		}
	}
	if !l.logged("integrity check failed") {
		t.Errorf("larder's log does not say it refused the tampered gems")
	}
	if files := l.blobFiles("tmp"); len(files) != 0 {
		t.Errorf("files left in blobs/tmp: %v", files)
	}

	up.SetMode(faults.Normal)
	p.freshInstall()
	p.installed("once the upstream serves the real gems")
}

func TestLarderWarmGemfileLockThenBundleInstallsOffline(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	publishGems(t, up)
	first := startLarder(t, gemsConfig(up))
	p := newBundleProject(t, first)
	p.installed("cold, to write Gemfile.lock")
	lock := filepath.Join(t.TempDir(), "Gemfile.lock")
	b, err := os.ReadFile(filepath.Join(p.dir, "Gemfile.lock"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(lock, b, 0o644)

	l := startLarder(t, gemsConfig(up))
	out, err := runLarder(t, "warm", "--config", l.config, "--url", l.URL, lock)
	if err != nil {
		t.Fatalf("larder warm Gemfile.lock: %v\n%s", err, out)
	}
	l.stop()
	archive := filepath.Join(t.TempDir(), "gems.tar")
	if out, err := runLarder(t, "export", "--data", l.dir, "--out", archive, "--lockfile", lock); err != nil {
		t.Fatalf("export --lockfile Gemfile.lock: %v\n%s", err, out)
	}
	gapped := filepath.Join(t.TempDir(), "air-gapped")
	if out, err := runLarder(t, "import", "--config", l.config, "--data", gapped, archive); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, dir := range []string{l.dir, gapped} {
		l.dir = dir
		l.extra = []string{"--offline"}
		l.start()
		up.SetMode(faults.Refuse)
		q := newBundleProject(t, l)
		os.WriteFile(filepath.Join(q.dir, "Gemfile.lock"), b, 0o644)
		q.installed("offline, after warm Gemfile.lock (" + filepath.Base(dir) + ")")
		l.stop()
		up.SetMode(faults.Normal)
	}
}

func md5Of(b []byte) [16]byte { return md5.Sum(b) }
