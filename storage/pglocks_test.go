package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage/backendtest"
)

// openDBNode opens the database at dsn as one larder node would.
func openDBNode(t *testing.T, dsn string) *DB {
	t.Helper()
	d, err := OpenDB(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// lockHolders are the server processes that hold the cluster lock named
// key in d's database.
func lockHolders(t *testing.T, d *DB, key string) []int {
	t.Helper()
	k := clusterLockKey(key)
	rows, err := d.sql.QueryContext(t.Context(), `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid::bigint = ? AND objid::bigint = ?
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, k>>32, k&0xffffffff)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

func countRow(t *testing.T, d *DB, query string) int {
	t.Helper()
	var n int
	if err := d.sql.QueryRowContext(t.Context(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestPostgresClusterLocksOfANodeShareOneConnection(t *testing.T) {
	// A database of its own: every connection to it is this node's.
	d := openDBNode(t, backendtest.NewDatabase(t))
	// More holders at once than the server's default max_connections
	// (100), each on its own key, as under a cold install's load.
	const holders = 150
	releases := make(chan func(), holders)
	var wg sync.WaitGroup
	for i := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			r, err := d.ClusterLock(ctx, fmt.Sprintf("artifact\x00npm\x00pkg-%d.tgz", i))
			if err != nil {
				t.Error(err)
				return
			}
			releases <- r
		}()
	}
	wg.Wait()
	close(releases)
	if t.Failed() {
		t.FailNow()
	}
	const mine = `(SELECT oid FROM pg_database WHERE datname = current_database())`
	if n := countRow(t, d, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = `+mine); n != holders {
		t.Errorf("%d advisory locks held; want %d", n, holders)
	}
	if n := countRow(t, d, `SELECT COUNT(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' AND database = `+mine); n != 1 {
		t.Errorf("the locks are held by %d sessions; want 1", n)
	}
	// The node's whole budget: its query pool and the locks' session.
	if n := countRow(t, d, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()`); n > 17 {
		t.Errorf("the node holds %d connections; want at most 17", n)
	}
	for r := range releases {
		r()
	}
	if n := countRow(t, d, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database = `+mine); n != 0 {
		t.Errorf("%d advisory locks still held after every release", n)
	}
}

func TestPostgresClusterLockHasOneHolderInAProcess(t *testing.T) {
	d := openDBNode(t, backendtest.Postgres(t))
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				release, err := d.ClusterLock(t.Context(), "gc")
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				if n > most.Load() {
					most.Store(n)
				}
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				release()
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d goroutines held one lock at once; want 1", most.Load())
	}

	// A taker that gives up waiting for a holder here gets its context's error.
	release, err := d.ClusterLock(t.Context(), "gc")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	gaveUp := make(chan error, 1)
	go func() {
		_, err := d.ClusterLock(ctx, "gc")
		gaveUp <- err
	}()
	for d.ClusterLocksAwaited() != 1 {
		if ctx.Err() != nil {
			t.Fatalf("%d takers said to wait; want 1", d.ClusterLocksAwaited())
		}
		time.Sleep(time.Millisecond)
	}
	if err := <-gaveUp; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a taker of a held lock whose context ended: %v; want context.DeadlineExceeded", err)
	}
	if n := d.ClusterLocksAwaited(); n != 0 {
		t.Errorf("%d takers said to wait after the only one gave up", n)
	}
}

func TestPostgresClusterLockSessionKilledIsNoticedAndReplaced(t *testing.T) {
	dsn := backendtest.Postgres(t)
	a := openDBNode(t, dsn)
	b := openDBNode(t, dsn)
	a.clusterLocks.keepAlive = 20 * time.Millisecond
	lost := make(chan []string, 1)
	a.OnLocksLost(func(keys []string, err error) { lost <- keys })

	held := fmt.Sprintf("artifact of a node cut off %d", time.Now().UnixNano())
	releaseLost, err := a.ClusterLock(t.Context(), held)
	if err != nil {
		t.Fatal(err)
	}
	pids := lockHolders(t, b, held)
	if len(pids) != 1 {
		t.Fatalf("holders of the lock: %v; want one", pids)
	}
	if countRow(t, b, fmt.Sprintf(`SELECT COUNT(*) FROM pg_terminate_backend(%d, 5000) AS ended WHERE ended`, pids[0])) != 1 {
		t.Fatal("could not end the session of the locks")
	}
	select {
	case keys := <-lost:
		if !slices.Equal(keys, []string{held}) {
			t.Errorf("reported lost: %q; want %q", keys, held)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the loss of the session was never reported")
	}

	// The server released it: another node takes it.
	releaseB, err := b.ClusterLock(t.Context(), held)
	if err != nil {
		t.Fatal(err)
	}
	// The node takes other locks on a new session.
	other, err := a.ClusterLock(t.Context(), held+" other")
	if err != nil {
		t.Fatal(err)
	}
	if now := lockHolders(t, b, held+" other"); len(now) != 1 || now[0] == pids[0] {
		t.Errorf("holders of a lock taken after the loss: %v; want one session, not the ended %d", now, pids[0])
	}
	other()
	// While the holder that lost its lock runs, nobody else here takes it.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	if _, err := a.ClusterLock(ctx, held); err == nil {
		t.Error("a second holder here took a lock whose first holder had not released it")
	}
	cancel()
	// Its release leaves the other node's lock alone.
	releaseLost()
	if now := lockHolders(t, b, held); len(now) != 1 {
		t.Errorf("holders after the lost lock's release: %v; want the other node's", now)
	}
	got := make(chan func(), 1)
	go func() {
		r, err := a.ClusterLock(t.Context(), held)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	select {
	case <-got:
		t.Fatal("the node took a lock another node holds")
	case <-time.After(200 * time.Millisecond):
	}
	releaseB()
	select {
	case r := <-got:
		if r != nil {
			r()
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not take the lock once the other released it")
	}
}

func TestPostgresClusterLockReopensASessionEndedWhileIdle(t *testing.T) {
	dsn := backendtest.Postgres(t)
	d := openDBNode(t, dsn)
	key := fmt.Sprintf("gc %d", time.Now().UnixNano())
	release, err := d.ClusterLock(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	pids := lockHolders(t, d, key)
	release()
	if len(pids) != 1 || countRow(t, d, fmt.Sprintf(`SELECT COUNT(*) FROM pg_terminate_backend(%d, 5000) AS ended WHERE ended`, pids[0])) != 1 {
		t.Fatalf("could not end the session of the locks (%v)", pids)
	}
	// Before the keep-alive notices: the next taker finds the session gone.
	release, err = d.ClusterLock(t.Context(), key)
	if err != nil {
		t.Fatalf("a lock after its session ended: %v", err)
	}
	release()
}

func TestPostgresArtifactLockHoldersAllTakeTheirDocumentLocks(t *testing.T) {
	// Fills started ahead of their documents hold their artifacts' locks
	// while their documents load and take theirs: a taker waiting on
	// the server must not keep a document's taker from it.
	d := openDBNode(t, backendtest.Postgres(t))
	const fills = 80
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var allHeld, wg sync.WaitGroup
	allHeld.Add(fills)
	for i := range fills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := d.ClusterLock(ctx, fmt.Sprintf("artifact\x00npm\x00ahead-%d.tgz", i))
			allHeld.Done()
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			allHeld.Wait()
			doc, err := d.ClusterLock(ctx, fmt.Sprintf("%snpm\x00ahead-%d", DocumentLockPrefix, i%10))
			if err != nil {
				t.Error(err)
				return
			}
			doc()
		}()
	}
	wg.Wait()
}
