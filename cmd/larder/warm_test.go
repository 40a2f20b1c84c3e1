package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Warming fills the cache for later installs: it is no use of a package,
// so it counts no hit, sets no "last served" and adds no traffic, on the
// front's quick path and on the handler alike.
func TestWarmCountsNoHitNoLastServedAndNoTraffic(t *testing.T) {
	m := startMirror(t, nil)
	ctx := context.Background()
	items := []warmItem{
		{registry: "npm", pin: registries.Pin{Label: "leftpad@1.0.0", File: registries.PinnedFile{Path: "leftpad/-/leftpad-1.0.0.tgz"}}},
		{registry: "npm", pin: registries.Pin{Label: "big@1.0.0", File: registries.PinnedFile{Path: "big/-/big-1.0.0.tgz"}}},
		{registry: "pypi", pin: registries.Pin{Label: "tiny", File: registries.PinnedFile{Path: "files/tiny/" + m.wheel}}},
	}
	quiet := console{out: io.Discard, err: io.Discard}
	// First a fill from the upstream, then files held: the quick path's.
	for _, base := range []string{m.fast, m.std, m.fast} {
		for _, r := range warmAll(ctx, base, "", items, 2, quiet) {
			if r.status == "failed" {
				t.Fatalf("warming %s through %s: %v", r.label, base, r.err)
			}
		}
	}
	m.app.env.Hits.Flush(ctx)
	wantUses := func(t *testing.T, registry, pkg string, hits int64) {
		t.Helper()
		// A download's row commits behind its answer, and may wait a
		// quarter second for company (storage's deferred writers).
		var arts []storage.Artifact
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			arts, err = m.app.store.PackageArtifacts(ctx, registry, pkg)
			if err != nil || slices.ContainsFunc(arts, storage.Artifact.Cached) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || !slices.ContainsFunc(arts, storage.Artifact.Cached) {
			t.Fatalf("%s: %v, %d artifacts, none held", pkg, err, len(arts))
		}
		for _, a := range arts {
			if a.Cached() && (a.Hits != hits || (hits == 0) != a.LastServed.IsZero()) {
				t.Errorf("%s: %d hits, last served %v; want %d hits", a.Path, a.Hits, a.LastServed, hits)
			}
		}
		if row, err := m.app.store.Package(ctx, registry, pkg); err == nil && (row.Hits != hits || (hits == 0) != row.LastServed.IsZero()) {
			t.Errorf("package %s: %d hits, last served %v; want %d hits", pkg, row.Hits, row.LastServed, hits)
		}
	}
	wantUses(t, "npm", "leftpad", 0)
	wantUses(t, "npm", "big", 0)
	wantUses(t, "pypi", "tiny", 0)
	for _, up := range m.app.upstreams {
		if tot := up.Traffic().Since(24*time.Hour, time.Now()); tot.Cached+tot.Upstream != 0 {
			t.Errorf("%s: warming added traffic %+v", up.Options().Name, tot)
		}
	}

	// A client's download is a use.
	if resp, _ := m.do(t, m.fast, http.MethodGet, "/npm/leftpad/-/leftpad-1.0.0.tgz", nil); resp.StatusCode != 200 {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	m.app.env.Hits.Flush(ctx)
	wantUses(t, "npm", "leftpad", 1)
}
