package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Artifact is an immutable file a registry serves (a tarball, a wheel…).
// SHA256 is empty until the verified bytes are stored.
type Artifact struct {
	Registry    string
	Path        string // under the registry's mount, e.g. "lodash/-/lodash-4.17.21.tgz"
	Package     string
	Version     string
	UpstreamURL string
	Integrity   string // what the upstream declared, in the ecosystem's notation
	SHA256      Digest
	Size        int64
	FirstFetch  time.Time
	LastFetch   time.Time
	LastServed  time.Time
	Hits        int64
}

// Cached reports whether the artifact's bytes are in the blob store.
func (a Artifact) Cached() bool { return a.SHA256 != "" }

// AnnounceArtifacts records the artifacts a freshly fetched document names.
// A row whose bytes are already stored keeps the upstream URL and integrity it
// was stored under: first seen wins, so a changed upstream cannot swap the
// bytes behind a version.
func (d *DB) AnnounceArtifacts(ctx context.Context, registry string, arts []Artifact) error {
	if len(arts) == 0 {
		return nil
	}
	return d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error { return announceIn(ctx, tx, registry, arts) })
}

func announceIn(ctx context.Context, tx *sql.Tx, registry string, arts []Artifact) error {
	arts = lastOfEachPath(arts)
	// Rows go in a few statements of many: a document announcing hundreds
	// of versions cost as many statements, each a round through the
	// driver (BenchmarkKeepColdDocument300Versions: 1.3 times as long;
	// with the unchanged rows written again, a refresh took 2.2 times as
	// long). The sizes are few, so that each is the connection's cached
	// statement (stmtcache.go).
	for len(arts) > 0 {
		n := announceChunk(len(arts))
		args := make([]any, 0, 6*n)
		for _, a := range arts[:n] {
			args = append(args, registry, a.Path, a.Package, a.Version, a.UpstreamURL, a.Integrity)
		}
		if _, err := tx.ExecContext(ctx, announceStatements[n], args...); err != nil {
			return err
		}
		arts = arts[n:]
	}
	return nil
}

// announceSizes are the row counts announceIn's statements take.
var announceSizes = [...]int{64, 16, 4, 1}

// announceStatements upserts announced rows, by row count. A row whose
// bytes are held keeps what it was stored under (first seen wins), and one
// whose declaration did not change is not written again: a popular
// package's refresh would otherwise rewrite every version's row.
var announceStatements = func() map[int]string {
	m := map[int]string{}
	for _, n := range announceSizes {
		m[n] = `INSERT INTO artifacts (registry, path, package, version, upstream_url, integrity) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", n), ", ") + `
			ON CONFLICT (registry, path) DO UPDATE SET
			package = excluded.package, version = excluded.version,
			upstream_url = excluded.upstream_url, integrity = excluded.integrity
			WHERE artifacts.sha256 IS NULL AND (artifacts.package <> excluded.package OR artifacts.version <> excluded.version
				OR artifacts.upstream_url <> excluded.upstream_url OR artifacts.integrity <> excluded.integrity)`
	}
	return m
}()

// announceChunk is the largest of announceSizes no larger than left.
func announceChunk(left int) int {
	for _, n := range announceSizes {
		if n <= left {
			return n
		}
	}
	return 1
}

// lastOfEachPath drops all but the last declaration of each path, in
// order: one statement cannot upsert a row twice (PostgreSQL refuses), and
// one at a time, the last one written won.
func lastOfEachPath(arts []Artifact) []Artifact {
	last := make(map[string]int, len(arts))
	for i, a := range arts {
		last[a.Path] = i
	}
	if len(last) == len(arts) {
		return arts
	}
	out := make([]Artifact, 0, len(last))
	for i, a := range arts {
		if last[a.Path] == i {
			out = append(out, a)
		}
	}
	return out
}

// Artifact returns one artifact's row, or an error wrapping ErrNotFound.
func (d *DB) Artifact(ctx context.Context, registry, path string) (Artifact, error) {
	a := Artifact{Registry: registry, Path: path}
	var sum sql.NullString
	var size sql.NullInt64
	var first, last, served int64
	err := d.sql.QueryRowContext(ctx, `SELECT package, version, upstream_url, integrity, sha256, size,
		first_fetched_at, last_fetched_at, last_served_at, hits
		FROM artifacts WHERE registry = ? AND path = ?`, registry, path).
		Scan(&a.Package, &a.Version, &a.UpstreamURL, &a.Integrity, &sum, &size, &first, &last, &served, &a.Hits)
	if err != nil {
		return Artifact{}, notFound(err, fmt.Sprintf("artifact %s/%s", registry, path))
	}
	a.SHA256, a.Size = Digest(sum.String), size.Int64
	a.FirstFetch, a.LastFetch, a.LastServed = fromMillis(first), fromMillis(last), fromMillis(served)
	return a, nil
}

// CommitArtifact records that an artifact's verified bytes are stored as
// b: in the blob store, or, when KeepBlob held them, in the database, by
// this same transaction. It is the completion marker of a download:
// written last, in one transaction, once the bytes are durable or with
// them. The package's counters gain the file when its digest goes from
// unset to set. Clients are answered from
// the download without waiting for it (one that arrives between the blob's
// rename and the row waits for the row), so it may wait a moment to share a
// commit (txDeferred).
func (d *DB) CommitArtifact(ctx context.Context, a Artifact, b KeptBlob, at time.Time) error {
	digest, size := b.Digest, b.Size
	return d.txDeferred(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// A write first: a transaction that reads and then writes can fail
		// with SQLITE_BUSY when another writer got in between. This one
		// reads the row as it was, so the row is written after it.
		if _, err := tx.ExecContext(ctx, commitCounts, a.Registry, a.Package, millis(at), size, a.Registry, a.Path); err != nil {
			return err
		}
		if b.inline != nil {
			if err := putInline(ctx, tx, digest, b.inline); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO artifacts
			(registry, path, package, version, upstream_url, integrity, sha256, size, first_fetched_at, last_fetched_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (registry, path) DO UPDATE SET
			sha256 = excluded.sha256, size = excluded.size,
			upstream_url = excluded.upstream_url, integrity = excluded.integrity,
			first_fetched_at = CASE WHEN artifacts.first_fetched_at = 0 THEN excluded.first_fetched_at ELSE artifacts.first_fetched_at END,
			last_fetched_at = excluded.last_fetched_at`,
			a.Registry, a.Path, a.Package, a.Version, a.UpstreamURL, a.Integrity, string(digest), size, millis(at), millis(at))
		return err
	})
}

