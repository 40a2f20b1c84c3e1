package storage

import (
	"context"
	"database/sql"
	"slices"
	"strings"
)

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

// The rows of one package, sorted by path in Go: asked for ORDER BY path,
// SQLite walks the primary key (registry, path) to skip the sort, reading
// every artifact of the registry rather than the package's few.
const (
	artifactColumns = `SELECT path, version, upstream_url, integrity, sha256, size,
		first_fetched_at, last_fetched_at, last_served_at, hits FROM artifacts `
	packageArtifactsQuery = artifactColumns + `WHERE registry = ? AND package = ?`
	heldArtifactsQuery    = packageArtifactsQuery + ` AND sha256 IS NOT NULL`
)

// PackageArtifacts lists every artifact row of a package, held or not, in
// path order.
func (d *DB) PackageArtifacts(ctx context.Context, registry, pkg string) ([]Artifact, error) {
	return d.packageArtifacts(ctx, packageArtifactsQuery, registry, pkg)
}

// HeldArtifacts lists the artifact rows of a package whose bytes are held,
// in path order: of a package with hundreds of versions, often none or a
// few, and what a document's every refresh compares its declarations with.
func (d *DB) HeldArtifacts(ctx context.Context, registry, pkg string) ([]Artifact, error) {
	return d.packageArtifacts(ctx, heldArtifactsQuery, registry, pkg)
}

func (d *DB) packageArtifacts(ctx context.Context, query, registry, pkg string) (out []Artifact, err error) {
	defer func() {
		slices.SortFunc(out, func(a, b Artifact) int { return strings.Compare(a.Path, b.Path) })
	}()
	rows, err := d.sql.QueryContext(ctx, query, registry, pkg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		a := Artifact{Registry: registry, Package: pkg}
		var sum sql.NullString
		var size sql.NullInt64
		var first, last, served int64
		if err := rows.Scan(&a.Path, &a.Version, &a.UpstreamURL, &a.Integrity, &sum, &size, &first, &last, &served, &a.Hits); err != nil {
			return nil, err
		}
		a.SHA256, a.Size = Digest(sum.String), size.Int64
		a.FirstFetch, a.LastFetch, a.LastServed = fromMillis(first), fromMillis(last), fromMillis(served)
		out = append(out, a)
	}
	return out, rows.Err()
}

// RegistriesWithPackage lists the registries that know a package name.
func (d *DB) RegistriesWithPackage(ctx context.Context, name string) ([]string, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT registry FROM packages WHERE name = ? ORDER BY registry`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
