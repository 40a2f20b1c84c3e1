package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"modernc.org/sqlite"

	"github.com/larder-mirror/larder/migrations"
)

// DB is larder's metadata database.
type DB struct {
	sql *sql.DB
	// writes counts committed write transactions: a catalog snapshot
	// taken before the latest one may be missing a package.
	writes atomic.Uint64
	txq    txQueue // writers waiting for the next transaction (see tx)

	path     string
	file     fileID // of path when it was opened: a file put in its place is not this database
	readOnly bool
	watch    corruption
	// probe opens a fresh connection for each readiness check: the pool's
	// connections keep pages in memory, which would hide a file damaged or
	// replaced under them.
	probe *sql.DB

	// postgres: the metadata is on a PostgreSQL server (see postgres.go),
	// path is its redacted URL, and clusterLocks holds the node's
	// cluster-wide locks (see ClusterLock).
	postgres     bool
	clusterLocks *pgLocks

	// applied are the migrations this open applied, in order.
	applied []string
}

// dbMode is how a database file is opened.
type dbMode int

const (
	modeReadWrite dbMode = iota
	// modeReadOnly reads a database another process may write, or whose
	// write-ahead log holds pages not yet in the file: SQLite keeps its
	// locks and reads the log.
	modeReadOnly
	// modeImmutable reads a file nothing will change while it is open (a
	// read-only mount, or a folder held under larder's lock): no locks, no
	// -shm file, nothing written beside it.
	modeImmutable
	// modeInspect reads as modeReadOnly does, and accepts a schema that is
	// not up to date: for asking which migrations are pending.
	modeInspect
)

// OpenDB opens (creating if needed) the SQLite database at path in WAL mode
// and applies any migration not yet recorded.
// A postgres:// URL opens that server instead (see postgres.go).
func OpenDB(ctx context.Context, path string) (*DB, error) {
	return openDB(ctx, path, modeReadWrite)
}

