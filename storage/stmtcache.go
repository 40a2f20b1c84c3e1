package storage

import (
	"context"
	"database/sql/driver"
	"strings"
	"sync"
)

// maxCachedStmts bounds the statements one connection keeps prepared.
// larder's SQL is a few dozen fixed texts; a text built per call (a list
// of placeholders) past the bound is prepared and dropped as before.
const maxCachedStmts = 128

// stmtCache keeps one connection's statements prepared, by text. SQLite
// parses and plans a statement's text each time it is run otherwise, and
// that was a fifth of what a cold artifact cost larder in CPU: the same
// few statements, run for every package.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*cachedStmt
}

type cachedStmt struct {
	fullStmt
	// busy: its result set is open. SQLite runs a prepared statement once
	// at a time, so a second use meanwhile (a query inside a loop over
	// the same query's rows) prepares its own.
	busy bool
}

// cacheable: a script of several statements is prepared one by one as it
// runs, so there is nothing to keep.
func cacheable(query string) bool {
	return !strings.Contains(strings.TrimRight(query, "; \t\r\n"), ";")
}

// take is query's prepared statement, marked busy, or nil when it is busy,
// not cacheable, the cache is full, or it does not prepare (the caller
// then runs the text as it is, and reports its error).
func (c *stmtCache) take(ctx context.Context, conn fullConn, query string) *cachedStmt {
	if !cacheable(query) {
		return nil
	}
	c.mu.Lock()
	if s := c.m[query]; s != nil {
		if s.busy {
			c.mu.Unlock()
			return nil
		}
		s.busy = true
		c.mu.Unlock()
		return s
	}
	full := len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if full {
		return nil
	}
	prepared, err := conn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	fs, ok := prepared.(fullStmt)
	if !ok {
		prepared.Close()
		return nil
	}
	s := &cachedStmt{fullStmt: fs, busy: true}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*cachedStmt{}
	}
	if _, raced := c.m[query]; raced {
		// database/sql uses a connection from one goroutine at a time,
		// so this does not happen; were it to, the first stays cached.
		return s
	}
	c.m[query] = s
	return s
}

// give marks s free again; a statement prepared past the cache is closed.
func (c *stmtCache) give(query string, s *cachedStmt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[query] == s {
		s.busy = false
		return
	}
	s.Close()
}

// close finalizes every statement, before the connection closes.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.m {
		s.Close()
		delete(c.m, q)
	}
}

// execCached runs query on conn's prepared statement for it, if it has
// one to lend; ok is false when it did not run.
func (c *stmtCache) exec(ctx context.Context, conn fullConn, query string, args []driver.NamedValue) (r driver.Result, ok bool, err error) {
	s := c.take(ctx, conn, query)
	if s == nil {
		return nil, false, nil
	}
	defer c.give(query, s)
	r, err = s.ExecContext(ctx, args)
	return r, true, err
}

// query is exec for a statement that returns rows: the statement is lent
// until the rows are closed (release).
func (c *stmtCache) query(ctx context.Context, conn fullConn, query string, args []driver.NamedValue) (rows driver.Rows, release func(), ok bool, err error) {
	s := c.take(ctx, conn, query)
	if s == nil {
		return nil, nil, false, nil
	}
	rows, err = s.QueryContext(ctx, args)
	if err != nil {
		c.give(query, s)
		return nil, nil, true, err
	}
	var once sync.Once
	return rows, func() { once.Do(func() { c.give(query, s) }) }, true, nil
}
