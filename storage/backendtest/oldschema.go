package backendtest

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// Migration is one schema step as an older larder applied it: its name,
// recorded in schema_migrations, and its SQL.
type Migration struct{ Name, SQL string }

// OldSchema makes database (a postgres:// URL, or the path of a SQLite file
// it creates) hold what an older larder left: the schema of ms, each
// recorded in schema_migrations as larder records it, and nothing more.
func OldSchema(t testing.TB, database string, ms []Migration) {
	t.Helper()
	driver, insert := "sqlite", `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`
	if strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://") {
		driver, insert = "pgx", `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`
	}
	db, err := sql.Open(driver, database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Every larder's SQLite file is in WAL mode, which the file keeps.
	// One left in rollback mode is switched by the first larder to open
	// it, and two opening it at once (a test's two Migrates) could meet
	// that switch with SQLITE_BUSY, which no older larder would cause.
	if driver == "sqlite" {
		if _, err := db.Exec(`PRAGMA journal_mode = WAL`); err != nil {
			t.Fatalf("an old schema: %v", err)
		}
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatalf("an old schema: %v", err)
	}
	for _, m := range ms {
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatalf("an old schema: %s: %v", m.Name, err)
		}
		if _, err := db.Exec(insert, m.Name, time.Now().UnixMilli()); err != nil {
			t.Fatalf("an old schema: recording %s: %v", m.Name, err)
		}
	}
}
