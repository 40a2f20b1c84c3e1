package storage

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Write transactions run one at a time whatever larder does: SQLite takes
// its write lock at BEGIN IMMEDIATE, and on PostgreSQL every writer takes
// writeLockKey. So the writers that queue while one transaction runs are
// run together in the next one, each in a savepoint of its own, and
// committed once (group commit). A cold install stores a document and an
// artifact row per package; one commit each wrote the same index pages to
// the log again, and took the locks again, for every package (issue 21).
//
// A writer's outcome is its own: one whose work fails is rolled back to its
// savepoint and told so, while the others commit. Should the transaction
// itself fail (its commit, or a rollback SQLite refused), every writer of
// the batch that had succeeded is run again, alone.

// maxBatch bounds the writers committed together, so that one commit never
// waits on an unbounded queue.
const maxBatch = 64

// maxDefer is how long a writer no client waits on (txDeferred) may wait
// for company. A cold install's clients never wait for an artifact's row,
// only for its bytes: deferred, the row commits with the next document's,
// one commit per package instead of two.
const maxDefer = 10 * time.Millisecond

type txQueue struct {
	mu      sync.Mutex
	pending []*txOp
	running bool // a writeLoop is draining pending
	// queued wakes a writeLoop waiting for deferred writers' company.
	queued chan struct{}
	// deferWindow replaces maxDefer when set (tests).
	deferWindow time.Duration
	// commits counts the transactions committed, for tests.
	commits atomic.Uint64
}

type txOp struct {
	ctx  context.Context
	fn   func(context.Context, *sql.Tx) error
	done chan txOutcome
	// deferUntil, for a deferred writer, is when it stops waiting for
	// other writers to commit with.
	deferUntil time.Time
}

type txOutcome struct {
	err      error
	panicked any
}

// tx runs fn in a write transaction, committed when fn returns nil. fn may
// share the transaction with other writers' (see above), so it must do
// nothing but its statements on tx, and use the context it is given: a
// caller that gives up must not interrupt the others' statements.
func (d *DB) tx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	return d.enqueue(ctx, &txOp{ctx: ctx, fn: fn})
}

// txDeferred is tx for a write no client is waiting on: it may wait up to
// maxDefer for another writer to share its commit.
func (d *DB) txDeferred(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	window := maxDefer
	d.txq.mu.Lock()
	if d.txq.deferWindow > 0 {
		window = d.txq.deferWindow
	}
	d.txq.mu.Unlock()
	return d.enqueue(ctx, &txOp{ctx: ctx, fn: fn, deferUntil: time.Now().Add(window)})
}

func (d *DB) enqueue(ctx context.Context, op *txOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op.done = make(chan txOutcome, 1)
	q := &d.txq
	q.mu.Lock()
	if q.queued == nil {
		q.queued = make(chan struct{}, 1)
	}
	q.pending = append(q.pending, op)
	start := !q.running
	q.running = true
	q.mu.Unlock()
	select {
	case q.queued <- struct{}{}:
	default:
	}
	if start {
		go d.writeLoop()
	}
	// Waited for even when ctx ends: an op that began runs to its end, and
	// the caller must not believe undone what then commits.
	out := <-op.done
	if out.panicked != nil {
		panic(out.panicked)
	}
	return out.err
}

// txAlone runs fn in a write transaction of its own, never batched: for
// writers with effects beyond their statements (counting what they wrote,
// marking the blob store), which a batch that fails would run twice, and for
// the long ones (a migration, an import's rows).
func (d *DB) txAlone(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	out := d.runAlone(&writerConn{conn: conn}, &txOp{ctx: ctx, fn: fn})
	if out.panicked != nil {
		panic(out.panicked)
	}
	return out.err
}

// writeLoop runs the queued writers, a batch at a time, until none is left.
// It keeps one connection for the run: its pages stay in memory from one
// batch to the next, where another connection would read again what the
// last write changed.
func (d *DB) writeLoop() {
	q := &d.txq
	w := &writerConn{}
	defer w.release()
	var timer *time.Timer
	for {
		q.mu.Lock()
		if wait := deferFor(q.pending); wait > 0 {
			q.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(wait)
				defer timer.Stop()
			} else {
				timer.Reset(wait)
			}
			select {
			case <-q.queued:
			case <-timer.C:
			}
			continue
		}
		n := min(len(q.pending), maxBatch)
		batch := q.pending[:n:n]
		q.pending = q.pending[n:]
		if n == 0 {
			q.pending = nil
			q.running = false
		}
		q.mu.Unlock()
		if n == 0 {
			return
		}
		if w.conn == nil {
			conn, err := d.sql.Conn(context.Background())
			if err != nil {
				for _, op := range batch {
					op.done <- txOutcome{err: err}
				}
				continue
			}
			w.conn = conn
		}
		d.runBatch(w, batch)
		if w.broken {
			w.release()
		}
	}
}

