package storage

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/larder-mirror/larder/migrations"
	"github.com/larder-mirror/larder/storage/backendtest"
)

// oldDatabases are a SQLite file and a PostgreSQL schema, each left by a
// larder that knew every migration but the last two.
func oldDatabases(t *testing.T) map[string]string {
	t.Helper()
	all := migrations.All()
	var old []backendtest.Migration
	for _, m := range all[:len(all)-2] {
		old = append(old, backendtest.Migration{Name: m.Name, SQL: m.SQL})
	}
	dbs := map[string]string{
		"SQLite":     filepath.Join(t.TempDir(), "larder.db"),
		"PostgreSQL": backendtest.Postgres(t),
	}
	for _, db := range dbs {
		backendtest.OldSchema(t, db, old)
	}
	return dbs
}

func migrationNames(ms []migrations.Migration) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestMigrateAppliesWhatIsPendingOnceWhenTwoRunAtOnce(t *testing.T) {
	all := migrationNames(migrations.All())
	newest := all[len(all)-2:]
	for name, db := range oldDatabases(t) {
		t.Run(name, func(t *testing.T) {
			st, err := CheckMigrations(t.Context(), db)
			if err != nil {
				t.Fatalf("CheckMigrations: %v", err)
			}
			if !slices.Equal(st.Pending, newest) || !slices.Equal(st.Applied, all[:len(all)-2]) || st.Current() {
				t.Errorf("before: applied %v, pending %v; want pending %v", st.Applied, st.Pending, newest)
			}
			if again, _ := CheckMigrations(t.Context(), db); !slices.Equal(again.Pending, newest) {
				t.Errorf("CheckMigrations applied something: pending %v after it", again.Pending)
			}

			var wg sync.WaitGroup
			var mu sync.Mutex
			var applied []string
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, st, err := Migrate(t.Context(), db)
					if err != nil {
						t.Errorf("Migrate beside another: %v", err)
						return
					}
					if !st.Current() {
						t.Errorf("after Migrate, pending %v", st.Pending)
					}
					mu.Lock()
					applied = append(applied, got...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			slices.Sort(applied)
			if !slices.Equal(applied, newest) {
				t.Errorf("two Migrates at once applied %v between them; want each of %v once", applied, newest)
			}

			st, err = CheckMigrations(t.Context(), db)
			if err != nil || !st.Current() || !slices.Equal(st.Applied, all) {
				t.Errorf("after: %+v, %v; want every migration applied", st, err)
			}
			if got, _, err := Migrate(t.Context(), db); err != nil || len(got) != 0 {
				t.Errorf("Migrate of a current database applied %v, %v; want nothing", got, err)
			}
		})
	}
}

func TestCheckMigrationsNamesWhatANewerLarderApplied(t *testing.T) {
	db := filepath.Join(t.TempDir(), "larder.db")
	if backendtest.OnPostgres() {
		db = backendtest.Postgres(t)
	}
	d, err := OpenDB(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.sql.ExecContext(t.Context(), `INSERT INTO schema_migrations (name, applied_at) VALUES ('9999_from_a_newer_larder.sql', 1)`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	st, err := CheckMigrations(t.Context(), db)
	if err != nil || !st.Current() || !slices.Equal(st.Unknown, []string{"9999_from_a_newer_larder.sql"}) {
		t.Errorf("CheckMigrations = %+v, %v; want current, and the newer migration named", st, err)
	}
}

func TestCheckMigrationsOfAnEmptyPostgreSQLDatabaseListsEveryMigration(t *testing.T) {
	st, err := CheckMigrations(t.Context(), backendtest.Postgres(t))
	if err != nil || !slices.Equal(st.Pending, migrationNames(migrations.All())) {
		t.Errorf("CheckMigrations = %+v, %v; want every migration pending", st, err)
	}
}

func TestCheckMigrationsOfAMissingSQLiteFileSaysSoAndMakesNone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "larder.db")
	if _, err := CheckMigrations(t.Context(), path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CheckMigrations = %v; want fs.ErrNotExist", err)
	}
	if _, err := CheckMigrations(t.Context(), path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a second CheckMigrations = %v; want the file still not there", err)
	}
}
