package web

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// benchWords make npm-like names: "json-stream-4242", "@react/parse-core-18".
var benchWords = []string{"react", "lodash", "parse", "json", "stream", "core", "util", "babel", "plugin", "loader", "eslint", "config", "types", "http", "client", "server", "async", "color", "string", "path"}

// fillBench writes n packages into the store's database in one statement:
// what n installs would have left in the catalog, with varied hits, sizes
// and dates (a quarter never served).
func fillBench(t testing.TB, l *testLarder, registry string, n int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(l.store.Dir, "larder.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var words []string
	for k, w := range benchWords {
		words = append(words, fmt.Sprintf("(%d, '%s')", k, w))
	}
	base := now.Add(-30 * 24 * time.Hour).UnixMilli()
	q := fmt.Sprintf(`WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < %d),
		words(k, w) AS (VALUES %s)
		INSERT INTO packages (registry, name, first_seen_at, last_served_at, hits, files, bytes)
		SELECT ?, CASE WHEN i %% 9 = 0 THEN '@' || w2.w || '/' ELSE '' END || w1.w || '-' || w2.w || '-' || i,
			?, CASE WHEN i %% 4 = 0 THEN 0 ELSE ? + (i * 7919 %% 2592000) * 1000 END,
			i * 31 %% 5000, 1 + i %% 5, 1000 + i * 7919 %% 2000000
		FROM seq JOIN words w1 ON w1.k = i %% %d JOIN words w2 ON w2.k = (i / %d) %% %d`,
		n-1, strings.Join(words, ", "), len(benchWords), len(benchWords), len(benchWords))
	if _, err := db.Exec(q, registry, base, base); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRegistryPage100k renders the registry page over 100,000 packages:
// the first, a middle and the last page in several sorts, and searches. The
// catalog is read once before the clock starts; BenchmarkCatalogLoad100k in
// storage measures that read.
func BenchmarkRegistryPage100k(b *testing.B) {
	const n = 100_000
	l := newTestLarder(b, "npm")
	fillBench(b, l, "npm", n)
	l.reconfigure(func(c *Config) { c.CatalogMaxAge = 0 })
	for _, bc := range []struct{ name, query string }{
		{"first page", ""},
		{"middle page", "?page=1000"},
		{"last page", "?page=2000"},
		{"last page by hits", "?sort=hits&page=2000"},
		{"middle page by size ascending", "?sort=size&dir=asc&page=1000"},
		{"last page by last use", "?sort=last_used&page=2000"},
		{"search substring", "?q=json-str"},
		{"search substring by hits", "?q=stream&sort=hits"},
		{"search prefix", "?q=%40react%2F&match=prefix"},
		{"search that finds nothing", "?q=no-such-name"},
		{"search last page", "?q=react&page=100"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			target := "/r/npm" + bc.query
			if r := l.get(b, target); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `id="count"`) {
				b.Fatalf("%s: %d\n%s", target, r.StatusCode, r.body)
			}
			req := httptest.NewRequest(http.MethodGet, target, nil).WithContext(context.Background())
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				l.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// BenchmarkAPIPackages100k is the JSON list a script pages through.
func BenchmarkAPIPackages100k(b *testing.B) {
	l := newTestLarder(b, "npm")
	fillBench(b, l, "npm", 100_000)
	l.reconfigure(func(c *Config) { c.CatalogMaxAge = 0 })
	for _, q := range []string{"?page=2000", "?q=json&per_page=1000"} {
		b.Run(q, func(b *testing.B) {
			target := "/api/v1/registries/npm/packages" + q
			l.get(b, target)
			req := httptest.NewRequest(http.MethodGet, target, nil)
			for b.Loop() {
				w := httptest.NewRecorder()
				l.h.ServeHTTP(w, req)
			}
		})
	}
}
