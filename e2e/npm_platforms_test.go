package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// nodePlatform is this machine as npm names it in a package's os and cpu.
func nodePlatform() (os, cpu string) {
	cpu = map[string]string{"amd64": "x64", "386": "ia32", "arm64": "arm64", "arm": "arm"}[runtime.GOARCH]
	if cpu == "" {
		cpu = runtime.GOARCH
	}
	return runtime.GOOS, cpu
}

// publishNative publishes a package shaped like the native builds of
// typescript, esbuild or swc: a front package whose optionalDependencies
// pin one package per platform, each of which declares os and cpu, so that
// a client installs the one that fits and skips the rest.
func publishNative(up *npmtest.Server) (here string, elsewhere []string) {
	hostOS, hostCPU := nodePlatform()
	platforms := [][2]string{{hostOS, hostCPU}, {"sunos", "x64"}, {"aix", "ppc64"}}
	if hostOS != "win32" {
		platforms = append(platforms, [2]string{"win32", "x64"})
	}
	optional := map[string]any{}
	for i, p := range platforms {
		name := fmt.Sprintf("@native/native-%s-%s", p[0], p[1])
		for _, v := range []string{"1.0.0", "1.1.0"} {
			up.PublishTarball(name, v, npmtest.TarballWith(name, v, nil, map[string]any{"os": []string{p[0]}, "cpu": []string{p[1]}}), nil)
		}
		optional[name] = "1.0.0"
		if i == 0 {
			here = name
		} else {
			elsewhere = append(elsewhere, name)
		}
	}
	up.PublishTarball("native", "1.0.0", npmtest.TarballWith("native", "1.0.0", nil, map[string]any{"optionalDependencies": optional}), nil)
	return here, elsewhere
}

// What npm cached online must let npm, pnpm and yarn install offline: yarn
// classic resolves every optional dependency, those for other platforms
// included, so it asks for packuments that npm never needed.
func TestWhatNpmCachedOnlineInstallsOfflineWithNpmPnpmAndYarn(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	publishGraph(up)
	here, elsewhere := publishNative(up)
	const app = `{"name":"app","version":"1.0.0","private":true,"dependencies":{"@acme/top":"^3.0.0","leaf":"^1.0.0","native":"^1.0.0"}}`

	// The lockfile is written against the upstream directly, and larder is
	// filled by `npm ci` from it, as CI does: npm asks larder for
	// tarballs only, never for a packument.
	writer := newProject(t, app)
	writer.mustRun(up.URL+"/", "npm", "install", "--package-lock-only", "--no-audit")
	lock := strings.ReplaceAll(writer.read("package-lock.json"), strings.TrimSuffix(up.URL, "/")+"/", "http://larder.invalid/npm/")

	l := startLarder(t, npmConfig(up, ""))
	reg := l.URL + "/npm/"
	lock = strings.ReplaceAll(lock, "http://larder.invalid/npm/", reg)
	fill := newProject(t, app)
	if err := os.WriteFile(filepath.Join(fill.dir, "package-lock.json"), []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	fill.mustRun(reg, "npm", "ci", "--no-audit")
	installed(t, fill, "native", here, "@acme/top", "leaf")
	for _, name := range elsewhere {
		if fill.exists(filepath.Join("node_modules", name)) {
			t.Fatalf("npm installed %s, built for another platform", name)
		}
	}
	// The packuments of the other platforms' packages come in the
	// background, beside the front package's tarball.
	db := l.db()
	waitFor(t, "the packuments of the other platforms' packages", func() bool {
		for _, name := range elsewhere {
			if !holdsDocument(t, db, "npm", name) {
				return false
			}
		}
		return true
	})
	for _, name := range elsewhere {
		if l.storedSHA256("npm", npmtest.TarballPath(name, "1.0.0")) != "" {
			t.Errorf("larder fetched the tarball of %s, which no install here needs", name)
		}
	}

	// Across an air gap too: an export of what the lockfile names, taken
	// through the running larder, imported into a fresh folder.
	archive := filepath.Join(t.TempDir(), "cache.tar")
	lockPath := filepath.Join(fill.dir, "package-lock.json")
	if out, err := runLarder(t, "export", "--data", l.dir, "--out", archive, "--lockfile", lockPath); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	filled := l.dir
	gapped := filepath.Join(t.TempDir(), "air-gapped")
	if out, err := runLarder(t, "import", "--config", l.config, "--data", gapped, archive); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}

	for _, folder := range []struct{ name, dir string }{{"offline", filled}, {"across an air gap", gapped}} {
		l.stop()
		l.dir, l.extra = folder.dir, []string{"--offline"}
		l.start()
		up.Reset()
		t.Run(folder.name, func(t *testing.T) { installOffline(t, reg, app, lock, here, elsewhere) })
		if n := len(up.Requests()); n != 0 {
			t.Errorf("%s: larder made %d upstream requests", folder.name, n)
		}
	}
}

// installOffline installs app from larder at reg with npm (from lock, and
// without it), pnpm and yarn classic.
func installOffline(t *testing.T, reg, app, lock, here string, elsewhere []string) {
	t.Run("npm ci", func(t *testing.T) {
		c := newProject(t, app)
		if err := os.WriteFile(filepath.Join(c.dir, "package-lock.json"), []byte(lock), 0o644); err != nil {
			t.Fatal(err)
		}
		c.mustRun(reg, "npm", "ci", "--no-audit")
		installed(t, c, "native", here, "@acme/top", "leaf")
	})
	t.Run("npm install", func(t *testing.T) {
		c := newProject(t, app)
		c.mustRun(reg, "npm", "install", "--no-audit")
		installed(t, c, "native", here, "@acme/top", "leaf")
	})
	t.Run("pnpm", func(t *testing.T) {
		c := newProject(t, app)
		c.mustRun(reg, "pnpm", "install", "--reporter=append-only")
		installed(t, c, "native", "@acme/top", "leaf")
	})
	t.Run("yarn classic", func(t *testing.T) {
		c := newProject(t, app)
		c.mustRun(reg, "yarn", "install", "--non-interactive", "--registry", reg)
		installed(t, c, "native", here, "@acme/top", "leaf")
		for _, name := range elsewhere {
			if c.exists(filepath.Join("node_modules", name, "package.json")) {
				t.Errorf("yarn installed %s, built for another platform", name)
			}
		}
	})
}
