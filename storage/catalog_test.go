package storage

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/larder-mirror/larder/migrations"
)

func commit(t *testing.T, d *DB, pkg, path string, size int64) {
	t.Helper()
	a := Artifact{Registry: "npm", Path: path, Package: pkg, Version: "1.0.0", UpstreamURL: "https://registry.example/" + path}
	if err := d.CommitArtifact(t.Context(), a, KeptBlob{Digest: DigestOf([]byte(path)), Size: size}, at(0)); err != nil {
		t.Fatalf("CommitArtifact %s: %v", path, err)
	}
}

func counts(t *testing.T, d *DB, pkg string) (files, bytes int64) {
	t.Helper()
	p, err := d.Package(t.Context(), "npm", pkg)
	if err != nil {
		t.Fatalf("Package %s: %v", pkg, err)
	}
	return p.Files, p.Bytes
}

func TestPackageCountersFollowCommitsAndForgets(t *testing.T) {
	d := newTestDB(t)
	ctx := t.Context()
	steps := []struct {
		name         string
		do           func()
		files, bytes int64
	}{
		{"a first file counts", func() { commit(t, d, "leaf", "leaf/-/leaf-1.0.0.tgz", 100) }, 1, 100},
		{"a second file adds", func() { commit(t, d, "leaf", "leaf/-/leaf-1.1.0.tgz", 50) }, 2, 150},
		{"committing a held file again counts it once", func() { commit(t, d, "leaf", "leaf/-/leaf-1.0.0.tgz", 100) }, 2, 150},
		{"a file announced and then committed counts", func() {
			a := Artifact{Registry: "npm", Path: "leaf/-/leaf-2.0.0.tgz", Package: "leaf", Version: "2.0.0", UpstreamURL: "u"}
			if err := d.AnnounceArtifacts(ctx, "npm", []Artifact{a}); err != nil {
				t.Fatal(err)
			}
			commit(t, d, "leaf", a.Path, 7)
		}, 3, 157},
		{"forgetting takes it away", func() {
			if err := d.ForgetArtifact(ctx, "npm", "leaf/-/leaf-1.1.0.tgz"); err != nil {
				t.Fatal(err)
			}
		}, 2, 107},
		{"forgetting twice takes it away once", func() {
			if err := d.ForgetArtifact(ctx, "npm", "leaf/-/leaf-1.1.0.tgz"); err != nil {
				t.Fatal(err)
			}
		}, 2, 107},
		{"forgetting what was never there changes nothing", func() {
			if err := d.ForgetArtifact(ctx, "npm", "leaf/-/leaf-9.tgz"); err != nil {
				t.Fatal(err)
			}
		}, 2, 107},
		{"fetching it again counts it again", func() { commit(t, d, "leaf", "leaf/-/leaf-1.1.0.tgz", 50) }, 3, 157},
	}
	for _, s := range steps {
		s.do()
		if files, bytes := counts(t, d, "leaf"); files != s.files || bytes != s.bytes {
			t.Errorf("%s: files %d bytes %d, want %d and %d", s.name, files, bytes, s.files, s.bytes)
		}
	}
	// A path another package's document announced stays that package's:
	// the upsert keeps the row's package, so the counters follow it.
	other := Artifact{Registry: "npm", Path: "shared/-/shared-1.0.0.tgz", Package: "owner", Version: "1.0.0", UpstreamURL: "u"}
	if err := d.AnnounceArtifacts(ctx, "npm", []Artifact{other}); err != nil {
		t.Fatal(err)
	}
	commit(t, d, "leaf", other.Path, 40)
	commit(t, d, "leaf", other.Path, 40)
	if files, bytes := counts(t, d, "owner"); files != 1 || bytes != 40 {
		t.Errorf("the announcing package: files %d bytes %d, want 1 and 40", files, bytes)
	}
	if files, bytes := counts(t, d, "leaf"); files != 3 || bytes != 157 {
		t.Errorf("the committing package after another's file: files %d bytes %d, want 3 and 157", files, bytes)
	}
	if _, err := d.Package(ctx, "npm", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Package of an unknown name: %v, want ErrNotFound", err)
	}
}

