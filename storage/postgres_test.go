package storage

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/migrations"
	"github.com/larder-mirror/larder/storage/backendtest"
)

func TestPostgresNodesStartingAtOnceApplyEachMigrationOnce(t *testing.T) {
	dsn := backendtest.Postgres(t)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	dbs := make(chan *DB, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := OpenDB(t.Context(), dsn)
			if err != nil {
				errs <- err
				return
			}
			dbs <- d
		}()
	}
	wg.Wait()
	close(errs)
	close(dbs)
	for err := range errs {
		t.Errorf("OpenDB beside four others: %v", err)
	}
	for d := range dbs {
		defer d.Close()
	}
	d, err := OpenDB(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := names(t, d, `SELECT name FROM schema_migrations ORDER BY name`)
	if len(got) != len(migrations.All()) {
		t.Errorf("schema_migrations lists %v; want each of the %d migrations once", got, len(migrations.All()))
	}
}

func TestPostgresClusterLockIsHeldByOneNodeAtATime(t *testing.T) {
	dsn := backendtest.Postgres(t)
	a, err := OpenDB(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenDB(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	release, err := a.ClusterLock(t.Context(), "artifact npm lodash.tgz")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		r, err := b.ClusterLock(t.Context(), "artifact npm lodash.tgz")
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- r
	}()
	// Another key is not held up by the first.
	other, err := b.ClusterLock(t.Context(), "artifact npm left-pad.tgz")
	if err != nil {
		t.Fatal(err)
	}
	other()
	select {
	case <-got:
		t.Fatal("a second node took a lock the first holds")
	case <-time.After(300 * time.Millisecond):
	}
	release()
	select {
	case r := <-got:
		if r != nil {
			r()
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second node did not get the lock once the first released it")
	}

	// A node that dies holding the lock does not keep it: its connection
	// ends (here the server ends it, as it does when a killed process's
	// socket closes), and the lock with it.
	// Only that lock's holder: the server is shared with other tests,
	// whose writes hold advisory locks of their own.
	dying := fmt.Sprintf("gc of a dying node %d", time.Now().UnixNano())
	if _, err := a.ClusterLock(t.Context(), dying); err != nil {
		t.Fatal(err)
	}
	k := clusterLockKey(dying)
	var ended int
	if err := b.sql.QueryRowContext(t.Context(), `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid::bigint = ? AND objid::bigint = ?
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, k>>32, k&0xffffffff).Scan(&ended); err != nil || ended != 1 {
		t.Fatalf("ending the holder of the lock: %d ended, %v", ended, err)
	}
	done := make(chan error, 1)
	go func() {
		r, err := b.ClusterLock(t.Context(), dying)
		if err == nil {
			r()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lock of a closed node was never released")
	}
}

func TestRebindNumbersPlaceholdersOutsideQuotesAndComments(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT a FROM t WHERE b = ? AND c = ?`:  `SELECT a FROM t WHERE b = $1 AND c = $2`,
		`SELECT '?' , "q?" FROM t WHERE x = ?`:   `SELECT '?' , "q?" FROM t WHERE x = $1`,
		"-- what? \nSELECT ? ":                   "-- what? \nSELECT $1 ",
		`INSERT INTO t VALUES (?, 'it''s ?', ?)`: `INSERT INTO t VALUES ($1, 'it''s ?', $2)`,
		`SELECT 1`:                               `SELECT 1`,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q; want %q", in, got, want)
		}
	}
}
