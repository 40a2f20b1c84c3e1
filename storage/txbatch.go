package storage

import (
	"cmp"
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// Write transactions run one at a time whatever larder does: SQLite takes
// its write lock at BEGIN IMMEDIATE, and on PostgreSQL every writer takes
// writeLockKey. So the writers that queue while one transaction runs are
// run together in the next one, and committed once (group commit). A cold
// install stores a document and an artifact row per package; one commit
// each wrote the same index pages to the log again, and took the locks
// again, for every package (issue 21).
//
// A writer's outcome is its own. When one fails, the transaction is rolled
// back: it is told what it met, having run after the writers before it as
// it would have alone, and every other writer of the batch is run again,
// alone; nothing of theirs was committed. Writers rarely fail, so they do
// not run in savepoints of their own: SQLite copies every page a savepoint
// changes into its sub-journal, a temporary file once it passes 64 KiB, and
// those writes cost a cold install more than its commits. A writer that
// ends the transaction itself (SQLite rolls everything back on a full
// disk) is one more failure. A commit that fails is every writer's
// failure: it may have happened (a connection lost in the middle), and
// counters must not be added twice.
//
// A caller may give up while its writer waits for its turn, including while
// the batch waits for the write lock; a writer taken into a transaction runs
// to its end, and its caller waits for that.

// maxBatch bounds the writers committed together, so that one commit never
// waits on an unbounded queue.
const maxBatch = 64

// Writers no client waits on (txDeferred) wait for company: a cold
// install's clients never wait for an artifact's row, only for its bytes.
// They wait until no other writer has come for deferQuiet, so that a lone
// write commits soon; while a burst keeps them coming (a cold `npm ci` of
// hundreds of packages), until the first has waited deferCap or a batch is
// full. The burst's rows then commit a few times a second instead of
// every few milliseconds among the client's requests: a cold `npm ci` of
// 300 packages took 2-3% less time, for the same CPU, than with every
// deferred writer waiting 10 ms at most (issue 21). A crash loses the rows
// of the last deferCap at most: their artifacts are fetched again when
// next asked for, as if never served.
const (
	deferQuiet = 10 * time.Millisecond
	deferCap   = 250 * time.Millisecond
)

type txQueue struct {
	mu      sync.Mutex
	pending []*txOp
	running bool // a writeLoop is draining pending
	// queued wakes a writeLoop waiting for deferred writers' company.
	queued chan struct{}
	// quiet and capped replace deferQuiet and deferCap when set (tests).
	quiet, capped time.Duration
	// commits counts the transactions committed, for tests.
	commits atomic.Uint64
}

type txOp struct {
	ctx  context.Context
	fn   func(context.Context, *sql.Tx) error
	done chan txOutcome
	// state is opQueued until the writer is taken into a transaction
	// (opTaken) or its caller gives up first (opAbandoned).
	state atomic.Int32
	// deferred says the writer may wait for company (txDeferred) from
	// queued on.
	deferred bool
	queued   time.Time
}

const (
	opQueued = iota
	opTaken
	opAbandoned
)

// take claims op for a transaction; false when its caller gave up.
func (op *txOp) take() bool { return op.state.CompareAndSwap(opQueued, opTaken) }

type txOutcome struct {
	err      error
	panicked any
}

// tx runs fn in a write transaction, committed when fn returns nil. fn may
// share the transaction with other writers' (see above), so it must do
// nothing but its statements on tx, and use the context it is given: a
// caller that gives up must not interrupt the others' statements.
func (d *DB) tx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	if unwaited(ctx) {
		return d.txDeferred(ctx, fn)
	}
	return d.enqueue(ctx, &txOp{ctx: ctx, fn: fn})
}

type unwaitedKey struct{}

// NoOneWaits marks a context whose writes no client waits for: they may
// wait for company, as txDeferred's do. A cold artifact's document, loaded
// beside it, is one: its download is checked against the parsed document,
// not the stored one, and its row waits for company anyway. Deferred too,
// the document shares that commit with other packages' rows instead of
// taking one of its own.
func NoOneWaits(ctx context.Context) context.Context {
	return context.WithValue(ctx, unwaitedKey{}, true)
}

// unwaited says whether ctx was marked by NoOneWaits.
func unwaited(ctx context.Context) bool {
	v, _ := ctx.Value(unwaitedKey{}).(bool)
	return v
}

