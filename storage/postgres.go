package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL holds the metadata when several larder nodes share it. The
// schema and every statement are the SQLite ones: statements are written
// with ? placeholders, which the connection rewrites to PostgreSQL's $1, $2…
// (rebind), so that there is one copy of each query.
//
// Two things SQLite gives for free are made explicit here:
//   - SQLite runs one write transaction at a time (BEGIN IMMEDIATE), and the
//     writers in this package read before they write on that promise. A
//     write transaction on PostgreSQL takes a transaction-scoped advisory
//     lock first (writeLockKey), so the same holds across every node.
//   - Migrations run once when several nodes start together: they run under
//     a session advisory lock (migrateLockKey), and each is applied only if
//     schema_migrations does not list it yet.

// Advisory lock keys: an arbitrary constant namespace ("larder" in ASCII)
// in the high half, the purpose in the low half.
const (
	lockSpace      = int64(0x6c6172646572) << 16
	migrateLockKey = lockSpace | 1
	writeLockKey   = lockSpace | 2
)

// IsPostgresURL reports whether database names a PostgreSQL server rather
// than a SQLite file.
func IsPostgresURL(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// RedactedDatabase is database with any password hidden, for messages.
func RedactedDatabase(database string) string {
	if u, err := url.Parse(database); err == nil {
		return u.Redacted()
	}
	return "the configured database"
}

func openPostgres(ctx context.Context, dsn string, mode dbMode) (*DB, error) {
	readOnly := mode != modeReadWrite
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", RedactedDatabase(dsn), err)
	}
	name := RedactedDatabase(dsn)
	d := &DB{path: name, readOnly: readOnly, postgres: true}
	d.sql = sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	// Enough for a node's writers, readers and the hit recorder. With the
	// session that holds its cluster locks (pgLocks), a node holds at most
	// 17 of the server's max_connections.
	d.sql.SetMaxOpenConns(16)
	d.sql.SetMaxIdleConns(16)
	d.sql.SetConnMaxIdleTime(time.Minute)
	d.clusterLocks = newPGLocks(cfg)
	d.probe = d.sql
	switch mode {
	case modeReadWrite:
		err = d.migratePostgres(ctx)
	case modeInspect:
		err = d.sql.PingContext(ctx)
	default:
		err = d.checkMigrated(ctx)
	}
	if err != nil {
		d.sql.Close()
		return nil, fmt.Errorf("database %s: %w", name, err)
	}
	return d, nil
}

// migratePostgres applies the migrations under a session advisory lock:
// nodes that start together wait for the first, then find nothing to do.
func (d *DB) migratePostgres(ctx context.Context) error {
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(?)`, migrateLockKey); err != nil {
		return fmt.Errorf("waiting for the migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(?)`, migrateLockKey)
	return d.migrate(ctx)
}

// DocumentLockPrefix begins the key of a document's fill lock. A holder of
// any other lock may wait for a document's; a document's holder waits for
// no other lock, so that no two holders can wait for each other.
const DocumentLockPrefix = "document\x00"

// ClusterLock takes the cluster-wide lock named key (the fill of one
// artifact or document, or gc), waiting while another holder, on this
// node or another, has it, and returns its release. With SQLite one
// process holds the data folder, and what it keeps in memory (its fill
// table, one gc at a time) suffices: the lock is then nothing. On
// PostgreSQL every lock of a node is held on one session (pgLocks); a node
// that dies loses that session, and the server releases its locks with it.
// Shared reports whether other larder processes may write this database
// at any moment (PostgreSQL, shared by the nodes of a cluster): a row read
// a moment ago may have been written since by another node.
func (d *DB) Shared() bool { return d.postgres }

func (d *DB) ClusterLock(ctx context.Context, key string) (release func(), err error) {
	if !d.postgres {
		return func() {}, nil
	}
	release, err = d.clusterLocks.lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("cluster lock: %w", err)
	}
	return release, nil
}

// ClusterLocksAwaited is the number of takers of a cluster lock waiting
// now because another holder, on this node or another, has it.
func (d *DB) ClusterLocksAwaited() int {
	if !d.postgres {
		return 0
	}
	return int(d.clusterLocks.waiting.Load())
}

// OnLocksLost sets fn to be told the names of cluster locks this node
// held when their PostgreSQL session broke (the server released them),
// instead of a warning on the default logger. Without PostgreSQL it does
// nothing.
func (d *DB) OnLocksLost(fn func(keys []string, err error)) {
	if d.postgres {
		d.clusterLocks.onLost.Store(&fn)
	}
}

// clusterLockKey maps key into advisory-lock space. Two keys that share a
// hash share a lock: one waits for the other, which is slower, not wrong.
func clusterLockKey(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int64(h.Sum64() &^ (1 << 63))
}

// rebind rewrites ? placeholders to $1, $2… outside quoted strings,
// quoted identifiers and comments.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+1])
			i += end
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// rebindConnector hands out pgx connections that read ? placeholders.
type rebindConnector struct{ driver.Connector }

// pgConn is what pgx's database/sql connections implement.
type pgConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.NamedValueChecker
}

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	full, ok := conn.(pgConn)
	if !ok {
		conn.Close()
		return nil, errors.New("database driver: its connections lack an interface larder relies on")
	}
	return rebindConn{full}, nil
}

type rebindConn struct{ pgConn }

func (c rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.pgConn.PrepareContext(context.Background(), rebind(query))
}

func (c rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.pgConn.PrepareContext(ctx, rebind(query))
}

// Without arguments a statement goes as it is: pgx then sends it by the
// simple protocol, which runs a migration's several statements at once.
func (c rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) > 0 {
		query = rebind(query)
	}
	return c.pgConn.ExecContext(ctx, query, args)
}

func (c rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 {
		query = rebind(query)
	}
	return c.pgConn.QueryContext(ctx, query, args)
}

// readyPostgres is Ready for a server: it reads and (unless opened
// read-only) writes. The message names the server without its password.
func (d *DB) readyPostgres(ctx context.Context) error {
	var n int
	if err := d.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("database: a read of %s failed: %v", d.path, err)
	}
	if d.readOnly {
		return nil
	}
	if _, err := d.sql.ExecContext(ctx, `INSERT INTO readiness (id, checked_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("database: a write to %s failed: %v", d.path, err)
	}
	return nil
}
