// Command fakeupstream is the npm upstream of larder's speed benchmark
// (bench/run.sh). It starts an npmtest.Server on 127.0.0.1, publishes
//
//   - a large package (default "bench-big") with 3,000 versions whose version
//     objects look like the registry's (dependencies, devDependencies,
//     engines, scripts, repository, keywords, a readme per version, dist with
//     integrity, shasum, tarball and signatures), about 10 MB in full;
//   - a package with a ~1 MB tarball ("bench-large-tgz") and one with a ~10 KB
//     tarball ("bench-small-tgz"), each at version 1.0.0;
//
// prints the server's base URL on a line of its own, and serves until it is
// sent SIGINT or SIGTERM. Everything is generated from a fixed seed, so every
// run serves the same bytes.
package main

import (
	"archive/tar"
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

	"github.com/larder-mirror/larder/npm/npmtest"
)

func main() {
	big := flag.String("big", "bench-big", "name of the package with many versions")
	versions := flag.Int("versions", 3000, "versions of the big package")
	readme := flag.Int("readme-bytes", 1750, "bytes of readme in each version object")
	largeName := flag.String("large", "bench-large-tgz", "name of the package with the large tarball")
	largeSize := flag.Int("large-bytes", 1<<20, "bytes of incompressible content in the large tarball")
	smallName := flag.String("small", "bench-small-tgz", "name of the package with the small tarball")
	smallSize := flag.Int("small-bytes", 10<<10, "bytes of incompressible content in the small tarball")
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

	fmt.Println(s.URL)
	fmt.Fprintf(os.Stderr, "fakeupstream: %s ready in %s\n", s.URL, time.Since(start).Round(time.Millisecond))

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
