package storage

import (
	"context"
	"database/sql"
	"time"
)

// Release is when one release of a package (what its ecosystem dates: a
// version, or a file) came out, as larder first learnt it.
type Release struct {
	Name    string // the release: a version, or a file name
	Version string // the version it belongs to
	// Published is the upstream's own time; zero when it gave none.
	Published time.Time
	// FirstSeen is when larder first saw the release named.
	FirstSeen time.Time
}

// RecordReleases records releases of a package that no row records yet;
// those already recorded keep their row (first seen wins), except that a
// row without the upstream's time takes the first one given (a document
// that carried none, such as npm's abbreviated packument, came first). A
// read-only database records nothing.
func (d *DB) RecordReleases(ctx context.Context, registry, pkg string, rels []Release) error {
	if len(rels) == 0 || d.readOnly {
		return nil
	}
	return d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO releases (registry, package, release, version, published_at, first_seen_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (registry, package, release) DO UPDATE
			SET published_at = excluded.published_at
			WHERE releases.published_at = 0 AND excluded.published_at <> 0`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rels {
			if _, err := stmt.ExecContext(ctx, registry, pkg, r.Name, r.Version, millis(r.Published), millis(r.FirstSeen)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Releases returns every recorded release of a package, by name.
func (d *DB) Releases(ctx context.Context, registry, pkg string) (map[string]Release, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT release, version, published_at, first_seen_at
		FROM releases WHERE registry = ? AND package = ?`, registry, pkg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Release{}
	for rows.Next() {
		var r Release
		var published, seen int64
		if err := rows.Scan(&r.Name, &r.Version, &published, &seen); err != nil {
			return nil, err
		}
		r.Published, r.FirstSeen = fromMillis(published), fromMillis(seen)
		out[r.Name] = r
	}
	return out, rows.Err()
}