func TestTheCatalogMigrationCountsFilesAlreadyHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "larder.db")
	// A database as the first release left it.
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	first := migrations.All()[0]
	for _, q := range []string{
		first.SQL,
		`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`,
		`INSERT INTO schema_migrations VALUES ('` + first.Name + `', 1)`,
		`INSERT INTO packages (registry, name, first_seen_at) VALUES ('npm', 'a', 1), ('npm', 'b', 1), ('pypi', 'a', 1)`,
		`INSERT INTO artifacts (registry, path, package, version, upstream_url, sha256, size) VALUES
			('npm', 'a/1', 'a', '1', 'u', 'x', 10), ('npm', 'a/2', 'a', '2', 'u', 'y', 5),
			('npm', 'a/3', 'a', '3', 'u', NULL, NULL), ('pypi', 'a/1', 'a', '1', 'u', 'z', 1000)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	d, err := OpenDB(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tt := range []struct {
		registry, name string
		files, bytes   int64
	}{{"npm", "a", 2, 15}, {"npm", "b", 0, 0}, {"pypi", "a", 1, 1000}} {
		p, err := d.Package(t.Context(), tt.registry, tt.name)
		if err != nil || p.Files != tt.files || p.Bytes != tt.bytes {
			t.Errorf("%s/%s: %+v %v, want %d files of %d bytes", tt.registry, tt.name, p, err, tt.files, tt.bytes)
		}
	}
}

// fillCatalog writes packages straight into the table: name, hits, last
// served (seconds after at(0)), bytes.
func fillCatalog(t testing.TB, d *DB, registry string, rows ...PackageRow) {
	t.Helper()
	for _, r := range rows {
		if _, err := d.sql.Exec(`INSERT INTO packages (registry, name, first_seen_at, last_served_at, hits, files, bytes) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			registry, r.Name, millis(at(0)), millis(r.LastServed), r.Hits, r.Files, r.Bytes); err != nil {
			t.Fatal(err)
		}
	}
}

func pageNames(p PackagePage) []string {
	var out []string
	for _, r := range p.Packages {
		out = append(out, r.Name)
	}
	return out
}

func TestCatalogSearchesSortsAndPages(t *testing.T) {
	d := newTestDB(t)
	fillCatalog(t, d, "npm",
		PackageRow{Name: "leaf", Hits: 5, LastServed: at(30), Files: 2, Bytes: 300},
		PackageRow{Name: "@acme/leafy", Hits: 5, LastServed: at(10), Files: 1, Bytes: 100},
		PackageRow{Name: "JSONStream", Hits: 1, Files: 1, Bytes: 900},
		PackageRow{Name: "mid", Hits: 9, LastServed: at(20), Files: 1, Bytes: 100},
		PackageRow{Name: "100%_sure", Hits: 0},
	)
	fillCatalog(t, d, "other", PackageRow{Name: "leaf", Hits: 100})
	c := NewCatalog(d, -1)
	all := []string{"100%_sure", "@acme/leafy", "JSONStream", "leaf", "mid"}
	tests := []struct {
		name  string
		q     PackageQuery
		total int
		want  []string
	}{
		{"the zero query lists every package by name", PackageQuery{}, 5, all},
		{"descending name order is the reverse", PackageQuery{Sort: SortName, Desc: true}, 5, []string{"mid", "leaf", "JSONStream", "@acme/leafy", "100%_sure"}},
		{"hits ascending breaks ties by name", PackageQuery{Sort: SortHits}, 5, []string{"100%_sure", "JSONStream", "@acme/leafy", "leaf", "mid"}},
		{"hits descending breaks ties by name descending", PackageQuery{Sort: SortHits, Desc: true}, 5, []string{"mid", "leaf", "@acme/leafy", "JSONStream", "100%_sure"}},
		{"last used descending puts the never used last", PackageQuery{Sort: SortLastUsed, Desc: true}, 5, []string{"leaf", "mid", "@acme/leafy", "JSONStream", "100%_sure"}},
		{"size ascending", PackageQuery{Sort: SortSize}, 5, []string{"100%_sure", "@acme/leafy", "mid", "leaf", "JSONStream"}},
		{"a substring search ignores case", PackageQuery{Search: "STREAM"}, 1, []string{"JSONStream"}},
		{"a substring search finds the middle of a name", PackageQuery{Search: "eaf"}, 2, []string{"@acme/leafy", "leaf"}},
		{"a prefix search finds only starts", PackageQuery{Search: "leaf", Prefix: true}, 1, []string{"leaf"}},
		{"a prefix search with a scope", PackageQuery{Search: "@acme/", Prefix: true}, 1, []string{"@acme/leafy"}},
		{"wildcards are plain characters", PackageQuery{Search: "%_"}, 1, []string{"100%_sure"}},
		{"a search sorted by hits", PackageQuery{Search: "ea", Sort: SortHits, Desc: true}, 3, []string{"leaf", "@acme/leafy", "JSONStream"}},
		{"a search that matches nothing", PackageQuery{Search: "zzz"}, 0, nil},
		{"the first page", PackageQuery{Limit: 2}, 5, all[:2]},
		{"a middle page", PackageQuery{Limit: 2, Offset: 2}, 5, all[2:4]},
		{"the last page is short", PackageQuery{Limit: 2, Offset: 4}, 5, all[4:]},
		{"a page past the end is empty but keeps the total", PackageQuery{Limit: 2, Offset: 6}, 5, nil},
		{"a negative offset is the start", PackageQuery{Limit: 1, Offset: -3}, 5, all[:1]},
		{"paging a search", PackageQuery{Search: "ea", Limit: 1, Offset: 1}, 3, []string{"JSONStream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := c.List(t.Context(), "npm", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != tt.total || !slices.Equal(pageNames(page), tt.want) {
				t.Errorf("got %d %q, want %d %q", page.Total, pageNames(page), tt.total, tt.want)
			}
		})
	}
	if _, err := c.List(t.Context(), "npm", PackageQuery{Sort: "colour"}); err == nil {
		t.Error("an unknown sort was accepted")
	}
	page, err := c.List(t.Context(), "nothing-here", PackageQuery{})
	if err != nil || page.Total != 0 || len(page.Packages) != 0 {
		t.Errorf("an empty registry: %+v %v", page, err)
	}
	tot, err := c.Totals(t.Context(), "npm")
	if err != nil || tot != (RegistryTotals{Packages: 5, Files: 5, Bytes: 1400}) {
		t.Errorf("totals %+v %v", tot, err)
	}
	if dbTot, err := d.RegistryTotals(t.Context(), "npm"); err != nil || dbTot != tot {
		t.Errorf("the database's totals %+v %v differ from the catalog's %+v", dbTot, err, tot)
	}
}

