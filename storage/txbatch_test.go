package storage

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"
)

// writeMinute is a writer that records one traffic minute, the smallest row
// the schema has.
func writeMinute(minute int64) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO traffic (registry, minute, cached, upstream) VALUES ('batch', ?, 1, 0)`, minute)
		return err
	}
}

func minutesWritten(t *testing.T, d *DB) map[int64]bool {
	t.Helper()
	rows, err := d.sql.QueryContext(t.Context(), `SELECT minute FROM traffic WHERE registry = 'batch'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int64]bool{}
	for rows.Next() {
		var m int64
		if err := rows.Scan(&m); err != nil {
			t.Fatal(err)
		}
		got[m] = true
	}
	return got
}

// queueBehindGate starts a writer that holds the transaction until gate is
// closed, then runs each of writers from its own goroutine, queued behind
// it in their order. The returned function closes the gate
// and gives each writer's outcome, in order.
func queueBehindGate(t *testing.T, d *DB, writers ...func(context.Context, *sql.Tx) error) func() []any {
	t.Helper()
	gate, entered := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- d.tx(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
			close(entered)
			<-gate
			return writeMinute(0)(ctx, tx)
		})
	}()
	<-entered
	outs := make([]any, len(writers))
	var wg sync.WaitGroup
	for i, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					outs[i] = p
				}
			}()
			if err := d.tx(t.Context(), w); err != nil {
				outs[i] = err
			}
		}()
		waitQueued(t, d, i+1)
	}
	return func() []any {
		close(gate)
		if err := <-first; err != nil {
			t.Fatalf("the writer holding the gate: %v", err)
		}
		wg.Wait()
		return outs
	}
}

// setDefer replaces deferQuiet and deferCap for d's writers; zero puts
// each back.
func setDefer(d *DB, quiet, capped time.Duration) {
	d.txq.mu.Lock()
	defer d.txq.mu.Unlock()
	d.txq.quiet, d.txq.capped = quiet, capped
}

// waitQueued waits until n writers wait in d's queue.
func waitQueued(t *testing.T, d *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.txq.mu.Lock()
		queued := len(d.txq.pending)
		d.txq.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writers queued", queued, n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestWritersQueuedBehindATransactionCommitTogetherInTheNext(t *testing.T) {
	d := newTestDB(t)
	var writers []func(context.Context, *sql.Tx) error
	for i := range 10 {
		writers = append(writers, writeMinute(int64(i+1)))
	}
	before, commitsBefore := d.writes.Load(), d.txq.commits.Load()
	release := queueBehindGate(t, d, writers...)
	for i, out := range release() {
		if out != nil {
			t.Errorf("writer %d: %v", i+1, out)
		}
	}
	if got := minutesWritten(t, d); len(got) != 11 {
		t.Errorf("rows written: %v, want minutes 0 to 10", got)
	}
	if n := d.writes.Load() - before; n != 11 {
		t.Errorf("committed writes counted: %d, want 11", n)
	}
	if n := d.txq.commits.Load() - commitsBefore; n != 2 {
		t.Errorf("transactions committed: %d, want 2 (the gate's, then the ten queued behind it)", n)
	}
}