// deferFor is how long the writers queued may wait for more: zero unless
// every one of them is deferred and none has waited its maxDefer.
func deferFor(pending []*txOp) time.Duration {
	if len(pending) == 0 || len(pending) >= maxBatch {
		return 0
	}
	until := pending[0].deferUntil
	for _, op := range pending {
		if op.deferUntil.IsZero() {
			return 0
		}
		until = minTime(until, op.deferUntil)
	}
	return time.Until(until)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// writerConn is writeLoop's connection; broken once a transaction could
// not begin on it, after which the next batch takes another.
type writerConn struct {
	conn   *sql.Conn
	broken bool
}

func (w *writerConn) release() {
	if w.conn != nil {
		w.conn.Close()
	}
	w.conn, w.broken = nil, false
}

func (d *DB) runBatch(conn *writerConn, batch []*txOp) {
	live := batch[:0:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.done <- txOutcome{err: err}
			continue
		}
		live = append(live, op)
	}
	if len(live) == 1 {
		live[0].done <- d.runAlone(conn, live[0])
		return
	}
	if len(live) > 0 {
		d.runTogether(conn, live)
	}
}

// runAlone runs one writer in a transaction of its own, with its own
// context: as every write ran before batches.
func (d *DB) runAlone(conn *writerConn, op *txOp) (out txOutcome) {
	tx, err := d.begin(op.ctx, conn)
	if err != nil {
		return txOutcome{err: err}
	}
	out = call(op.ctx, tx, op.fn)
	if out.err != nil || out.panicked != nil {
		tx.Rollback()
		return out
	}
	if err := tx.Commit(); err != nil {
		return txOutcome{err: err}
	}
	d.txq.commits.Add(1)
	d.writes.Add(1)
	return out
}

// runTogether runs several writers in one transaction, each in a
// savepoint. Their statements run under contexts that do not end: an
// interrupted statement would roll back the whole transaction, everyone's.
func (d *DB) runTogether(conn *writerConn, ops []*txOp) {
	alone := func(ops []*txOp) {
		for _, op := range ops {
			op.done <- d.runAlone(conn, op)
		}
	}
	ctx := context.Background()
	tx, err := d.begin(ctx, conn)
	if err != nil {
		alone(ops)
		return
	}
	var succeeded []*txOp
	var failed []txOutcome
	var failedOps []*txOp
	for i, op := range ops {
		sp := fmt.Sprintf("writer_%d", i)
		if _, err := tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
			tx.Rollback()
			alone(append(succeeded, ops[i:]...))
			d.tell(failedOps, failed)
			return
		}
		out := call(context.WithoutCancel(op.ctx), tx, op.fn)
		if out.err == nil && out.panicked == nil {
			if _, err := tx.ExecContext(ctx, "RELEASE "+sp); err != nil {
				tx.Rollback()
				alone(append(succeeded, ops[i:]...))
				d.tell(failedOps, failed)
				return
			}
			succeeded = append(succeeded, op)
			continue
		}
		// Some errors (a full disk, say) make SQLite roll back the
		// whole transaction: then the savepoint is gone too.
		_, rerr := tx.ExecContext(ctx, "ROLLBACK TO "+sp)
		if rerr == nil {
			_, rerr = tx.ExecContext(ctx, "RELEASE "+sp)
		}
		failedOps, failed = append(failedOps, op), append(failed, out)
		if rerr != nil {
			tx.Rollback()
			alone(append(succeeded, ops[i+1:]...))
			d.tell(failedOps, failed)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		alone(succeeded)
		d.tell(failedOps, failed)
		return
	}
	d.txq.commits.Add(1)
	d.writes.Add(uint64(len(succeeded)))
	for _, op := range succeeded {
		op.done <- txOutcome{}
	}
	d.tell(failedOps, failed)
}

func (d *DB) tell(ops []*txOp, outs []txOutcome) {
	for i, op := range ops {
		op.done <- outs[i]
	}
}

func (d *DB) begin(ctx context.Context, w *writerConn) (*sql.Tx, error) {
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		if ctx.Err() == nil {
			w.broken = true
		}
		return nil, err
	}
	if d.postgres {
		// One writer at a time, as SQLite's BEGIN IMMEDIATE gives: the
		// writers read before they write (see postgres.go).
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, writeLockKey); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	return tx, nil
}

// call runs fn, turning a panic into an outcome that its caller re-panics
// with on its own goroutine.
func call(ctx context.Context, tx *sql.Tx, fn func(context.Context, *sql.Tx) error) (out txOutcome) {
	defer func() {
		if p := recover(); p != nil {
			out = txOutcome{panicked: p}
		}
	}()
	return txOutcome{err: fn(ctx, tx)}
}
