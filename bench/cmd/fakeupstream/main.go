// Command fakeupstream is the upstream of larder's speed benchmark
// (bench/run.sh). It starts an npmtest.Server and a pypitest.Server on
// 127.0.0.1. The npm one publishes
//
//   - a large package (default "bench-big") with 3,000 versions whose version
//     objects look like the registry's (dependencies, devDependencies,
//     engines, scripts, repository, keywords, a readme per version, dist with
//     integrity, shasum, tarball and signatures), about 10 MB in full;
//   - a package with a ~1 MB tarball ("bench-large-tgz") and one with a ~10 KB
//     tarball ("bench-small-tgz"), each at version 1.0.0;
//
// a gomodtest.Server (a Go module proxy with its checksum database) that
// publishes a module with a ~1 MB zip ("example.com/bench" v1.0.0), and the
// PyPI one
//
//   - a project with many files (default "bench-many": 400 versions of 5
//     files each, an sdist and 4 platform wheels, 2,000 in all) with
//     requires-python, upload times, PEP 658 metadata for the wheels and a few
//     yanked releases, as pypi.org lists them;
//   - a project with one large wheel ("bench-large-whl", 50 MiB, its payload
//     stored uncompressed and random, so incompressible);
//
// a cargotest.Server (a sparse registry serving its own .crate files)
// with one crate ("bench-crate" 1.0.0) whose .crate holds 200 KiB of
// random bytes, about the size of a popular crate's; on a
// rubygemstest.Server, a gem of ~1 MB ("bench-gem" 1.0.0, random bytes:
// larder checks only their sha256, which its info file declares); a
// gomodtest.Server (a Go module proxy with its checksum database) with a
// module whose zip holds 1 MiB of random bytes; and a maventest.Server, a
// Maven repository with a ~1 MB jar (com.example:bench-jar:1.0, its POM
// and checksum files), and with -maven-dir a folder of real ones
// (bench/maven.sh).
//
// It prints eight lines: the npm server's base URL, the PyPI index URL
// (".../simple/"), the PyPI files host URL, the sparse registry's URL,
// the RubyGems server's base URL, the Go module proxy's URL, its checksum
// database's verifier key and, last, the Maven repository's URL; then
// serves until it is sent
// SIGINT or SIGTERM. Everything is generated from a fixed seed, so every run
// serves the same bytes.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/larder-mirror/larder/cargo/cargotest"
	"github.com/larder-mirror/larder/gomod/gomodtest"
	"github.com/larder-mirror/larder/maven/maventest"
	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
	"github.com/larder-mirror/larder/rubygems/rubygemstest"
)

