package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"modernc.org/sqlite"
)

// countingConnector counts the statements its connections prepare.
type countingConnector struct {
	driver.Connector
	prepares, unprepared *atomic.Int64
}

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{fullConn: conn.(fullConn), prepares: c.prepares, unprepared: c.unprepared}, nil
}

type countingConn struct {
	fullConn
	prepares   *atomic.Int64
	unprepared *atomic.Int64
}

func (c *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.prepares.Add(1)
	return c.fullConn.PrepareContext(ctx, query)
}

// QueryContext is a statement run from its text, without a kept one.
func (c *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.unprepared.Add(1)
	return c.fullConn.QueryContext(ctx, query, args)
}

func openCounted(t *testing.T) (*sql.DB, *atomic.Int64) {
	db, prepares, _ := openCounting(t)
	return db, prepares
}

// openCounting opens a database of one connection that counts the
// statements it prepares and those it runs from their text.
func openCounting(t *testing.T) (*sql.DB, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	base, err := sqlite.NewConnector("file:" + filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	var prepares, unprepared atomic.Int64
	db := sql.OpenDB(&watchedConnector{Connector: countingConnector{base, &prepares, &unprepared}, watch: &corruption{}})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db, &prepares, &unprepared
}

func TestAStatementRunManyTimesIsPreparedOnce(t *testing.T) {
	db, prepares := openCounted(t)
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	before := prepares.Load()
	for i := range 50 {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (k, v) VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := db.QueryRowContext(ctx, `SELECT v FROM t WHERE k = ?`, i).Scan(&v); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("row %d: %q, %v", i, v, err)
		}
	}
	if n := prepares.Load() - before; n != 2 {
		t.Errorf("two statements run 50 times each were prepared %d times, want 2", n)
	}
	// A statement that does not prepare reports its error.
	if _, err := db.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`); err == nil {
		t.Error("an insert into a missing table succeeded")
	}
}

func TestAStatementUsedAgainWhileItsRowsAreOpenGetsItsOwn(t *testing.T) {
	db, _ := openCounted(t)
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3)`); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const q = `SELECT k FROM t WHERE k >= ? ORDER BY k`
	outer, err := conn.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	var ks []int
	for outer.Next() {
		var k int
		outer.Scan(&k)
		ks = append(ks, k)
	}
	// Read through, then again with an inner use of the same text on the
	// same connection while the outer rows are open.
	outer.Close()
	outer, err = conn.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	for outer.Next() {
		var k int
		outer.Scan(&k)
		inner, err := conn.QueryContext(ctx, q, k)
		if err != nil {
			t.Fatalf("inner query: %v", err)
		}
		for inner.Next() {
			var j int
			inner.Scan(&j)
			pairs = append(pairs, fmt.Sprintf("%d%d", k, j))
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if fmt.Sprint(ks) != "[1 2 3]" || fmt.Sprint(pairs) != "[11 12 13 22 23 33]" {
		t.Errorf("rows %v, pairs %v", ks, pairs)
	}
}

func TestStatementsPastTheBoundStillRun(t *testing.T) {
	db, prepares, unprepared := openCounting(t)
	ctx := t.Context()
	for i := range maxCachedStmts + 20 {
		var got int
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&got); err != nil || got != i {
			t.Fatalf("SELECT %d: %d, %v", i, got, err)
		}
	}
	prepared, fromText := prepares.Load(), unprepared.Load()
	for i := range maxCachedStmts + 20 {
		var got int
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&got); err != nil || got != i {
			t.Fatalf("SELECT %d again: %d, %v", i, got, err)
		}
	}
	if n, m := prepares.Load()-prepared, unprepared.Load()-fromText; n != 0 || m != 20 {
		t.Errorf("a second round prepared %d statements and ran %d from their text, want 0 and the 20 past the bound", n, m)
	}
}
