package storage

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// The catalog is what the UI lists: per registry, its packages with their
// counters (hits, last served, files held and their bytes), searched by name,
// sorted and paged.
//
// A page must come back in a few milliseconds with 100,000 packages. SQL
// cannot do that here: a substring search is a scan of every name (30–50 ms
// in the pure-Go SQLite), and a deep OFFSET walks the index up to it. So the
// Catalog keeps a snapshot of a registry's rows in memory (about 90 bytes a
// package), with each sort's order worked out once per snapshot; a query is
// then one pass over names at most. A snapshot older than MaxAge, or taken
// before larder last committed a write (a package just fetched must show in
// the list the overview counts it in), is checked against a fingerprint of
// the table (one aggregate query) and read again
// only when that changed: at once for a registry of up to 10,000 packages,
// in the background for a larger one, whose old snapshot answers meanwhile.

// RegistryTotals sums a registry's catalog.
type RegistryTotals struct {
	Packages int64 // packages larder was asked for
	Files    int64 // files whose bytes larder holds
	Bytes    int64 // their size
}

// RegistryTotals returns one registry's totals straight from the database
// (a scan of its packages; the UI asks a Catalog instead).
func (d *DB) RegistryTotals(ctx context.Context, registry string) (RegistryTotals, error) {
	var t RegistryTotals
	err := d.sql.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(files), 0), COALESCE(SUM(bytes), 0)
		FROM packages WHERE registry = ?`, registry).Scan(&t.Packages, &t.Files, &t.Bytes)
	return t, err
}

// PackageSort names an order of the package list.
type PackageSort string

const (
	SortName     PackageSort = "name"      // by name (the zero value means this too)
	SortLastUsed PackageSort = "last_used" // by when it was last served
	SortSize     PackageSort = "size"      // by the bytes of its files held
	SortHits     PackageSort = "hits"      // by how often it was served
)

// ParsePackageSort reads a sort name; "" is SortName. ok is false for a name
// it does not know.
func ParsePackageSort(s string) (sort PackageSort, ok bool) {
	switch PackageSort(s) {
	case SortName, SortLastUsed, SortSize, SortHits:
		return PackageSort(s), true
	case "":
		return SortName, true
	}
	return SortName, false
}

// PackageQuery selects a page of a registry's packages. The zero value is
// the first 50 packages by name, ascending.
type PackageQuery struct {
	// Search keeps the packages whose name contains it, ignoring case;
	// "" keeps all.
	Search string
	// Prefix makes Search match the start of the name only.
	Prefix bool
	Sort   PackageSort // "" is SortName
	Desc   bool        // descending; ties are broken by name, the same way
	Offset int         // rows to skip; negative is 0
	Limit  int         // rows to return; 0 or less is 50, at most 1000
}

// PackageRow is one package in the catalog.
type PackageRow struct {
	Name       string
	FirstSeen  time.Time
	LastServed time.Time // zero when never served
	Hits       int64
	Files      int64 // files whose bytes are held
	Bytes      int64
}

// PackagePage is one page of a listing and how many packages match in all.
type PackagePage struct {
	Total    int
	Packages []PackageRow
	// AsOf is when the rows were read from the database.
	AsOf time.Time
}

const packageColumns = `name, first_seen_at, last_served_at, hits, files, bytes`

func scanPackage(sc interface{ Scan(...any) error }) (PackageRow, error) {
	var p PackageRow
	var first, served int64
	if err := sc.Scan(&p.Name, &first, &served, &p.Hits, &p.Files, &p.Bytes); err != nil {
		return PackageRow{}, err
	}
	p.FirstSeen, p.LastServed = fromMillis(first), fromMillis(served)
	return p, nil
}

// Package returns one package's catalog row, straight from the database, or
// an error wrapping ErrNotFound.
func (d *DB) Package(ctx context.Context, registry, name string) (PackageRow, error) {
	p, err := scanPackage(d.sql.QueryRowContext(ctx, `SELECT `+packageColumns+` FROM packages
		WHERE registry = ? AND name = ?`, registry, name))
	if err != nil {
		return PackageRow{}, notFound(err, fmt.Sprintf("package %s/%s", registry, name))
	}
	return p, nil
}

// catalogRows returns every package row of a registry, in name order.
func (d *DB) catalogRows(ctx context.Context, registry string) ([]PackageRow, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT `+packageColumns+` FROM packages
		WHERE registry = ? ORDER BY name`, registry)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PackageRow
	for rows.Next() {
		p, err := scanPackage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// catalogFingerprint changes when a registry's rows do: a package added or
// removed, served (hits only grow), or a file held or forgotten. It costs a
// scan inside SQLite, about a tenth of reading every row out.
type catalogFingerprint struct {
	packages, hits, files, bytes, firstSeen, lastServed int64
}

func (d *DB) catalogFingerprint(ctx context.Context, registry string) (catalogFingerprint, error) {
	var f catalogFingerprint
	err := d.sql.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(hits), 0), COALESCE(SUM(files), 0), COALESCE(SUM(bytes), 0),
		COALESCE(MAX(first_seen_at), 0), COALESCE(MAX(last_served_at), 0)
		FROM packages WHERE registry = ?`, registry).
		Scan(&f.packages, &f.hits, &f.files, &f.bytes, &f.firstSeen, &f.lastServed)
	return f, err
}

// Catalog answers listing queries from a snapshot of each registry's
// packages. It is safe for concurrent use.
type Catalog struct {
	db       *DB
	maxAge   time.Duration
	syncRows int // syncReload, but for tests
	loads    singleflight.Group

	mu         sync.Mutex
	snaps      map[string]*catalogSnapshot
	refreshing map[string]bool
}

// NewCatalog returns a catalog over db. A snapshot older than maxAge is
// checked against the database again (see above); zero means 5 seconds (hit
// counts reach the database in batches about that often), and a negative
// maxAge checks on every query (for tests).
func NewCatalog(db *DB, maxAge time.Duration) *Catalog {
	if maxAge == 0 {
		maxAge = 5 * time.Second
	}
	return &Catalog{db: db, maxAge: maxAge, syncRows: syncReload, snaps: map[string]*catalogSnapshot{}, refreshing: map[string]bool{}}
}

type catalogSnapshot struct {
	at     time.Time // when it was read, or last found unchanged
	writes uint64    // the database's committed writes before it was read
	fp     catalogFingerprint
	rows   []PackageRow // name order
	lower  []string     // the names in lower case, for search
	orders map[PackageSort][]int32
	totals RegistryTotals
}

func newSnapshot(rows []PackageRow, at time.Time) *catalogSnapshot {
	s := &catalogSnapshot{at: at, rows: rows, lower: make([]string, len(rows)), orders: map[PackageSort][]int32{}}
	for i, r := range rows {
		s.lower[i] = strings.ToLower(r.Name) // the same string when already lower case
		s.totals.Files += r.Files
		s.totals.Bytes += r.Bytes
	}
	s.totals.Packages = int64(len(rows))
	keys := map[PackageSort]func(*PackageRow) int64{
		SortLastUsed: func(r *PackageRow) int64 { return millis(r.LastServed) },
		SortSize:     func(r *PackageRow) int64 { return r.Bytes },
		SortHits:     func(r *PackageRow) int64 { return r.Hits },
	}
	vals := make([]int64, len(rows))
	for sort, key := range keys {
		for i := range rows {
			vals[i] = key(&rows[i])
		}
		order := make([]int32, len(rows))
		for i := range order {
			order[i] = int32(i)
		}
		// Rows are in name order, so the index breaks ties by name.
		slices.SortFunc(order, func(a, b int32) int {
			return cmp.Or(cmp.Compare(vals[a], vals[b]), cmp.Compare(a, b))
		})
		s.orders[sort] = order
	}
	return s
}

// Invalidate drops every snapshot: the next query reads the database.
func (c *Catalog) Invalidate() {
	c.mu.Lock()
	c.snaps = map[string]*catalogSnapshot{}
	c.mu.Unlock()
}

func (c *Catalog) snapshot(ctx context.Context, registry string) (*catalogSnapshot, error) {
	c.mu.Lock()
	s := c.snaps[registry]
	switch {
	case s == nil || c.maxAge < 0:
	case time.Since(s.at) < c.maxAge && s.writes == c.db.writes.Load():
		// Nothing committed since, and recent enough for hit counts (which
		// change the rows without changing what is listed) not to matter.
		c.mu.Unlock()
		return s, nil
	case len(s.rows) > c.syncRows:
		// Too many rows to read while a page waits: the old snapshot
		// answers, and the next query sees the new one.
		if !c.refreshing[registry] {
			c.refreshing[registry] = true
			go c.refresh(registry)
		}
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()
	// Read now: the fingerprint first, the rows only if it changed.
	return c.load(ctx, registry)
}

// syncReload is the most rows a query waits to have read again (about
// 50 ms); a larger registry's stale snapshot is refreshed in the background.
const syncReload = 10_000

// load reads a registry's rows once however many ask at the same time.
func (c *Catalog) load(ctx context.Context, registry string) (*catalogSnapshot, error) {
	v, err, _ := c.loads.Do(registry, func() (any, error) {
		// One caller's cancellation must not fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		at, writes := time.Now(), c.db.writes.Load()
		fp, err := c.db.catalogFingerprint(ctx, registry)
		if err != nil {
			return nil, fmt.Errorf("catalog of %s: %w", registry, err)
		}
		c.mu.Lock()
		old := c.snaps[registry]
		c.mu.Unlock()
		if old != nil && old.fp == fp {
			// Unchanged: keep the rows and their orders, under a new date.
			s := *old
			s.at, s.writes = at, writes
			c.mu.Lock()
			if cur := c.snaps[registry]; cur == old {
				c.snaps[registry] = &s
			}
			c.mu.Unlock()
			return &s, nil
		}
		rows, err := c.db.catalogRows(ctx, registry)
		if err != nil {
			return nil, fmt.Errorf("catalog of %s: %w", registry, err)
		}
		s := newSnapshot(rows, at)
		s.fp, s.writes = fp, writes
		c.mu.Lock()
		if old := c.snaps[registry]; old == nil || old.at.Before(at) {
			c.snaps[registry] = s
		}
		c.mu.Unlock()
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*catalogSnapshot), nil
}

func (c *Catalog) refresh(registry string) {
	// A failed refresh keeps the old snapshot; the next query tries again.
	c.load(context.Background(), registry)
	c.mu.Lock()
	c.refreshing[registry] = false
	c.mu.Unlock()
}

// Totals returns a registry's totals; zero for one that holds nothing.
func (c *Catalog) Totals(ctx context.Context, registry string) (RegistryTotals, error) {
	// One aggregate query: the overview must not lag behind an install
	// the way a list snapshot may.
	return c.db.RegistryTotals(ctx, registry)
}

// List returns one page of a registry's packages and how many match.
func (c *Catalog) List(ctx context.Context, registry string, q PackageQuery) (PackagePage, error) {
	if q.Sort == "" {
		q.Sort = SortName
	}
	if _, ok := ParsePackageSort(string(q.Sort)); !ok {
		return PackagePage{}, fmt.Errorf("list packages: unknown sort %q", q.Sort)
	}
	s, err := c.snapshot(ctx, registry)
	if err != nil {
		return PackagePage{}, err
	}
	offset, limit := max(q.Offset, 0), q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	order := s.orders[q.Sort] // nil: name order
	n := len(s.rows)
	at := func(k int) int {
		if q.Desc {
			k = n - 1 - k
		}
		if order == nil {
			return k
		}
		return int(order[k])
	}
	page := PackagePage{AsOf: s.at}
	if q.Search == "" {
		page.Total = n
		for k := offset; k < n && k < offset+limit; k++ {
			page.Packages = append(page.Packages, s.rows[at(k)])
		}
		return page, nil
	}
	needle := strings.ToLower(q.Search)
	match := strings.Contains
	if q.Prefix {
		match = strings.HasPrefix
	}
	for k := range n {
		i := at(k)
		if !match(s.lower[i], needle) {
			continue
		}
		if page.Total >= offset && len(page.Packages) < limit {
			page.Packages = append(page.Packages, s.rows[i])
		}
		page.Total++
	}
	return page, nil
}

// adjustPackageCounts adds a change in held files and bytes to a package's
// counters, creating its row if needed.
func adjustPackageCounts(ctx context.Context, tx *sql.Tx, registry, name string, files, bytes int64, at time.Time) error {
	if err := ensurePackage(ctx, tx, registry, name, at); err != nil {
		return err
	}
	if files == 0 && bytes == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE packages SET files = files + ?, bytes = bytes + ? WHERE registry = ? AND name = ?`,
		files, bytes, registry, name)
	return err
}