func main() {
	big := flag.String("big", "bench-big", "name of the package with many versions")
	versions := flag.Int("versions", 3000, "versions of the big package")
	readme := flag.Int("readme-bytes", 1750, "bytes of readme in each version object")
	largeName := flag.String("large", "bench-large-tgz", "name of the package with the large tarball")
	largeSize := flag.Int("large-bytes", 1<<20, "bytes of incompressible content in the large tarball")
	smallName := flag.String("small", "bench-small-tgz", "name of the package with the small tarball")
	smallSize := flag.Int("small-bytes", 10<<10, "bytes of incompressible content in the small tarball")
	manyName := flag.String("pypi-many", "bench-many", "name of the PyPI project with many files")
	manyVersions := flag.Int("pypi-versions", 400, "versions of the PyPI project with many files (5 files each)")
	wheelName := flag.String("pypi-large", "bench-large-whl", "name of the PyPI project with the large wheel")
	wheelSize := flag.Int("pypi-large-bytes", 50<<20, "bytes of incompressible content in the large wheel")
	crateName := flag.String("crate", "bench-crate", "name of the crate")
	crateSize := flag.Int("crate-bytes", 200<<10, "bytes of incompressible content in the .crate")
	gemName := flag.String("gem", "bench-gem", "name of the gem")
	gemSize := flag.Int("gem-bytes", 1<<20, "bytes of the gem")
	jarName := flag.String("maven-jar", "bench-jar", "artifact id of the Maven jar (group com.example, version 1.0)")
	jarSize := flag.Int("maven-jar-bytes", 1<<20, "bytes of incompressible content in the Maven jar")
	mavenDir := flag.String("maven-dir", "", "a folder in the Maven repository layout the Maven repository serves too (Debian's /usr/share/maven-repo)")
	goModule := flag.String("go-module", "example.com/bench", "path of the Go module with the large zip (version v1.0.0)")
	goSize := flag.Int("go-bytes", 1<<20, "bytes of incompressible content in the Go module's zip")
	flag.Parse()

	start := time.Now()
	s := npmtest.New()
	defer s.Close()

	rng := rand.New(rand.NewChaCha8([32]byte{'l', 'a', 'r', 'd', 'e', 'r'}))
	publishBig(s, rng, *big, *versions, *readme)
	for _, p := range []struct {
		name string
		size int
	}{{*largeName, *largeSize}, {*smallName, *smallSize}} {
		blob := make([]byte, p.size)
		for i := range blob {
			blob[i] = byte(rng.Uint32())
		}
		manifest := map[string]any{
			"name": p.name, "version": "1.0.0", "description": "benchmark tarball of " + fmt.Sprint(p.size) + " bytes",
			"main": "index.js", "license": "MIT",
		}
		s.PublishTarball(p.name, "1.0.0", tarball(manifest, map[string][]byte{
			"index.js": []byte("module.exports = require('./data.bin');\n"),
			"data.bin": blob,
		}), map[string]string{})
	}

	py := pypitest.New()
	defer py.Close()
	publishMany(py, rng, *manyName, *manyVersions)
	publishLargeWheel(py, *wheelName, *wheelSize)

	crates := cargotest.New()
	defer crates.Close()
	payload := make([]byte, *crateSize)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	crates.PublishBytes(*crateName, "1.0.0", cargotest.Crate(*crateName, "1.0.0", map[string]string{
		"src/lib.rs": "pub static DATA: &[u8] = include_bytes!(\"data.bin\");\n", "src/data.bin": string(payload),
	}))
	gems := rubygemstest.New()
	defer gems.Close()
	gem := make([]byte, *gemSize)
	for i := range gem {
		gem[i] = byte(rng.Uint32())
	}
	gems.Publish(rubygemstest.Gem{Name: *gemName, Version: "1.0.0", Body: gem})
	mvn := maventest.New()
	defer mvn.Close()
	if *mavenDir != "" {
		mvn.ServeDir(*mavenDir)
	}
	jar := make([]byte, *jarSize)
	for i := range jar {
		jar[i] = byte(rng.Uint32())
	}
	mvn.Publish("com.example", *jarName, "1.0", map[string][]byte{
		".jar": jar, ".pom": maventest.POM("com.example", *jarName, "1.0", ""),
	})
	gp := gomodtest.New()
	defer gp.Close()
	data := make([]byte, *goSize)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	gp.Publish(*goModule, "v1.0.0", map[string]string{"bench.go": "package bench\n", "data.bin": string(data)})

	fmt.Println(s.URL)
	fmt.Println(py.IndexURL)
	fmt.Println(py.FilesURL)
	fmt.Println(crates.URL)
	fmt.Println(gems.URL)
	fmt.Println(gp.URL)
	fmt.Println(gomodtest.VerifierKey)
	fmt.Println(mvn.URL)
	fmt.Fprintf(os.Stderr, "fakeupstream: npm %s, PyPI %s (files %s), cargo %s, RubyGems %s, Go %s, Maven %s ready in %s\n", s.URL, py.IndexURL, py.FilesURL, crates.URL, gems.URL, gp.URL, mvn.URL, time.Since(start).Round(time.Millisecond))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

// words make readmes and descriptions that compress like prose, not like a
// repeated block.
var words = strings.Fields(`the a an of to in for with on by from at as is are be this that it
install usage example options returns function value default string number object array
promise callback stream buffer error event module package version release changelog fix
feature breaking deprecated support node browser typescript types config parser request
response server client cache file path url header body json async await import export
test build lint bundle minify transform plugin middleware router handler logger retry
timeout queue worker pool connection socket http https proxy registry mirror tarball`)

var depPool = strings.Fields(`lodash debug ms semver chalk commander yargs minimist glob
rimraf mkdirp uuid qs mime tslib inherits safe-buffer readable-stream string_decoder
supports-color ansi-styles color-convert escape-string-regexp has-flag js-tokens
@babel/runtime @types/node @scope/util core-js regenerator-runtime once wrappy
graceful-fs picomatch micromatch braces fill-range to-regex-range is-number`)

func sentence(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.String()
}

// readmeText is markdown of about n bytes.
func readmeText(rng *rand.Rand, name, version string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s.\n\n## Install\n\n```sh\nnpm install %s@%s\n```\n\n", name, sentence(rng, 12), name, version)
	for b.Len() < n {
		fmt.Fprintf(&b, "## %s\n\n%s.\n\n", sentence(rng, 3), sentence(rng, 40))
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, "```js\nconst x = require('%s');\nx.%s({ %s: %d });\n```\n\n", name, words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(1000))
		}
	}
	return b.String()[:n]
}