// A failing writer of a batch is told what it met after the writers queued
// before it, as if it had run alone after them, and its work is not done
// twice; its writes are undone and the writers around it still commit.
func TestAWriterThatFailsInABatchIsToldItsOwnErrorAndTheOthersCommit(t *testing.T) {
	d := newTestDB(t)
	mine := errors.New("this writer's own failure")
	var calls int
	var sawEarlier bool
	release := queueBehindGate(t, d,
		writeMinute(1),
		func(ctx context.Context, tx *sql.Tx) error {
			calls++
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM traffic WHERE registry = 'batch' AND minute = 1`).Scan(&n); err != nil {
				return err
			}
			sawEarlier = n == 1
			if err := writeMinute(2)(ctx, tx); err != nil {
				return err
			}
			return mine // after a write, which must not stay
		},
		func(ctx context.Context, tx *sql.Tx) error { panic("a writer's bug") },
		writeMinute(3),
	)
	outs := release()
	if outs[0] != nil || outs[3] != nil {
		t.Errorf("the writers that succeeded were told %v and %v", outs[0], outs[3])
	}
	if err, _ := outs[1].(error); !errors.Is(err, mine) {
		t.Errorf("the failing writer was told %v, want its own error", outs[1])
	}
	if outs[2] != "a writer's bug" {
		t.Errorf("the panicking writer's caller got %v, want its panic", outs[2])
	}
	if calls != 1 {
		t.Errorf("the failing writer ran %d times, want once", calls)
	}
	if !sawEarlier {
		t.Error("the failing writer did not see the write of the writer queued before it")
	}
	got := minutesWritten(t, d)
	if !got[1] || !got[3] || got[2] || len(got) != 3 {
		t.Errorf("rows written: %v, want minutes 0, 1 and 3", got)
	}
}

// A writer can end the whole transaction (SQLite rolls it all back on a
// full disk, for one): the others must not lose their writes for it.
func TestWritersOfABatchWhoseTransactionEndsUnderThemAreRunAgainAlone(t *testing.T) {
	d := newTestDB(t)
	release := queueBehindGate(t, d,
		writeMinute(1),
		func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `ROLLBACK`); err != nil {
				return err
			}
			return errors.New("the transaction is gone")
		},
		writeMinute(3),
	)
	outs := release()
	if outs[0] != nil || outs[2] != nil {
		t.Errorf("the writers around the one that ended the transaction were told %v and %v", outs[0], outs[2])
	}
	if outs[1] == nil {
		t.Error("the writer that ended the transaction was told it succeeded")
	}
	got := minutesWritten(t, d)
	if !got[1] || !got[3] || len(got) != 3 {
		t.Errorf("rows written: %v, want minutes 0, 1 and 3", got)
	}
}

func TestAWriterWhoseContextEndedWhileQueuedIsNotRun(t *testing.T) {
	d := newTestDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	gate, entered := make(chan struct{}), make(chan struct{})
	go d.tx(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
		close(entered)
		<-gate
		return nil
	})
	<-entered
	result := make(chan error, 1)
	go func() { result <- d.tx(ctx, writeMinute(1)) }()
	waitQueued(t, d, 1)
	cancel()
	// Told at once, while the transaction ahead still holds the lock.
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a writer cancelled in the queue was told %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("a caller that gave up was kept waiting for the transaction ahead")
	}
	close(gate)
	if err := d.tx(t.Context(), writeMinute(2)); err != nil {
		t.Fatal(err)
	}
	if got := minutesWritten(t, d); got[1] || !got[2] {
		t.Errorf("rows written: %v, want only minute 2, after the writer cancelled in the queue", got)
	}
}

// A deferred writer waits for company: the next writer takes it along in
// its own commit; alone, it commits by itself once the queue has been
// quiet for deferQuiet.
func TestADeferredWriterCommitsWithTheNextWriterOrAloneAfterItsWait(t *testing.T) {
	d := newTestDB(t)
	if n := commitsWithTheNext(t, d, func() error { return d.txDeferred(t.Context(), writeMinute(1)) }); n != 1 {
		t.Errorf("a deferred writer and the writer after it took %d commits, want 1", n)
	}

	commits := d.txq.commits.Load()
	start := time.Now()
	if err := d.txDeferred(t.Context(), writeMinute(3)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < deferQuiet {
		t.Errorf("a deferred writer alone committed after %v, before its wait of %v was over", took, deferQuiet)
	}
	if n := d.txq.commits.Load() - commits; n != 1 {
		t.Errorf("a deferred writer alone took %d commits, want 1", n)
	}
	if got := minutesWritten(t, d); len(got) != 3 {
		t.Errorf("rows written: %v, want minutes 1 to 3", got)
	}
}

func TestAWriterNoOneWaitsForCommitsWithTheNextWriter(t *testing.T) {
	d := newTestDB(t)
	if n := commitsWithTheNext(t, d, func() error { return d.tx(NoOneWaits(t.Context()), writeMinute(1)) }); n != 1 {
		t.Errorf("a writer no one waits for and the writer after it took %d commits, want 1", n)
	}
	if got := minutesWritten(t, d); len(got) != 2 {
		t.Errorf("rows written: %v, want minutes 1 and 2", got)
	}
}

// commitsWithTheNext runs first (a writer of minute 1) until it is queued,
// then a writer of minute 2 that no one defers, and counts the commits the
// two took. The window is long: however slow this machine, the second
// writer comes before a deferred first one's wait is over.
func commitsWithTheNext(t *testing.T, d *DB, first func() error) uint64 {
	t.Helper()
	setDefer(d, time.Hour, time.Hour)
	defer setDefer(d, 0, 0)
	commits := d.txq.commits.Load()
	done := make(chan error, 1)
	go func() { done <- first() }()
	waitQueued(t, d, 1)
	if err := d.tx(t.Context(), writeMinute(2)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return d.txq.commits.Load() - commits
}

// Deferred writers wait for company only until a batch is full: the
// writer that fills it wakes the loop, however long the others could wait.
func TestDeferredWritersThatFillABatchCommitWithoutWaiting(t *testing.T) {
	d := newTestDB(t)
	setDefer(d, time.Hour, time.Hour)
	errs := make(chan error, maxBatch)
	for i := range maxBatch {
		go func() { errs <- d.txDeferred(t.Context(), writeMinute(int64(i+1))) }()
	}
	timeout := time.After(time.Minute)
	for range maxBatch {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatalf("%d deferred writers, a full batch, still wait for company", maxBatch)
		}
	}
	if got := minutesWritten(t, d); len(got) != maxBatch {
		t.Errorf("%d rows written, want %d", len(got), maxBatch)
	}
}

func TestDeferForWaitsForAQuietQueueUpToACap(t *testing.T) {
	now := time.Unix(1000, 0)
	const quiet, capped = 10 * time.Millisecond, 250 * time.Millisecond
	deferredAt := func(ago ...time.Duration) []*txOp {
		var ops []*txOp
		for _, a := range ago {
			ops = append(ops, &txOp{deferred: true, queued: now.Add(-a)})
		}
		return ops
	}
	full := deferredAt(make([]time.Duration, maxBatch)...)
	for _, c := range []struct {
		name    string
		pending []*txOp
		want    time.Duration
	}{
		{"none", nil, 0},
		{"one just queued", deferredAt(0), quiet},
		{"one queued 4ms ago", deferredAt(4 * time.Millisecond), 6 * time.Millisecond},
		{"one past its quiet wait", deferredAt(11 * time.Millisecond), -time.Millisecond},
		{"a burst: the last came 2ms ago", deferredAt(100*time.Millisecond, 50*time.Millisecond, 2*time.Millisecond), 8 * time.Millisecond},
		{"a burst near the cap", deferredAt(245*time.Millisecond, 1*time.Millisecond), 5 * time.Millisecond},
		{"a burst past the cap", deferredAt(260*time.Millisecond, 0), -10 * time.Millisecond},
		{"a writer someone waits for", append(deferredAt(0), &txOp{queued: now}), 0},
		{"a full batch", full, 0},
	} {
		if got := deferFor(c.pending, quiet, capped, now); got != c.want {
			t.Errorf("%s: deferFor = %v, want %v", c.name, got, c.want)
		}
	}
}

// While deferred writers keep coming, the first one commits once it has
// waited the cap, though the queue never went quiet. (Quiet for 5 s, the
// writers left commit in the end whatever happened.)
func TestDeferredWritersInABurstCommitByTheCap(t *testing.T) {
	d := newTestDB(t)
	const capped = 200 * time.Millisecond
	setDefer(d, 5*time.Second, capped)
	start := time.Now()
	first := make(chan error, 1)
	go func() { first <- d.txDeferred(t.Context(), writeMinute(1)) }()
	waitQueued(t, d, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	// Fewer writers than a batch: a full one would commit them anyway.
	for minute := int64(2); minute < maxBatch; minute++ {
		select {
		case err := <-first:
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took < capped {
				t.Errorf("the first writer of a burst committed after %v, before the cap of %v", took, capped)
			}
			// The rest commit by the cap too, the last a cap after it came.
			return
		case <-tick.C:
			wg.Go(func() {
				if err := d.txDeferred(t.Context(), writeMinute(minute)); err != nil {
					t.Error(err)
				}
			})
		}
	}
	t.Errorf("the first writer of a burst still waits for company after %d more came; the cap is %v", maxBatch-2, capped)
}
