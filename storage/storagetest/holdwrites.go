package storagetest

import (
	"context"
	"database/sql"
	"testing"
)

// HoldWrites takes SQLite's write lock on the database at path from a
// connection of its own, as another writer would, until the returned
// function commits, having first run statements in the same transaction.
// While it is held nothing larder writes can commit; a lock never released
// is rolled back when the test ends.
func HoldWrites(t testing.TB, path string, statements ...string) (commit func()) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	done := false
	t.Cleanup(func() {
		if !done {
			conn.ExecContext(ctx, "ROLLBACK")
		}
		conn.Close()
	})
	return func() {
		t.Helper()
		for _, s := range statements {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
		done = true
	}
}