func ranges(rng *rand.Rand, n int) map[string]string {
	m := map[string]string{}
	for len(m) < n {
		m[depPool[rng.IntN(len(depPool))]] = fmt.Sprintf("^%d.%d.%d", rng.IntN(8), rng.IntN(20), rng.IntN(10))
	}
	return m
}

func publishBig(s *npmtest.Server, rng *rand.Rand, name string, n, readmeBytes int) {
	for i := range n {
		version := fmt.Sprintf("%d.%d.%d", i/500, (i/20)%25, i%20)
		deps := ranges(rng, 2+rng.IntN(7))
		manifest := map[string]any{
			"name":            name,
			"version":         version,
			"description":     sentence(rng, 10),
			"main":            "lib/index.js",
			"types":           "lib/index.d.ts",
			"license":         "MIT",
			"author":          map[string]string{"name": "Bench Author", "email": "bench@example.invalid"},
			"homepage":        "https://github.com/larder-mirror/" + name + "#readme",
			"repository":      map[string]string{"type": "git", "url": "git+https://github.com/larder-mirror/" + name + ".git"},
			"bugs":            map[string]string{"url": "https://github.com/larder-mirror/" + name + "/issues"},
			"keywords":        strings.Fields(sentence(rng, 5)),
			"engines":         map[string]string{"node": fmt.Sprintf(">=%d", 12+rng.IntN(8))},
			"scripts":         map[string]string{"test": "node --test", "build": "tsc -p ."},
			"devDependencies": ranges(rng, 2+rng.IntN(4)),
			"gitHead":         fmt.Sprintf("%016x%016x%08x", rng.Uint64(), rng.Uint64(), rng.Uint32()),
			"readme":          readmeText(rng, name, version, readmeBytes),
			"readmeFilename":  "README.md",
		}
		s.PublishTarball(name, version, tarball(manifest, map[string][]byte{
			"lib/index.js": fmt.Appendf(nil, "module.exports = %q;\n", version),
		}), deps)
	}
}