func TestCatalogLimitsPageSize(t *testing.T) {
	d := newTestDB(t)
	for i := range 1200 {
		fillCatalog(t, d, "npm", PackageRow{Name: fmt.Sprintf("p%04d", i)})
	}
	c := NewCatalog(d, -1)
	for _, tt := range []struct{ limit, want int }{{0, 50}, {-1, 50}, {10, 10}, {5000, 1000}} {
		page, err := c.List(t.Context(), "npm", PackageQuery{Limit: tt.limit})
		if err != nil || len(page.Packages) != tt.want || page.Total != 1200 {
			t.Errorf("limit %d: %d rows of %d (%v), want %d", tt.limit, len(page.Packages), page.Total, err, tt.want)
		}
	}
}

func TestCatalogAnswersFromAFreshSnapshotAndChecksAStaleOne(t *testing.T) {
	d := newTestDB(t)
	fillCatalog(t, d, "npm", PackageRow{Name: "a"})
	c := NewCatalog(d, 500*time.Millisecond)
	total := func() int64 {
		t.Helper()
		page, err := c.List(t.Context(), "npm", PackageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return int64(page.Total)
	}
	if n := total(); n != 1 {
		t.Fatalf("%d packages", n)
	}
	// A change made behind larder's back (here raw SQL; in production,
	// nothing) waits for the snapshot to age.
	fillCatalog(t, d, "npm", PackageRow{Name: "b"})
	if n := total(); n != 1 {
		t.Errorf("a fresh snapshot was read again: %d packages", n)
	}
	time.Sleep(600 * time.Millisecond)
	if n := total(); n != 2 {
		t.Errorf("a stale snapshot of a small registry was not read again at once: %d packages", n)
	}
	fillCatalog(t, d, "npm", PackageRow{Name: "c"})
	c.Invalidate()
	if n := total(); n != 3 {
		t.Errorf("after Invalidate: %d packages", n)
	}

	t.Run("a large registry's stale snapshot answers while it is read again", func(t *testing.T) {
		c.syncRows = 2
		fillCatalog(t, d, "npm", PackageRow{Name: "d"})
		time.Sleep(600 * time.Millisecond)
		if n := total(); n != 3 {
			t.Errorf("the stale snapshot did not answer: %d packages", n)
		}
		deadline := time.Now().Add(5 * time.Second)
		for total() != 4 {
			if time.Now().After(deadline) {
				t.Fatal("the snapshot was never refreshed")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// A package larder just fetched is listed at once, however fresh the
// snapshot: the overview counts it from the database, and a list missing
// it would contradict that.
func TestCatalogListsAFetchedPackageAtOnce(t *testing.T) {
	d := newTestDB(t)
	c := NewCatalog(d, time.Hour)
	names := func() []string {
		t.Helper()
		page, err := c.List(t.Context(), "npm", PackageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return pageNames(page)
	}
	if got := names(); len(got) != 0 {
		t.Fatalf("an empty registry lists %q", got)
	}
	commit(t, d, "leaf", "leaf/-/leaf-1.0.0.tgz", 100)
	if got := names(); !slices.Equal(got, []string{"leaf"}) {
		t.Errorf("after a fetch the list is %q, want [leaf]", got)
	}
}

func fill100k(b *testing.B) *DB {
	d, err := OpenDB(b.Context(), filepath.Join(b.TempDir(), "larder.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	tx, _ := d.sql.Begin()
	for i := range 100_000 {
		tx.Exec(`INSERT INTO packages (registry, name, first_seen_at, hits, bytes) VALUES ('npm', ?, 1, ?, ?)`, fmt.Sprintf("package-%06d", i), i%97, i%1013)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkCatalogLoad100k is a first read of 100,000 packages: what a page
// waits for once after start (Warm does it ahead) and what a background
// refresh costs.
func BenchmarkCatalogLoad100k(b *testing.B) {
	d := fill100k(b)
	for b.Loop() {
		c := NewCatalog(d, -1)
		if _, err := c.Totals(b.Context(), "npm"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCatalogCheck100k is the check of a stale snapshot of 100,000
// packages that nothing changed: the fingerprint query alone.
func BenchmarkCatalogCheck100k(b *testing.B) {
	d := fill100k(b)
	c := NewCatalog(d, -1)
	if _, err := c.Totals(b.Context(), "npm"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Totals(b.Context(), "npm"); err != nil {
			b.Fatal(err)
		}
	}
}
