package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLiveGoModuleProxy downloads larder's own module graph through larder
// from the public Go module proxy, each module verified against the public
// checksum database through larder's mirror of it (no go.sum: go looks
// every module up), then again with larder --offline and an empty module
// cache. Off by default: LARDER_LIVE_GO=1.
func TestLiveGoModuleProxy(t *testing.T) {
	if os.Getenv("LARDER_LIVE_GO") != "1" {
		t.Skip("set LARDER_LIVE_GO=1 to download from the public Go module proxy and checksum database")
	}
	ours, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	ourSum, err := os.ReadFile(filepath.Join("..", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	l := startLarder(t, `
[[registry]]
name = "go"
kind = "go"
upstream = "https://proxy.golang.org/"
sumdb = "sum.golang.org"
`)
	p := newGoProjectWith(t, l, "sum.golang.org "+l.URL+"/go/sumdb/sum.golang.org", map[string]string{"go.mod": string(ours)})
	downloaded := func(what string) {
		t.Helper()
		p.mustRun("mod", "download")
		sum, err := os.ReadFile(filepath.Join(p.dir, "go.sum"))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		lines := strings.Split(strings.TrimSpace(string(sum)), "\n")
		if len(lines) < 20 {
			t.Fatalf("%s: go.sum has %d lines", what, len(lines))
		}
		// Every hash go took from the database through larder is the
		// one larder's own go.sum records.
		for _, line := range lines {
			if !strings.Contains(string(ourSum), line+"\n") {
				t.Errorf("%s: go.sum line %q is not in larder's go.sum", what, line)
			}
		}
	}
	downloaded("through larder from the public proxy")
	l.restart("--offline")
	p.freshCache()
	downloaded("offline")
}
