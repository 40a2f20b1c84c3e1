package storage

import "context"

// PackageNames lists the names of a registry's packages, in name order.
func (d *DB) PackageNames(ctx context.Context, registry string) ([]string, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT name FROM packages WHERE registry = ? ORDER BY name`, registry)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// CachedPaths returns which artifacts of a package are held (their bytes
// stored), as a set of paths.
func (d *DB) CachedPaths(ctx context.Context, registry, pkg string) (map[string]bool, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT path FROM artifacts WHERE registry = ? AND package = ? AND sha256 IS NOT NULL`, registry, pkg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	held := map[string]bool{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		held[p] = true
	}
	return held, rows.Err()
}