// commitCounts adds a committed artifact to its package's counters, making
// the package's row when there is none: a file more unless the bytes were
// held already, and the change in size. The package is the one the
// artifact's row names (the upsert keeps it), else the one committing it.
// One statement where a look-up, a row made and a row updated cost three on
// every cold artifact (BenchmarkServeCold).
const commitCounts = `INSERT INTO packages (registry, name, first_seen_at, files, bytes)
	SELECT ?, COALESCE(a.package, ?), ?,
		CASE WHEN a.sha256 IS NULL THEN 1 ELSE 0 END,
		? - CASE WHEN a.sha256 IS NULL THEN 0 ELSE COALESCE(a.size, 0) END
	FROM (SELECT 1 AS one) AS here LEFT JOIN artifacts a ON a.registry = ? AND a.path = ?
	WHERE true
	ON CONFLICT (registry, name) DO UPDATE SET
	files = packages.files + excluded.files, bytes = packages.bytes + excluded.bytes`

// LearnPin replaces the pinned integrity of a held artifact with one that
// names more algorithms, each checked against its bytes by the caller. A row
// whose bytes are no longer digest is left alone.
func (d *DB) LearnPin(ctx context.Context, registry, path string, digest Digest, integrity string) error {
	_, err := d.sql.ExecContext(ctx, `UPDATE artifacts SET integrity = ? WHERE registry = ? AND path = ? AND sha256 = ?`,
		integrity, registry, path, string(digest))
	return err
}

// ForgetArtifact clears the stored digest of an artifact whose blob turned
// out to be missing or corrupt, so that the next request fetches it again.
// The package's counters lose the file.
func (d *DB) ForgetArtifact(ctx context.Context, registry, path string) error {
	return d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Counters first, while the row still says what it held; both
		// statements write, so no read comes before the write lock.
		if _, err := tx.ExecContext(ctx, `UPDATE packages SET files = files - 1,
			bytes = bytes - (SELECT COALESCE(size, 0) FROM artifacts WHERE registry = ? AND path = ?)
			WHERE registry = ? AND name = (SELECT package FROM artifacts WHERE registry = ? AND path = ? AND sha256 IS NOT NULL)`,
			registry, path, registry, registry, path); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE artifacts SET sha256 = NULL, size = NULL WHERE registry = ? AND path = ?`, registry, path)
		return err
	})
}

// heldState reads an artifact row's package and whether (and at what size)
// its bytes are held; pkg is "" when there is no row.
func heldState(ctx context.Context, tx *sql.Tx, registry, path string) (pkg string, held bool, size int64, err error) {
	var sum sql.NullString
	var sz sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT package, sha256, size FROM artifacts WHERE registry = ? AND path = ?`, registry, path).Scan(&pkg, &sum, &sz)
	if err == sql.ErrNoRows {
		return "", false, 0, nil
	}
	if !sum.Valid {
		return pkg, false, 0, err
	}
	return pkg, true, sz.Int64, err
}

// Served is a batch of hits on one artifact or package, to be added to the
// counters the UI shows.
type Served struct {
	Registry string
	Package  string
	Path     string // empty for a document (counts on the package only)
	Hits     int64
	At       time.Time
}

// RecordServed adds hit counts in one transaction. Callers batch them: a
// write per request would serialise every download on SQLite's write lock.
func (d *DB) RecordServed(ctx context.Context, batch []Served) error {
	// A read-only snapshot is served without counting: the counts are
	// statistics, and the folder cannot take them.
	if len(batch) == 0 || d.readOnly {
		return nil
	}
	return d.txDeferred(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range batch {
			if s.Path != "" {
				if _, err := tx.ExecContext(ctx, `UPDATE artifacts SET hits = hits + ?, last_served_at = CASE WHEN last_served_at > ? THEN last_served_at ELSE ? END
					WHERE registry = ? AND path = ?`, s.Hits, millis(s.At), millis(s.At), s.Registry, s.Path); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE packages SET hits = hits + ?, last_served_at = CASE WHEN last_served_at > ? THEN last_served_at ELSE ? END
				WHERE registry = ? AND name = ?`, s.Hits, millis(s.At), millis(s.At), s.Registry, s.Package); err != nil {
				return err
			}
		}
		return nil
	})
}

// BlobBytes is the total size of the blobs rows point at, each blob counted
// once however many rows share it, for /metrics.
func (d *DB) BlobBytes(ctx context.Context) (int64, error) {
	_, n, err := d.heldBlobs(ctx)
	return n, err
}