// txDeferred is tx for a write no client is waiting on: it may wait for
// other writers to share its commit (deferQuiet, deferCap).
func (d *DB) txDeferred(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	return d.enqueue(ctx, &txOp{ctx: ctx, fn: fn, deferred: true, queued: time.Now()})
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
	// A deferred writer never brings forward the wait of a writeLoop
	// waiting for company, only puts it back, which the loop finds when
	// it wakes. Waking the loop for nothing cost a cold install a thread
	// wake-up for each of its deferred writes.
	wake := !op.deferred || len(q.pending) >= maxBatch
	q.mu.Unlock()
	if wake {
		select {
		case q.queued <- struct{}{}:
		default:
		}
	}
	if start {
		go d.writeLoop()
	}
	var out txOutcome
	select {
	case out = <-op.done:
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		// Taken: it runs to its end, and the caller must not believe
		// undone what then commits.
		out = <-op.done
	}
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
	out := d.runAlone(&txOp{ctx: ctx, fn: fn})
	if out.panicked != nil {
		panic(out.panicked)
	}
	return out.err
}

// writeLoop runs the queued writers, a batch at a time, until none is left.
func (d *DB) writeLoop() {
	q := &d.txq
	var timer *time.Timer
	for {
		q.mu.Lock()
		quiet, capped := cmp.Or(q.quiet, deferQuiet), cmp.Or(q.capped, deferCap)
		if wait := deferFor(q.pending, quiet, capped, time.Now()); wait > 0 {
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
		d.runBatch(batch)
	}
}

// deferFor is how long, from now, the writers queued may wait for more:
// zero unless every one of them is deferred, the last came less than quiet
// ago and the first less than capped ago.
func deferFor(pending []*txOp, quiet, capped time.Duration, now time.Time) time.Duration {
	if len(pending) == 0 || len(pending) >= maxBatch {
		return 0
	}
	first, last := pending[0].queued, pending[0].queued
	for _, op := range pending {
		if !op.deferred {
			return 0
		}
		if op.queued.Before(first) {
			first = op.queued
		}
		if op.queued.After(last) {
			last = op.queued
		}
	}
	return min(first.Add(capped).Sub(now), last.Add(quiet).Sub(now))
}

func (d *DB) runBatch(batch []*txOp) {
	live := batch[:0:0]
	for _, op := range batch {
		if op.state.Load() == opAbandoned {
			continue
		}
		live = append(live, op)
	}
	switch {
	case len(live) == 1:
		if out := d.runAlone(live[0]); live[0].state.Load() == opTaken {
			live[0].done <- out
		}
	case len(live) > 1:
		d.runTogether(live)
	}
}

// runAlone runs one writer in a transaction of its own, with its own
// context, as every write ran before batches; it is taken once the
// transaction has begun.
func (d *DB) runAlone(op *txOp) (out txOutcome) {
	tx, err := d.begin(op.ctx)
	if err != nil {
		op.take()
		return txOutcome{err: err}
	}
	if !op.take() { // its caller gave up while it began
		tx.Rollback()
		return txOutcome{err: op.ctx.Err()}
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

// runTogether runs several writers in one transaction. Their statements
// run under contexts that do not end: an interrupted statement would roll
// back the whole transaction, everyone's.
func (d *DB) runTogether(ops []*txOp) {
	alone := func(ops []*txOp) {
		for _, op := range ops {
			out := d.runAlone(op)
			if op.state.Load() == opTaken {
				op.done <- out
			}
		}
	}
	ctx := context.Background()
	tx, err := d.begin(ctx)
	if err != nil {
		alone(ops)
		return
	}
	// Taken only now: a caller may give up while the batch waits for the
	// write lock.
	taken := ops[:0:0]
	for _, op := range ops {
		if op.take() {
			taken = append(taken, op)
		}
	}
	// rerun gives writers back to the queue's order of things: not taken,
	// to be run alone.
	rerun := func(ops []*txOp) {
		for _, op := range ops {
			op.state.Store(opQueued)
		}
		alone(ops)
	}
	for i, op := range taken {
		out := call(context.WithoutCancel(op.ctx), tx, op.fn)
		if out.err == nil && out.panicked == nil {
			continue
		}
		tx.Rollback()
		op.done <- out
		rerun(append(taken[:i:i], taken[i+1:]...))
		return
	}
	err = tx.Commit()
	if err == nil {
		d.txq.commits.Add(1)
		d.writes.Add(uint64(len(taken)))
	}
	for _, op := range taken {
		op.done <- txOutcome{err: err}
	}
}

// begin starts a write transaction from the pool, which replaces a
// connection found broken.
func (d *DB) begin(ctx context.Context) (*sql.Tx, error) {
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
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
