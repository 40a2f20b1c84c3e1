package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/migrations"
)

// newTestDB opens a database of the test's own, closed when the test ends.
func newTestDB(t *testing.T) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "larder.db")
	if b := testBackends(t); b.Database != "" {
		path = b.Database
	}
	d, err := OpenDB(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenDB: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// at is a fixed instant plus some seconds, at the database's precision.
func at(seconds int) time.Time {
	return time.UnixMilli(1_700_000_000_000 + int64(seconds)*1000)
}

func names(t *testing.T, d *DB, query string, args ...any) []string {
	t.Helper()
	rows, err := d.sql.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenDBCreatesTheSchema(t *testing.T) {
	d := newTestDB(t)
	tables := names(t, d, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	for _, want := range []string{"artifacts", "documents", "packages", "pin_conflicts", "schema_migrations"} {
		if !slices.Contains(tables, want) {
			t.Errorf("tables = %q, want %q among them", tables, want)
		}
	}
	indexes := names(t, d, `SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
	for _, want := range []string{"artifacts_by_package", "artifacts_by_sha256", "artifacts_lru", "pin_conflicts_by_package"} {
		if !slices.Contains(indexes, want) {
			t.Errorf("indexes = %q, want %q among them", indexes, want)
		}
	}
}

func TestOpenDBAppliesEachMigrationOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "larder.db")
	applied := func() []string {
		d, err := OpenDB(t.Context(), path)
		if err != nil {
			t.Fatalf("OpenDB: %v", err)
		}
		defer d.Close()
		return names(t, d, `SELECT name || ' at ' || applied_at FROM schema_migrations ORDER BY name`)
	}
	first := applied()
	if len(first) != len(migrations.All()) {
		t.Fatalf("schema_migrations = %q, want one row for each of %d migrations", first, len(migrations.All()))
	}
	for i, m := range migrations.All() {
		if want := m.Name + " at "; len(first[i]) <= len(want) || first[i][:len(want)] != want {
			t.Errorf("schema_migrations row %d = %q, want %s", i, first[i], m.Name)
		}
	}
	time.Sleep(2 * time.Millisecond) // a second application would record a later time
	if again := applied(); !slices.Equal(again, first) {
		t.Errorf("after reopening, schema_migrations = %q, want %q unchanged", again, first)
	}
}

func TestOpenDBTurnsOnWALBusyTimeoutAndForeignKeys(t *testing.T) {
	d := newTestDB(t)
	// Every pooled connection must have them: hold several at once.
	conns := make([]func() error, 0, 4)
	for i := range 4 {
		c, err := d.sql.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c.Close)
		for _, tt := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"busy_timeout", "10000"},
			{"foreign_keys", "1"},
			{"synchronous", "1"}, // NORMAL
		} {
			var got string
			if err := c.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
			}
			if got != tt.want {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, tt.pragma, got, tt.want)
			}
		}
	}
	for _, c := range conns {
		c()
	}
}

func TestOpenDBPutsTheDatabaseWhereItIsToldEvenWithURICharactersInThePath(t *testing.T) {
	// SQLite reads the name as a URI, where these characters mean something.
	for _, dir := range []string{"hash#dir", "query?dir", "percent%41dir", "space dir"} {
		t.Run(dir, func(t *testing.T) {
			base := t.TempDir()
			path := filepath.Join(base, dir, "larder.db")
			d, err := OpenDB(t.Context(), path)
			if err != nil {
				t.Fatalf("OpenDB(%q): %v", path, err)
			}
			if err := d.PutDocument(t.Context(), Document{Registry: "npm", Key: "k", Variant: "full", FetchedAt: at(0)}, "k"); err != nil {
				t.Fatal(err)
			}
			d.Close()
			if _, err := os.Stat(path); err != nil {
				entries, _ := os.ReadDir(base)
				var found []string
				for _, e := range entries {
					found = append(found, e.Name())
				}
				t.Errorf("no database at %s (the folder holds %q): %v", path, found, err)
			}
		})
	}
}

func TestOpenCreatesADataFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "larder-data")
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	for _, p := range []string{"larder.db", "blobs/sha256", "blobs/tmp"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestConcurrentWritersWaitForTheLockInsteadOfFailing(t *testing.T) {
	d := newTestDB(t)
	const writers, rounds = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				pkg := fmt.Sprintf("pkg-%d", r%3) // shared by every writer
				path := fmt.Sprintf("%s/-/%s-%d.%d.tgz", pkg, pkg, w, r)
				a := Artifact{Registry: "npm", Path: path, Package: pkg, Version: fmt.Sprint(w, ".", r), UpstreamURL: "https://registry.example/" + path}
				steps := []struct {
					name string
					err  error
				}{
					{"PutDocument", d.PutDocument(t.Context(), Document{Registry: "npm", Key: pkg, Variant: "full", Body: DigestOf([]byte(path)), Size: 1, FetchedAt: at(r)}, pkg)},
					{"AnnounceArtifacts", d.AnnounceArtifacts(t.Context(), "npm", []Artifact{a})},
					{"CommitArtifact", d.CommitArtifact(t.Context(), a, KeptBlob{Digest: DigestOf([]byte(path)), Size: 10}, at(r))},
					{"RecordServed", d.RecordServed(t.Context(), []Served{{Registry: "npm", Package: pkg, Path: path, Hits: 1, At: at(r)}})},
					{"TouchDocument", d.TouchDocument(t.Context(), "npm", pkg, "full", at(r), "", "")},
				}
				for _, s := range steps {
					if s.err != nil {
						t.Errorf("writer %d round %d: %s: %v", w, r, s.name, s.err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	var hits, artifacts int64
	if err := d.sql.QueryRowContext(t.Context(), `SELECT SUM(hits) FROM packages`).Scan(&hits); err != nil {
		t.Fatal(err)
	}
	if err := d.sql.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM artifacts WHERE sha256 IS NOT NULL`).Scan(&artifacts); err != nil {
		t.Fatal(err)
	}
	if hits != writers*rounds || artifacts != writers*rounds {
		t.Errorf("after %d writes: %d package hits and %d committed artifacts, want %d of each", writers*rounds, hits, artifacts, writers*rounds)
	}
}