// tarball packs package/package.json (the manifest) and files as npm pack
// does: fixed times, gzip without a name or time.
func tarball(manifest map[string]any, files map[string][]byte) []byte {
	pj, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	add := func(name string, body []byte) {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "package/" + name, Mode: 0o644, Size: int64(len(body)),
			ModTime: time.Date(1985, time.October, 26, 8, 15, 0, 0, time.UTC), Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err)
		}
		if _, err := tw.Write(body); err != nil {
			panic(err)
		}
	}
	add("package.json", append(pj, '\n'))
	for _, name := range slices.Sorted(maps.Keys(files)) {
		add(name, files[name])
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	if err := gz.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// pyPlatforms are the wheel platform tags of the many-files project, each
// built for two CPython versions (with the sdist: 5 files a version).
var pyPlatforms = []string{
	"manylinux_2_17_x86_64.manylinux2014_x86_64",
	"macosx_11_0_arm64",
}

// publishMany adds n versions of project, five files each: the sdist and
// wheels for two CPython versions on two platforms. Versions run from 0.1.0
// over 2017-2025 with a pre-release now and then; the oldest supported Python
// rises with time (requires-python ">=3.6" ... ">=3.12", with "<4" on some);
// a version in 40 is yanked. Wheels have PEP 658 metadata, sdists not, as on
// pypi.org. File contents are small distinct random bytes: only the pages are
// measured for this project.
func publishMany(py *pypitest.Server, rng *rand.Rand, project string, n int) {
	dist := strings.ReplaceAll(pypitest.Normalize(project), "-", "_")
	first := time.Date(2017, time.March, 6, 14, 0, 0, 0, time.UTC)
	step := 8 * 365 * 24 * time.Hour / time.Duration(max(n, 1))
	for i := range n {
		major, minor, patch := i/100, (i/10)%10+1, i%10
		version := fmt.Sprintf("%d.%d.%d", major, minor, patch)
		switch {
		case patch == 0 && minor%3 == 1:
			version = fmt.Sprintf("%d.%d.0rc1", major, minor)
		case patch == 9 && minor%4 == 2:
			version = fmt.Sprintf("%d.%d.9.post1", major, minor)
		}
		py3 := 6 + i*7/max(n, 1) // oldest supported CPython minor: 3.6 ... 3.12
		requires := fmt.Sprintf(">=3.%d", py3)
		if i%3 == 0 {
			requires += ",<4"
		}
		deps := []string{fmt.Sprintf("numpy>=1.%d", 10+i%15), "typing-extensions>=4.0; python_version < \"3.11\""}
		meta := pypitest.WheelMetadata(project, version, deps, requires)
		uploaded := first.Add(time.Duration(i) * step)
		yanked := i%40 == 17
		add := func(filename string, metadata []byte) {
			data := make([]byte, 2048+rng.IntN(4096))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			uploaded = uploaded.Add(time.Duration(30+rng.IntN(600)) * time.Second)
			opts := pypitest.FileOpts{RequiresPython: requires, Metadata: metadata, UploadTime: uploaded}
			if yanked {
				opts.Yanked, opts.YankedReason = true, "broken build on "+version
			}
			py.AddFile(project, filename, data, opts)
		}
		add(fmt.Sprintf("%s-%s.tar.gz", dist, version), nil)
		for _, cp := range []int{py3, py3 + 1} {
			for _, plat := range pyPlatforms {
				add(fmt.Sprintf("%s-%s-cp3%d-cp3%d-%s.whl", dist, version, cp, cp, plat), meta)
			}
		}
	}
}

// publishLargeWheel adds one wheel of project, version 1.0.0, whose payload
// is size random bytes stored without compression: a wheel of size bytes
// and a little more that no gzip would shrink.
func publishLargeWheel(py *pypitest.Server, project string, size int) {
	dist := strings.ReplaceAll(pypitest.Normalize(project), "-", "_")
	version := "1.0.0"
	filename := fmt.Sprintf("%s-%s-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", dist, version)
	payload := make([]byte, size)
	rand.NewChaCha8([32]byte{'w', 'h', 'e', 'e', 'l'}).Read(payload)
	meta := pypitest.WheelMetadata(project, version, nil, ">=3.12")
	info := dist + "-" + version + ".dist-info"

	var buf bytes.Buffer
	buf.Grow(size + 4096)
	zw := zip.NewWriter(&buf)
	add := func(name string, method uint16, data []byte) {
		h := &zip.FileHeader{Name: name, Method: method, Modified: time.Date(2024, time.May, 1, 0, 0, 0, 0, time.UTC)}
		h.SetMode(0o644)
		w, err := zw.CreateHeader(h)
		if err != nil {
			panic(err)
		}
		if _, err := w.Write(data); err != nil {
			panic(err)
		}
	}
	add(dist+"/__init__.py", zip.Deflate, fmt.Appendf(nil, "__version__ = %q\n", version))
	add(dist+"/_data.bin", zip.Store, payload)
	add(info+"/METADATA", zip.Deflate, meta)
	add(info+"/WHEEL", zip.Deflate, []byte("Wheel-Version: 1.0\nGenerator: fakeupstream\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_x86_64\nTag: cp312-cp312-manylinux2014_x86_64\n\n"))
	if err := zw.Close(); err != nil {
		panic(err)
	}
	py.AddFile(project, filename, buf.Bytes(), pypitest.FileOpts{
		RequiresPython: ">=3.12",
		Metadata:       meta,
		UploadTime:     time.Date(2024, time.May, 1, 12, 0, 0, 0, time.UTC),
	})
}
