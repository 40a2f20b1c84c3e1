package storage

import (
	"context"
	"database/sql"
)

// TrafficCount is what a registry answered in one minute.
type TrafficCount struct {
	Registry string
	Minute   int64 // Unix time / 60
	Cached   int64 // from the cache: HIT, REVALIDATED, STALE
	Upstream int64 // from the upstream: MISS
}

// AddTraffic adds counts to the minutes they belong to.
func (d *DB) AddTraffic(ctx context.Context, batch []TrafficCount) error {
	// Like hit counts, statistics a read-only snapshot cannot take.
	if len(batch) == 0 || d.readOnly {
		return nil
	}
	return d.txDeferred(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, c := range batch {
			if _, err := tx.ExecContext(ctx, `INSERT INTO traffic (registry, minute, cached, upstream) VALUES (?, ?, ?, ?)
				ON CONFLICT (registry, minute) DO UPDATE SET cached = traffic.cached + excluded.cached, upstream = traffic.upstream + excluded.upstream`,
				c.Registry, c.Minute, c.Cached, c.Upstream); err != nil {
				return err
			}
		}
		return nil
	})
}

// Traffic returns a registry's counts from the minute from on, oldest
// first.
func (d *DB) Traffic(ctx context.Context, registry string, from int64) ([]TrafficCount, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT minute, cached, upstream FROM traffic WHERE registry = ? AND minute >= ? ORDER BY minute`, registry, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TrafficCount
	for rows.Next() {
		c := TrafficCount{Registry: registry}
		if err := rows.Scan(&c.Minute, &c.Cached, &c.Upstream); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PruneTraffic forgets every registry's counts before the minute before.
func (d *DB) PruneTraffic(ctx context.Context, before int64) error {
	if d.readOnly {
		return nil
	}
	_, err := d.sql.ExecContext(ctx, `DELETE FROM traffic WHERE minute < ?`, before)
	return err
}