func openDB(ctx context.Context, path string, mode dbMode) (*DB, error) {
	if IsPostgresURL(path) {
		return openPostgres(ctx, path, mode)
	}
	if mode == modeReadWrite {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
	}
	d := &DB{path: path, readOnly: mode != modeReadWrite}
	db, err := d.open(dsn(path, mode, false))
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	// As many idle as open: closing and reopening SQLite connections (and
	// re-preparing statements) under load costs more than the queries.
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(time.Minute)
	d.sql = db
	switch mode {
	case modeReadWrite:
		err = d.migrate(ctx)
	case modeInspect:
	default:
		err = d.checkMigrated(ctx)
	}
	if err == nil {
		// Stat after the first statement: the file exists by now.
		d.file, err = statID(path)
	}
	if err == nil {
		d.probe, err = d.open(dsn(path, mode, true))
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	d.probe.SetMaxOpenConns(1)
	d.probe.SetMaxIdleConns(0) // closed after each use: the next check starts cold
	return d, nil
}

func (d *DB) open(dsn string) (*sql.DB, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(&watchedConnector{Connector: base, watch: &d.watch}), nil
}

// dsn is the SQLite URI for path. A probe connection never creates the
// file: a check that found it gone must not leave an empty one behind.
func dsn(path string, mode dbMode, probe bool) string {
	q := url.Values{}
	pragmas := []string{"busy_timeout(10000)", "foreign_keys(ON)"}
	if mode == modeReadWrite {
		pragmas = []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(ON)"}
	}
	if probe {
		pragmas[slices.Index(pragmas, "busy_timeout(10000)")] = "busy_timeout(2000)"
	}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	switch {
	case mode == modeImmutable:
		q.Set("mode", "ro")
		q.Set("immutable", "1")
	case mode == modeReadOnly, mode == modeInspect:
		q.Set("mode", "ro")
	case probe:
		q.Set("mode", "rw")
	}
	// Write transactions take the write lock when they begin: a deferred
	// transaction that reads first and then writes fails with
	// SQLITE_BUSY_SNAPSHOT under concurrency, which busy_timeout cannot wait out.
	// A read-only database has no write lock to take.
	if mode == modeReadWrite {
		q.Set("_txlock", "immediate")
	}
	// SQLite reads the name as a URI: '?' would start its parameters, '#' a
	// fragment, and '%' an escape, each moving the database somewhere else.
	name := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + name + "?" + q.Encode()
}

// Close closes the database. What the write-ahead log holds is written
// into the file first, so that a closed data folder's database is the one
// file (for a copy, a backup, an export), whoever else still had it open.
func (d *DB) Close() error {
	if d.postgres {
		d.clusterLocks.close()
		return d.sql.Close()
	}
	if d.probe != nil {
		d.probe.Close()
	}
	if !d.readOnly {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d.sql.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`) // best effort: SQLite checkpoints on the last close too
		cancel()
	}
	return d.sql.Close()
}

// Ping checks that the pool answers.
func (d *DB) Ping(ctx context.Context) error { return d.sql.PingContext(ctx) }

// ReadOnly reports whether the database was opened for reading only.
func (d *DB) ReadOnly() bool { return d.readOnly }

// OnCorrupt sets fn to be called once, with the first error by which SQLite
// says the database file is damaged, whichever statement met it.
func (d *DB) OnCorrupt(fn func(error)) { d.watch.onReport(fn) }

// ErrCorrupt: SQLite said the database file is damaged.
var ErrCorrupt = errors.New("the database file is corrupt")

// Ready checks what a request needs of the database: the file at its path
// is still the one opened, and a connection that starts with nothing in
// memory reads it and (unless opened read-only) writes it. Damage any
// statement met earlier keeps it not ready: it does not mend itself. The
// messages name the file, never its folder: they are shown to clients.
func (d *DB) Ready(ctx context.Context) error {
	if d.postgres {
		return d.readyPostgres(ctx)
	}
	name := filepath.Base(d.path)
	if err := d.watch.err(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	id, err := statID(d.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("database: %s was deleted after larder opened it; restore it and restart larder", name)
	case err != nil:
		return fmt.Errorf("database: %s: %v", name, bareError(err))
	case id != d.file:
		return fmt.Errorf("database: %s was replaced after larder opened it; restart larder to use the new file", name)
	}
	var n int
	if err := d.probe.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		return d.probeErr("a read", name, err)
	}
	if d.readOnly {
		return nil
	}
	if _, err := d.probe.ExecContext(ctx, `INSERT INTO readiness (id, checked_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, time.Now().UnixMilli()); err != nil {
		return d.probeErr("a write", name, err)
	}
	return nil
}

func (d *DB) probeErr(what, name string, err error) error {
	if isCorrupt(err) {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	return fmt.Errorf("database: %s of %s failed: %v", what, name, bareError(err))
}

// checkMigrated refuses a database that lacks a migration this larder
// needs, when it cannot apply it.
func (d *DB) checkMigrated(ctx context.Context) error {
	st, err := d.migrationStatus(ctx)
	if err != nil {
		return err
	}
	if !st.known {
		return errors.New("not a larder database (it has no schema_migrations table)")
	}
	if len(st.Pending) > 0 {
		return fmt.Errorf("%w: it was written by an older larder (migration %s is not applied); open it once where it can be written to bring it up to date", ErrReadOnly, st.Pending[0])
	}
	return nil
}

// fileID is what tells one file from another at the same path.
type fileID struct{ dev, ino uint64 }

func statID(path string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// bareError is err without the path an *fs.PathError or *os.LinkError
// carries: what went wrong, for messages a client may see.
func bareError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return err
}

func (d *DB) migrate(ctx context.Context) error {
	if _, err := d.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	for _, m := range migrations.All() {
		err := d.txAlone(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, m.Name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, m.Name, time.Now().UnixMilli()); err != nil {
				return err
			}
			d.applied = append(d.applied, m.Name)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
