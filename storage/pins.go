package storage

import (
	"context"
	"time"
)

// PinConflict is an upstream's attempt to change the bytes of an artifact
// larder already holds.
type PinConflict struct {
	Registry, Path, Package string
	Pinned, Offered         string // integrity first seen, and the one offered since
	FirstSeen, LastSeen     time.Time
	Times                   int64
}

// RecordPinConflict notes one more sighting of a conflicting declaration.
func (d *DB) RecordPinConflict(ctx context.Context, c PinConflict) error {
	_, err := d.sql.ExecContext(ctx, `INSERT INTO pin_conflicts
		(registry, path, package, pinned_integrity, offered_integrity, first_seen_at, last_seen_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (registry, path, offered_integrity) DO UPDATE SET
		last_seen_at = excluded.last_seen_at, times = pin_conflicts.times + 1`,
		c.Registry, c.Path, c.Package, c.Pinned, c.Offered, millis(c.LastSeen), millis(c.LastSeen))
	return err
}

// PinConflicts lists the conflicts recorded for a package ("" for all of a
// registry), newest first.
func (d *DB) PinConflicts(ctx context.Context, registry, pkg string) ([]PinConflict, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT path, package, pinned_integrity, offered_integrity, first_seen_at, last_seen_at, times
		FROM pin_conflicts WHERE registry = ? AND (? = '' OR package = ?) ORDER BY last_seen_at DESC`, registry, pkg, pkg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PinConflict
	for rows.Next() {
		c := PinConflict{Registry: registry}
		var first, last int64
		if err := rows.Scan(&c.Path, &c.Package, &c.Pinned, &c.Offered, &first, &last, &c.Times); err != nil {
			return nil, err
		}
		c.FirstSeen, c.LastSeen = fromMillis(first), fromMillis(last)
		out = append(out, c)
	}
	return out, rows.Err()
}
