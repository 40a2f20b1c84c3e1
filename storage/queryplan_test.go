package storage

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// queryPlan is how the database would run query: SQLite's EXPLAIN QUERY
// PLAN, or PostgreSQL's EXPLAIN with sequential scans and sorts priced out
// (on a test's few rows they cost less than any index, which would hide
// whether an index can serve the query at all).
func queryPlan(t *testing.T, d *DB, query string, args ...any) string {
	t.Helper()
	ctx := t.Context()
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	if d.postgres {
		explain = "EXPLAIN "
		for _, set := range []string{`SET enable_seqscan = off`, `SET enable_sort = off`} {
			if _, err := conn.ExecContext(ctx, set); err != nil {
				t.Fatal(err)
			}
		}
		defer conn.ExecContext(ctx, `RESET ALL`)
	}
	rows, err := conn.QueryContext(ctx, explain+query, args...)
	if err != nil {
		t.Fatalf("%s%s: %v", explain, query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		var detail sql.NullString
		for i := range vals {
			vals[i] = new(any)
		}
		vals[len(vals)-1] = &detail // the step's description is the last column in both
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail.String)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func TestEvictionReadsTheLeastRecentlyUsedFromAnIndexRatherThanSortingEveryHeldRow(t *testing.T) {
	d := newTestDB(t)
	plan := queryPlan(t, d, lruHeldQuery, 256)
	if !strings.Contains(plan, "artifacts_lru") {
		t.Errorf("the batch query of eviction does not use artifacts_lru:\n%s", plan)
	}
	// A sort of what the index returns would read every held row again.
	if strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort") {
		t.Errorf("the batch query of eviction sorts:\n%s", plan)
	}
}

func TestVerifyPagesThroughTheRowsOfEachTableByAnIndexRatherThanSorting(t *testing.T) {
	d := newTestDB(t)
	for _, tt := range []struct{ query, index string }{
		{artifactRefPage, "artifacts_by_sha256"},
		{documentRefPage, "documents_by_body"},
	} {
		plan := queryPlan(t, d, tt.query, "", 1000)
		if !strings.Contains(plan, tt.index) || strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort") {
			t.Errorf("%s\nwants to read %s in order; its plan:\n%s", tt.query, tt.index, plan)
		}
	}
}

// A package's rows are read by its index. Ordered by path, SQLite's planner
// walked the registry's primary key in path order instead, reading every
// artifact of the registry for each document stored: a cold install of n
// packages read n²/2 rows.
func TestAPackagesArtifactsAreReadByThePackageIndexNotTheWholeRegistry(t *testing.T) {
	d := newTestDB(t)
	// A registry of many packages. PostgreSQL's autovacuum analyses it, as
	// here: on an empty table it prices every index alike and picks any.
	// SQLite is left as larder leaves it, without statistics.
	tx, err := d.sql.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		pkg := fmt.Sprintf("pkg-%d", i/5)
		var sum any
		if i%2 == 0 {
			sum = fmt.Sprintf("%064x", i)
		}
		if _, err := tx.ExecContext(t.Context(), `INSERT INTO artifacts (registry, path, package, version, upstream_url, sha256, size)
			VALUES ('npm', ?, ?, ?, 'http://127.0.0.1/x.tgz', ?, 1)`, fmt.Sprintf("%s/-/%s-1.0.%d.tgz", pkg, pkg, i%5), pkg, fmt.Sprintf("1.0.%d", i%5), sum); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if d.postgres {
		if _, err := d.sql.ExecContext(t.Context(), `ANALYZE`); err != nil {
			t.Fatal(err)
		}
	}
	for _, query := range []string{packageArtifactsQuery, heldArtifactsQuery} {
		plan := queryPlan(t, d, query, "npm", "pkg-7")
		if !strings.Contains(plan, "artifacts_by_package") {
			t.Errorf("%s\ndoes not read artifacts_by_package; its plan:\n%s", query, plan)
		}
	}
}
