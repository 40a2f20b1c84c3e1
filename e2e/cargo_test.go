package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/cargo/cargotest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// cargoConfig mounts a cargo registry on the fake sparse registry, whose
// .crate files it serves itself.
func cargoConfig(up *cargotest.Server, extra ...string) string {
	return fmt.Sprintf(`
[[registry]]
name = "cargo"
kind = "cargo"
upstream = %q
download_url = %q
response_timeout = "3s"
%s
`, up.URL, up.DownloadURL(), strings.Join(extra, "\n"))
}

// cargoEnv is the machine's environment without its cargo settings and
// proxies, with CARGO_HOME in a fresh folder whose config.toml replaces
// crates.io with the sparse registry at index (an http:// URL ending in
// "/"). HOME stays: rustup finds its toolchains there.
func cargoEnv(t *testing.T, index string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CARGO_") || strings.HasSuffix(strings.ToLower(k), "_proxy") {
			continue
		}
		env = append(env, kv)
	}
	home := t.TempDir()
	config := "[source.crates-io]\nreplace-with = \"mirror\"\n\n[source.mirror]\nregistry = \"sparse+" + index + "\"\n"
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(env, "CARGO_HOME="+home, "CARGO_TERM_COLOR=never", "CARGO_INCREMENTAL=0")
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// publishCrates publishes on up the tiny crates cargo packaged (see
// packagedCrates): xy 0.1.0 and tiny-dep 0.1.0 (index paths 2/xy and
// ti/ny/tiny-dep), greet 1.0.0, and greet 1.1.0, which needs the other two.
func publishCrates(t *testing.T, up *cargotest.Server) {
	t.Helper()
	crates, err := packagedCrates(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, crate := range crates {
		if _, err := up.PublishCrate(crate); err != nil {
			t.Fatal(err)
		}
	}
}

// packaged holds the .crate files cargo made, once per test process: the
// tests publish the same bytes on fakes of their own.
var packaged struct {
	sync.Mutex
	crates [][]byte
}

// packagedCrates runs `cargo package` on each crate, against a fake
// registry that serves the ones packaged before it (greet 1.1.0 is
// packaged with its dependencies resolved there).
func packagedCrates(t *testing.T) ([][]byte, error) {
	packaged.Lock()
	defer packaged.Unlock()
	if packaged.crates != nil {
		return packaged.crates, nil
	}
	requireTool(t, "cargo")
	up := cargotest.New()
	defer up.Close()
	env := cargoEnv(t, up.URL)
	manifest := func(name, version, deps string) string {
		return fmt.Sprintf("[package]\nname = %q\nversion = %q\nedition = \"2021\"\ndescription = \"a test crate\"\nlicense = \"MIT\"\n\n[dependencies]\n%s", name, version, deps)
	}
	sources := []map[string]string{
		{"Cargo.toml": manifest("xy", "0.1.0", ""), "src/lib.rs": "pub fn name() -> &'static str { \"xy\" }\n"},
		{"Cargo.toml": manifest("tiny-dep", "0.1.0", ""), "src/lib.rs": "pub fn name() -> &'static str { \"tiny-dep\" }\n"},
		{"Cargo.toml": manifest("greet", "1.0.0", ""), "src/lib.rs": "pub fn hello() -> String { \"hello\".to_string() }\n"},
		{"Cargo.toml": manifest("greet", "1.1.0", "tiny-dep = \"0.1\"\nxy = \"0.1.0\"\n"),
			"src/lib.rs": "pub fn hello() -> String { format!(\"hello {} {}\", tiny_dep::name(), xy::name()) }\n"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var crates [][]byte
	for _, files := range sources {
		dir := t.TempDir()
		writeFiles(t, dir, files)
		crate, err := cargotest.Package(ctx, dir, env)
		if err != nil {
			return nil, err
		}
		if _, err := up.PublishCrate(crate); err != nil {
			return nil, err
		}
		crates = append(crates, crate)
	}
	packaged.crates = crates
	return crates, nil
}

// cargoProject is a binary crate that needs greet 1, built through larder
// alone.
type cargoProject struct {
	t     *testing.T
	dir   string
	index string
	env   []string
}

func newCargoProject(t *testing.T, l *larder, req string) *cargoProject {
	t.Helper()
	p := &cargoProject{t: t, dir: t.TempDir(), index: l.URL + "/cargo/"}
	writeFiles(t, p.dir, map[string]string{
		"Cargo.toml":  "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ngreet = \"" + req + "\"\n",
		"src/main.rs": "fn main() { println!(\"{}\", greet::hello()); }\n",
	})
	p.freshCache()
	return p
}

// freshCache gives cargo an empty CARGO_HOME (no index cache, no
// downloaded crates), and forgets Cargo.lock and what was built: cargo
// then resolves and downloads everything through larder again.
func (p *cargoProject) freshCache() {
	p.env = cargoEnv(p.t, p.index)
	os.Remove(filepath.Join(p.dir, "Cargo.lock"))
	os.RemoveAll(filepath.Join(p.dir, "target"))
}

func (p *cargoProject) run(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "cargo", args...)
	cmd.Dir, cmd.Env = p.dir, append(p.env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *cargoProject) mustRun(args ...string) string {
	p.t.Helper()
	out, err := p.run(nil, args...)
	if err != nil {
		p.t.Fatalf("cargo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// built fetches, builds and runs the project, and checks that Cargo.lock
// records the upstream's checksum of every crate.
func (p *cargoProject) built(up *cargotest.Server, what string, args ...string) {
	p.t.Helper()
	p.mustRun(append([]string{"fetch"}, args...)...)
	p.mustRun(append([]string{"build"}, args...)...)
	out, err := exec.Command(filepath.Join(p.dir, "target", "debug", "app")).CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || got != "hello tiny-dep xy" {
		p.t.Fatalf("%s: the program printed %q (%v)", what, got, err)
	}
	lock, err := os.ReadFile(filepath.Join(p.dir, "Cargo.lock"))
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	for _, c := range [][2]string{{"greet", "1.1.0"}, {"tiny-dep", "0.1.0"}, {"xy", "0.1.0"}} {
		sum := sha256.Sum256(up.Version(c[0], c[1]).Crate)
		if want := "checksum = \"" + hex.EncodeToString(sum[:]) + "\""; !strings.Contains(string(lock), want) {
			p.t.Fatalf("%s: Cargo.lock lacks %s %s's %s:\n%s", what, c[0], c[1], want, lock)
		}
	}
}

const greetIndex = "/cargo/gr/ee/greet"

func TestCargoFetchAndBuildThroughLarderColdThenWarmWithTheUpstreamBlackHoledOrRefusedThenOffline(t *testing.T) {
	up := cargotest.New()
	defer up.Close()
	publishCrates(t, up)
	// Documents are stale after a second: warm runs revalidate them.
	l := startLarder(t, cargoConfig(up, `metadata_ttl = "1s"`))
	p := newCargoProject(t, l, "1")

	p.built(up, "cold")
	crate := cargotest.CratePath("greet", "1.1.0")
	if n := up.Count("GET", crate); n != 1 {
		t.Errorf("the upstream was asked for %s %d times, want once", crate, n)
	}
	sum := sha256.Sum256(up.Version("greet", "1.1.0").Crate)
	if got := l.heldSHA256("cargo", "api/v1/crates/greet/1.1.0/download"); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("larder holds greet 1.1.0 as %q, want the sha256 of the upstream's .crate", got)
	}
	// The index file is the upstream's, byte for byte, and revalidated
	// with the upstream's ETag once stale.
	resp, body := l.get(t, greetIndex)
	if string(body) != string(up.Index("greet")) {
		t.Fatalf("GET %s: %q, want the upstream's index file %q", greetIndex, body, up.Index("greet"))
	}
	time.Sleep(1100 * time.Millisecond)
	if resp, _ := l.get(t, greetIndex); resp.Header.Get("X-Larder-Cache") != "REVALIDATED" {
		t.Errorf("GET %s once stale: X-Larder-Cache %q, want REVALIDATED (the upstream's 304)", greetIndex, resp.Header.Get("X-Larder-Cache"))
	}
	if etag := resp.Header.Get("Etag"); etag == "" {
		t.Errorf("GET %s: no ETag for cargo to revalidate with", greetIndex)
	} else if resp, _ := l.get(t, greetIndex, "If-None-Match", etag); resp.StatusCode != 304 {
		t.Errorf("GET %s with If-None-Match: %d, want 304", greetIndex, resp.StatusCode)
	}

	// The UI lists the crate, with the held version first, and says how to
	// point cargo at larder.
	if _, api := l.get(t, "/api/v1/registries/cargo/packages/greet"); !strings.Contains(string(api), `"1.1.0"`) || !strings.Contains(string(api), "greet-1.1.0.crate") {
		t.Errorf("the API's greet lacks its held 1.1.0:\n%s", api)
	}
	if _, page := l.get(t, "/setup"); !strings.Contains(html.UnescapeString(string(page)), `registry = "sparse+`+l.URL+`/cargo/"`) {
		t.Errorf("the set-up page does not show cargo's registry line for %s/cargo/", l.URL)
	}

	t.Run("warm, the upstream black-holed", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		up.SetMode(faults.Hang)
		defer up.SetMode(faults.Normal)
		p.freshCache()
		start := time.Now()
		p.built(up, "warm, upstream black-holed")
		// One time-out at most, never one per index file.
		if took := time.Since(start); took > 40*time.Second {
			t.Errorf("a warm build with the upstream black-holed took %v", took)
		}
		if !l.logged("cache=STALE") {
			t.Errorf("no index file was answered STALE")
		}
	})

	t.Run("warm, the upstream refusing connections", func(t *testing.T) {
		up.SetMode(faults.Refuse)
		defer up.SetMode(faults.Normal)
		p.freshCache()
		p.built(up, "warm, upstream refused")
	})

	t.Run("offline", func(t *testing.T) {
		l.restart("--offline")
		up.SetMode(faults.Refuse)
		defer up.SetMode(faults.Normal)
		p.freshCache()
		p.built(up, "offline")
		// Only the held version's line, as the upstream wrote it: 1.0.0
		// was never fetched.
		_, body := l.get(t, greetIndex)
		if want := string(up.Version("greet", "1.1.0").Line) + "\n"; string(body) != want {
			t.Errorf("GET %s offline: %q, want only the held version's line %q", greetIndex, body, want)
		}
		// So cargo cannot pick the version larder does not hold.
		pinned := newCargoProject(t, l, "=1.0.0")
		if out, err := pinned.run(nil, "fetch"); err == nil {
			t.Errorf("offline, cargo fetched greet =1.0.0, which larder never held:\n%s", out)
		} else if !strings.Contains(out, "greet") {
			t.Errorf("offline, cargo fetch of greet =1.0.0 failed without naming it:\n%s", out)
		}
	})
}

func TestCargoATamperedCrateIsRefusedAndNothingStored(t *testing.T) {
	up := cargotest.New()
	defer up.Close()
	publishCrates(t, up)
	l := startLarder(t, cargoConfig(up))
	p := newCargoProject(t, l, "1")

	up.SetMode(faults.WrongDigest)
	// No retries: each would be refused the same way.
	out, err := p.run([]string{"CARGO_NET_RETRY=0"}, "fetch")
	if err == nil {
		t.Fatalf("cargo fetch of tampered crates succeeded:\n%s", out)
	}
	for _, c := range [][2]string{{"greet", "1.1.0"}, {"tiny-dep", "0.1.0"}, {"xy", "0.1.0"}} {
		if sum := l.storedSHA256("cargo", "api/v1/crates/"+c[0]+"/"+c[1]+"/download"); sum != "" {
			t.Errorf("larder stored the tampered %s %s (%s)", c[0], c[1], sum)
		}
	}
	if !l.logged("integrity check failed") {
		t.Errorf("larder's log does not say it refused the tampered crates")
	}
	if files := l.blobFiles("tmp"); len(files) != 0 {
		t.Errorf("files left in blobs/tmp: %v", files)
	}

	up.SetMode(faults.Normal)
	p.freshCache()
	p.built(up, "once the upstream serves the real crates")
}

// warm Cargo.lock fills a fresh larder that then builds offline; export
// --lockfile carries its crates, and index files, across an air gap, where
// the import builds offline too.
func TestLarderWarmCargoLockThenCargoBuildsOfflineAndExportImportCarriesItsCrates(t *testing.T) {
	up := cargotest.New()
	defer up.Close()
	publishCrates(t, up)
	first := startLarder(t, cargoConfig(up))
	p := newCargoProject(t, first, "1")
	p.built(up, "cold, to write Cargo.lock")
	lockfile := filepath.Join(t.TempDir(), "Cargo.lock")
	b, err := os.ReadFile(filepath.Join(p.dir, "Cargo.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lockfile, b, 0o644); err != nil {
		t.Fatal(err)
	}

	l := startLarder(t, cargoConfig(up))
	out, err := runLarder(t, "warm", "--config", l.config, "--url", l.URL, lockfile)
	if err != nil {
		t.Fatalf("larder warm Cargo.lock: %v\n%s", err, out)
	}
	l.restart("--offline")
	up.SetMode(faults.Refuse)
	defer up.SetMode(faults.Normal)
	q := newCargoProject(t, l, "1")
	if err := os.WriteFile(filepath.Join(q.dir, "Cargo.lock"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	q.built(up, "offline, after warm Cargo.lock", "--locked")

	l.stop()
	archive := filepath.Join(t.TempDir(), "cache.tar")
	if out, err := runLarder(t, "export", "--data", l.dir, "--out", archive, "--lockfile", lockfile); err != nil {
		t.Fatalf("larder export --lockfile Cargo.lock: %v\n%s", err, out)
	}
	listing, err := exec.Command("tar", "-xOf", archive, "manifest.json").CombinedOutput()
	if err != nil {
		t.Fatalf("reading the archive's manifest: %v\n%s", err, listing)
	}
	for _, c := range []string{"greet/1.1.0", "tiny-dep/0.1.0", "xy/0.1.0"} {
		if !strings.Contains(string(listing), "api/v1/crates/"+c+"/download") {
			t.Errorf("the export of Cargo.lock does not carry %s:\n%s", c, listing)
		}
	}

	gapped := filepath.Join(t.TempDir(), "air-gapped")
	if out, err := runLarder(t, "import", "--config", l.config, "--data", gapped, archive); err != nil || strings.Contains(out, "refused") || strings.Contains(out, "conflict") {
		t.Fatalf("larder import: %v\n%s", err, out)
	}
	l.dir, l.extra = gapped, []string{"--offline"}
	l.start()
	r := newCargoProject(t, l, "1")
	if err := os.WriteFile(filepath.Join(r.dir, "Cargo.lock"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	r.built(up, "offline, from the imported archive", "--locked")
}
