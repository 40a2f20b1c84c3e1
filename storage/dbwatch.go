package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	"modernc.org/sqlite"
)

// SQLite's primary result codes for a file that is not (or no longer) a
// sound database: SQLITE_CORRUPT and SQLITE_NOTADB.
const (
	sqliteCorrupt = 11
	sqliteNotADB  = 26
)

// isCorrupt reports whether err is SQLite saying the database file is
// damaged. Extended codes (SQLITE_CORRUPT_INDEX…) carry the primary code in
// their low byte.
func isCorrupt(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqliteCorrupt || code == sqliteNotADB
}

// sqliteFull is SQLITE_FULL: the database could not grow.
const sqliteFull = 13

func isFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqliteFull
}

// diskFull is SQLITE_FULL told as the errno it stands for, so that a full
// disk reads the same (a 507 that says why) whether a blob or a row met it.
type diskFull struct{ err error }

func (e diskFull) Error() string {
	return fmt.Sprintf("database: %v (%v)", syscall.ENOSPC, e.err)
}

func (e diskFull) Unwrap() []error { return []error{e.err, syscall.ENOSPC} }

// corruption remembers the first error that said the database is damaged.
// Every statement's error passes through it, whichever query ran into the
// damage: a corrupt page is found by whoever reads it, a download or a page
// of the UI as often as the readiness probe.
type corruption struct {
	first atomic.Pointer[error]

	mu       sync.Mutex
	report   func(error) // told the first error, once
	reported bool        // report has been told
}

func (c *corruption) check(err error) error {
	if isFull(err) {
		return diskFull{err}
	}
	if err == nil || !isCorrupt(err) {
		return err
	}
	if c.first.CompareAndSwap(nil, &err) {
		c.tell()
	}
	return err
}

func (c *corruption) err() error {
	if p := c.first.Load(); p != nil {
		return *p
	}
	return nil
}

// onReport sets the callback; if damage was seen before it was set, it is
// told at once, so that nothing found early goes unsaid.
func (c *corruption) onReport(fn func(error)) {
	c.mu.Lock()
	c.report, c.reported = fn, false
	c.mu.Unlock()
	c.tell()
}

// tell calls the callback with the first error, if there is one and the
// callback has not had it: check and onReport may race at start-up, and
// the callback hears of the damage once either way.
func (c *corruption) tell() {
	err := c.err()
	c.mu.Lock()
	fn := c.report
	now := fn != nil && err != nil && !c.reported
	if now {
		c.reported = true
	}
	c.mu.Unlock()
	if now {
		fn(err)
	}
}

// watchedConnector hands database/sql connections whose errors pass
// through a corruption watch. It keeps every optional interface the SQLite
// driver's connections have: hiding one would change how database/sql
// drives them (contexts, validation, pooled sessions).
type watchedConnector struct {
	driver.Connector
	watch *corruption
}

// fullConn is what modernc.org/sqlite's connections implement.
type fullConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

func (c *watchedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, c.watch.check(err)
	}
	full, ok := conn.(fullConn)
	if !ok {
		conn.Close()
		return nil, errors.New("database driver: its connections lack an interface larder relies on")
	}
	return &watchedConn{fullConn: full, watch: c.watch}, nil
}

type watchedConn struct {
	fullConn
	watch *corruption
	stmts stmtCache
}

func (c *watchedConn) Close() error {
	c.stmts.close()
	return c.fullConn.Close()
}

// Unwrap lets the driver's own helpers (sqlite.Limit) reach the connection.
func (c *watchedConn) Unwrap() driver.Conn { return c.fullConn }

func (c *watchedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *watchedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.fullConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, c.watch.check(err)
	}
	return c.stmt(s), nil
}

func (c *watchedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *watchedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.fullConn.BeginTx(ctx, opts)
	if err != nil {
		return nil, c.watch.check(err)
	}
	return &watchedTx{tx: tx, watch: c.watch}, nil
}

func (c *watchedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if r, ok, err := c.stmts.exec(ctx, c.fullConn, query, args); ok {
		return r, c.watch.check(err)
	}
	r, err := c.fullConn.ExecContext(ctx, query, args)
	return r, c.watch.check(err)
}

func (c *watchedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if r, release, ok, err := c.stmts.query(ctx, c.fullConn, query, args); ok {
		if err != nil {
			return nil, c.watch.check(err)
		}
		return c.releasingRows(r, release), nil
	}
	r, err := c.fullConn.QueryContext(ctx, query, args)
	if err != nil {
		return nil, c.watch.check(err)
	}
	return c.rows(r), nil
}

func (c *watchedConn) Ping(ctx context.Context) error {
	return c.watch.check(c.fullConn.Ping(ctx))
}

type fullStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

func (c *watchedConn) stmt(s driver.Stmt) driver.Stmt {
	full, ok := s.(fullStmt)
	if !ok {
		return s // unwatched, but whole: still correct
	}
	return &watchedStmt{fullStmt: full, conn: c}
}

type watchedStmt struct {
	fullStmt
	conn *watchedConn
}

func (s *watchedStmt) Exec(args []driver.Value) (driver.Result, error) {
	r, err := s.fullStmt.Exec(args)
	return r, s.conn.watch.check(err)
}

func (s *watchedStmt) Query(args []driver.Value) (driver.Rows, error) {
	r, err := s.fullStmt.Query(args)
	if err != nil {
		return nil, s.conn.watch.check(err)
	}
	return s.conn.rows(r), nil
}

func (s *watchedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.fullStmt.ExecContext(ctx, args)
	return r, s.conn.watch.check(err)
}

func (s *watchedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.fullStmt.QueryContext(ctx, args)
	if err != nil {
		return nil, s.conn.watch.check(err)
	}
	return s.conn.rows(r), nil
}

type watchedTx struct {
	tx    driver.Tx
	watch *corruption
}

func (t *watchedTx) Commit() error   { return t.watch.check(t.tx.Commit()) }
func (t *watchedTx) Rollback() error { return t.watch.check(t.tx.Rollback()) }

// fullRows is what the driver's result sets implement; database/sql reads
// column types through these.
type fullRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

func (c *watchedConn) rows(r driver.Rows) driver.Rows {
	full, ok := r.(fullRows)
	if !ok {
		return r
	}
	return &watchedRows{fullRows: full, watch: c.watch}
}

type watchedRows struct {
	fullRows
	watch *corruption
	// release, for rows of a cached statement, lends the statement again.
	release func()
}

// releasingRows is rows for r, read from a cached statement that release
// gives back once they are closed.
func (c *watchedConn) releasingRows(r driver.Rows, release func()) driver.Rows {
	full, ok := r.(fullRows)
	if !ok {
		return &plainReleasingRows{Rows: r, release: release}
	}
	return &watchedRows{fullRows: full, watch: c.watch, release: release}
}

func (r *watchedRows) Close() error {
	err := r.fullRows.Close()
	if r.release != nil {
		r.release()
	}
	return err
}

type plainReleasingRows struct {
	driver.Rows
	release func()
}

func (r *plainReleasingRows) Close() error {
	err := r.Rows.Close()
	r.release()
	return err
}

// Next is where a damaged page deep in a table shows itself, after the
// query that reads it has started.
func (r *watchedRows) Next(dest []driver.Value) error {
	err := r.fullRows.Next(dest)
	if err == io.EOF {
		return err
	}
	return r.watch.check(err)
}
