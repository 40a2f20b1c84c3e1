package storage

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/larder-mirror/larder/migrations"
)

// MigrationStatus is where a database's schema stands against the
// migrations built into this larder.
type MigrationStatus struct {
	// Applied are the migrations the database records, in name order.
	Applied []string
	// Pending are this larder's migrations the database lacks, in the order
	// they would be applied.
	Pending []string
	// Unknown are migrations the database records that this larder does
	// not know: a newer larder applied them. Not an error (a rolling
	// deploy runs old nodes beside a new schema for a while), but worth
	// saying.
	Unknown []string

	known bool // the database has a schema_migrations table
}

// Current reports whether nothing is pending.
func (s MigrationStatus) Current() bool { return len(s.Pending) == 0 }

// Migrate brings the database (a postgres:// URL, or the path of a SQLite
// file, created when missing) up to date and returns the names of the
// migrations it applied, in order (none when it was current already), and
// where the schema stands afterwards. It is
// what every start does (OpenDB), and as safe beside nodes starting or
// running: on PostgreSQL it waits on the same advisory lock as they do, and
// on either database each migration is applied in one transaction that
// first checks it is not recorded yet.
func Migrate(ctx context.Context, database string) ([]string, MigrationStatus, error) {
	d, err := OpenDB(ctx, database)
	if err != nil {
		return nil, MigrationStatus{}, err
	}
	defer d.Close()
	st, err := d.migrationStatus(ctx)
	if err != nil {
		return d.applied, st, fmt.Errorf("database %s: %w", d.path, err)
	}
	return d.applied, st, nil
}

// CheckMigrations reports where the database's schema stands, applying
// nothing and writing nothing. A SQLite file that does not exist is an
// error wrapping fs.ErrNotExist; a database with no larder schema yet (an
// empty PostgreSQL database) has every migration pending.
func CheckMigrations(ctx context.Context, database string) (MigrationStatus, error) {
	if !IsPostgresURL(database) {
		if _, err := os.Stat(database); err != nil {
			return MigrationStatus{}, fmt.Errorf("database: %w", err)
		}
	}
	d, err := openDB(ctx, database, modeInspect)
	if err != nil {
		return MigrationStatus{}, err
	}
	defer d.Close()
	st, err := d.migrationStatus(ctx)
	if err != nil {
		return st, fmt.Errorf("database %s: %w", d.path, err)
	}
	return st, nil
}

// AppliedAtOpen are the migrations opening this database applied, in
// order; none when its schema was current.
func (d *DB) AppliedAtOpen() []string { return slices.Clone(d.applied) }

// migrationStatus compares schema_migrations with this larder's
// migrations. A database without that table has every one pending.
func (d *DB) migrationStatus(ctx context.Context) (MigrationStatus, error) {
	var st MigrationStatus
	exists := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	if d.postgres {
		exists = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'`
	}
	var n int
	if err := d.sql.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return st, fmt.Errorf("an unreadable database: %w", err)
	}
	done := map[string]bool{}
	if n > 0 {
		st.known = true
		rows, err := d.sql.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
		if err != nil {
			return st, fmt.Errorf("reading schema_migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return st, err
			}
			done[name] = true
			st.Applied = append(st.Applied, name)
		}
		if err := rows.Err(); err != nil {
			return st, err
		}
	}
	ours := map[string]bool{}
	for _, m := range migrations.All() {
		ours[m.Name] = true
		if !done[m.Name] {
			st.Pending = append(st.Pending, m.Name)
		}
	}
	for _, name := range st.Applied {
		if !ours[name] {
			st.Unknown = append(st.Unknown, name)
		}
	}
	return st, nil
}
