package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgLocks holds a node's cluster locks (see ClusterLock) on one PostgreSQL
// session, whatever their number: a node then needs one connection for
// its locks, not one per lock held or awaited, and three nodes fit a
// default server's max_connections under any load.
//
// A lock is a session advisory lock taken with pg_try_advisory_lock; while
// another node holds it the taker retries after a short, growing pause, so
// no taker ever occupies the session while it waits, and a holder waiting
// for another lock (an artifact's fill waiting for its document's) can
// never starve the one it waits for.
//
// Session advisory locks are re-entrant: the session would grant a key it
// holds to every goroutine that asks. So a key has at most one holder in
// the process (local), and only that holder asks the server.
//
// When the session breaks, the server has already released every lock it
// held: the next round trip (a taker's, a release's, or the keep-alive
// ping's) notices, the holders' keys are reported as lost (OnLocksLost),
// and the next taker opens a fresh session. A holder that lost its lock
// runs to its end: another node may meanwhile take the lock and do the
// same work (at worst a second upstream fetch of one artifact, whose
// digest is checked as any other), but no other holder in this process
// takes its key until it releases it.
type pgLocks struct {
	cfg *pgx.ConnConfig
	// keepAlive is the pause between pings of an open session.
	keepAlive time.Duration
	onLost    atomic.Pointer[func(keys []string, err error)]
	// waiting counts takers that found their lock held and wait for it.
	waiting atomic.Int64

	mu    sync.Mutex
	local map[int64]chan struct{} // closed when the key's holder here releases it

	// turn is the session's one round trip at a time; it guards s and
	// closed.
	turn   chan struct{}
	s      *lockSession
	closed bool
}

// lockSession is one PostgreSQL session and the locks it holds.
type lockSession struct {
	conn *pgx.Conn
	held map[int64]string // the key's name, to report it if it is lost
	done chan struct{}    // closed when the session is given up
}

const (
	// lockRoundTrip bounds one statement on the session. A taker's context
	// is never passed to it: pgx closes a connection whose statement is
	// cancelled, and with it every lock of the node.
	lockRoundTrip = 10 * time.Second
	lockRetryMin  = 10 * time.Millisecond
	lockRetryMax  = 100 * time.Millisecond
)

var errLocksClosed = errors.New("the database is closed")

func newPGLocks(cfg *pgx.ConnConfig) *pgLocks {
	return &pgLocks{
		cfg:       cfg,
		keepAlive: 5 * time.Second,
		local:     map[int64]chan struct{}{},
		turn:      make(chan struct{}, 1),
	}
}

// lock takes the lock named name, waiting while another holder, in this
// process or on another node, has it.
func (m *pgLocks) lock(ctx context.Context, name string) (release func(), err error) {
	k := clusterLockKey(name)
	waited := false
	wait := func() {
		if !waited {
			waited = true
			m.waiting.Add(1)
		}
	}
	defer func() {
		if waited {
			m.waiting.Add(-1)
		}
	}()
	if err := m.takeLocal(ctx, k, wait); err != nil {
		return nil, err
	}
	pause := lockRetryMin
	for {
		s, got, err := m.try(ctx, k, name)
		if err != nil {
			m.freeLocal(k)
			return nil, err
		}
		if got {
			var once sync.Once
			return func() {
				once.Do(func() {
					m.unlock(s, k)
					m.freeLocal(k)
				})
			}, nil
		}
		wait()
		// Jittered, so that nodes waiting for one key do not ask in step.
		t := time.NewTimer(pause/2 + rand.N(pause/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			m.freeLocal(k)
			return nil, context.Cause(ctx)
		case <-t.C:
		}
		pause = min(2*pause, lockRetryMax)
	}
}

// takeLocal makes the caller the process's one holder of k, calling wait
// if another holds it.
func (m *pgLocks) takeLocal(ctx context.Context, k int64, wait func()) error {
	for {
		m.mu.Lock()
		held, busy := m.local[k]
		if !busy {
			m.local[k] = make(chan struct{})
			m.mu.Unlock()
			return nil
		}
		m.mu.Unlock()
		wait()
		select {
		case <-held:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func (m *pgLocks) freeLocal(k int64) {
	m.mu.Lock()
	close(m.local[k])
	delete(m.local, k)
	m.mu.Unlock()
}

// try asks the server for k once. A session found broken is given up and
// the question asked again on a fresh one.
func (m *pgLocks) try(ctx context.Context, k int64, name string) (*lockSession, bool, error) {
	select {
	case m.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, false, context.Cause(ctx)
	}
	defer func() { <-m.turn }()
	for attempt := 0; ; attempt++ {
		s, err := m.session(ctx)
		if err != nil {
			return nil, false, err
		}
		rctx, cancel := context.WithTimeout(context.Background(), lockRoundTrip)
		var got bool
		err = s.conn.QueryRow(rctx, `SELECT pg_try_advisory_lock($1)`, k).Scan(&got)
		cancel()
		if err == nil {
			if got {
				s.held[k] = name
			}
			return s, got, nil
		}
		m.lose(s, err)
		if attempt > 0 {
			return nil, false, err
		}
	}
}

// unlock releases k on s, unless s is gone and k with it.
func (m *pgLocks) unlock(s *lockSession, k int64) {
	m.turn <- struct{}{}
	defer func() { <-m.turn }()
	if m.s != s {
		return // lost with its session, and reported then
	}
	delete(s.held, k)
	ctx, cancel := context.WithTimeout(context.Background(), lockRoundTrip)
	defer cancel()
	if _, err := s.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, k); err != nil {
		m.lose(s, err)
	}
}

// session is the open session, opened if there is none. The caller has
// the turn.
func (m *pgLocks) session(ctx context.Context) (*lockSession, error) {
	if m.closed {
		return nil, errLocksClosed
	}
	if m.s != nil {
		return m.s, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lockRoundTrip)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, m.cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the session for cluster locks: %w", err)
	}
	m.s = &lockSession{conn: conn, held: map[int64]string{}, done: make(chan struct{})}
	go m.ping(m.s)
	return m.s, nil
}

// lose gives up s, whose connection failed with err: the server released
// its locks when the connection ended (or does as it is closed here). The
// caller has the turn.
func (m *pgLocks) lose(s *lockSession, err error) {
	m.s = nil
	close(s.done)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	s.conn.Close(ctx)
	cancel()
	if len(s.held) == 0 {
		return
	}
	keys := make([]string, 0, len(s.held))
	for _, name := range s.held {
		keys = append(keys, name)
	}
	if fn := m.onLost.Load(); fn != nil {
		(*fn)(keys, err)
		return
	}
	slog.Warn("cluster locks lost with their PostgreSQL session: other nodes may take them while their holders here finish",
		"locks", keys, "err", err)
}

// ping checks s between its uses, so that locks lost with it are reported
// when they are lost, not at their release.
func (m *pgLocks) ping(s *lockSession) {
	t := time.NewTicker(m.keepAlive)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		select {
		case <-s.done:
			return
		case m.turn <- struct{}{}:
		}
		if m.s == s {
			ctx, cancel := context.WithTimeout(context.Background(), lockRoundTrip)
			if err := s.conn.Ping(ctx); err != nil {
				m.lose(s, err)
			}
			cancel()
		}
		<-m.turn
	}
}

// close ends the session, releasing every lock on the server; takers
// after it fail.
func (m *pgLocks) close() {
	m.turn <- struct{}{}
	defer func() { <-m.turn }()
	m.closed = true
	if s := m.s; s != nil {
		m.s = nil
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.conn.Close(ctx)
		cancel()
	}
}
