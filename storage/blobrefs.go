package storage

import (
	"context"
	"slices"
	"strings"
)

// Verify and gc read the rows that point at blobs a page at a time, in
// digest order, from the indexes artifacts_by_sha256 and documents_by_body:
// with a million artifacts, a map of every row took most of a gigabyte.

// refPage is how many rows one page reads; a variable for tests.
var refPage = 1000

// refSource pages through the rows of one table that point at blobs.
type refSource struct {
	// page returns up to n rows whose digest is after the given one, in
	// digest order.
	page func(ctx context.Context, after Digest, n int) ([]digestRef, error)
	// of returns every row that points at one digest.
	of func(ctx context.Context, d Digest) ([]digestRef, error)

	buf   []digestRef
	after Digest
	done  bool
}

type digestRef struct {
	digest Digest
	ref    BlobRef
}

// peek returns the next digest, "" when there is none.
func (s *refSource) peek(ctx context.Context) (Digest, error) {
	if len(s.buf) == 0 && !s.done {
		rows, err := s.page(ctx, s.after, refPage)
		if err != nil {
			return "", err
		}
		if len(rows) < refPage {
			s.done = true
		} else {
			// The page may end part of the way through its last digest's
			// rows: read that digest's rows whole, and go on after it.
			last := rows[len(rows)-1].digest
			for len(rows) > 0 && rows[len(rows)-1].digest == last {
				rows = rows[:len(rows)-1]
			}
			all, err := s.of(ctx, last)
			if err != nil {
				return "", err
			}
			rows = append(rows, all...)
			s.after = last
		}
		s.buf = rows
	}
	if len(s.buf) == 0 {
		return "", nil
	}
	return s.buf[0].digest, nil
}

// take removes the next digest's rows, which peek returned, and returns them.
func (s *refSource) take() []BlobRef {
	var out []BlobRef
	d := s.buf[0].digest
	for len(s.buf) > 0 && s.buf[0].digest == d {
		out = append(out, s.buf[0].ref)
		s.buf = s.buf[1:]
	}
	return out
}

// eachBlobRefs calls fn with every digest a row points at and those rows,
// in digest order, each digest once.
func (d *DB) eachBlobRefs(ctx context.Context, fn func(Digest, []BlobRef) error) error {
	sources := []*refSource{d.artifactRefs(), d.documentRefs()}
	for {
		var next Digest
		for _, s := range sources {
			dg, err := s.peek(ctx)
			if err != nil {
				return err
			}
			// Digests are lower-case hex of one length: every collation
			// orders them as bytes, as this comparison does.
			if dg != "" && (next == "" || dg < next) {
				next = dg
			}
		}
		if next == "" {
			return nil
		}
		var rs []BlobRef
		for _, s := range sources {
			if dg, _ := s.peek(ctx); dg == next {
				rs = append(rs, s.take()...)
			}
		}
		if err := fn(next, rs); err != nil {
			return err
		}
	}
}

// The pages' queries: each reads its index (artifacts_by_sha256,
// documents_by_body) from a digest on, and sorts nothing.
const (
	artifactRefCols = `SELECT sha256, registry, path, size FROM artifacts `
	artifactRefPage = artifactRefCols + `WHERE sha256 > ? ORDER BY sha256 LIMIT ?`
	documentRefCols = `SELECT body_sha256, registry, doc_key, variant, body_size FROM documents `
	documentRefPage = documentRefCols + `WHERE body_sha256 > ? ORDER BY body_sha256 LIMIT ?`
)

func (d *DB) artifactRefs() *refSource {
	scan := func(ctx context.Context, query string, args ...any) ([]digestRef, error) {
		return d.scanRefs(ctx, func(r *digestRef, sc func(...any) error) error {
			return sc(&r.digest, &r.ref.Registry, &r.ref.Path, &r.ref.Size)
		}, query, args...)
	}
	return &refSource{
		page: func(ctx context.Context, after Digest, n int) ([]digestRef, error) {
			return scan(ctx, artifactRefPage, string(after), n)
		},
		of: func(ctx context.Context, dg Digest) ([]digestRef, error) {
			return scan(ctx, artifactRefCols+`WHERE sha256 = ?`, string(dg))
		},
	}
}

func (d *DB) documentRefs() *refSource {
	scan := func(ctx context.Context, query string, args ...any) ([]digestRef, error) {
		return d.scanRefs(ctx, func(r *digestRef, sc func(...any) error) error {
			return sc(&r.digest, &r.ref.Registry, &r.ref.Key, &r.ref.Variant, &r.ref.Size)
		}, query, args...)
	}
	return &refSource{
		page: func(ctx context.Context, after Digest, n int) ([]digestRef, error) {
			return scan(ctx, documentRefPage, string(after), n)
		},
		of: func(ctx context.Context, dg Digest) ([]digestRef, error) {
			return scan(ctx, documentRefCols+`WHERE body_sha256 = ?`, string(dg))
		},
	}
}

func (d *DB) scanRefs(ctx context.Context, scan func(*digestRef, func(...any) error) error, query string, args ...any) ([]digestRef, error) {
	rows, err := d.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []digestRef
	for rows.Next() {
		var r digestRef
		if err := scan(&r, rows.Scan); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// heldBlobs counts the blobs rows point at, each once however many rows
// share it, and their bytes.
func (d *DB) heldBlobs(ctx context.Context) (blobs int, bytes int64, err error) {
	err = d.sql.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM (
		SELECT sha256 AS digest, size FROM artifacts WHERE sha256 IS NOT NULL
		UNION SELECT body_sha256, body_size FROM documents) AS held`).Scan(&blobs, &bytes)
	return blobs, bytes, err
}

// referenced returns which of ds some row points at. A walk of the folder
// or of S3 meets blobs in digest order, so that a batch's digests are
// neighbours: their rows are then one short range of each index, read
// without a look-up per digest. A batch spread wider (another store's
// order, or many rows between its digests) is looked up digest by digest.
func (d *DB) referenced(ctx context.Context, ds []Digest) (map[Digest]bool, error) {
	used := map[Digest]bool{}
	if len(ds) == 0 {
		return used, nil
	}
	lo, hi := slices.Min(ds), slices.Max(ds)
	limit := 4 * len(ds)
	ranged := true
	for _, q := range []string{
		`SELECT sha256 FROM artifacts WHERE sha256 >= ? AND sha256 <= ? ORDER BY sha256 LIMIT ?`,
		`SELECT body_sha256 FROM documents WHERE body_sha256 >= ? AND body_sha256 <= ? ORDER BY body_sha256 LIMIT ?`,
	} {
		n, err := d.collectDigests(ctx, used, q, string(lo), string(hi), limit)
		if err != nil {
			return nil, err
		}
		ranged = ranged && n < limit
	}
	if ranged {
		return used, nil
	}
	clear(used)
	in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ds)), ", ") + ")"
	args := make([]any, 0, 2*len(ds))
	for range 2 {
		for _, dg := range ds {
			args = append(args, string(dg))
		}
	}
	_, err := d.collectDigests(ctx, used, `SELECT sha256 FROM artifacts WHERE sha256 IN `+in+`
		UNION SELECT body_sha256 FROM documents WHERE body_sha256 IN `+in, args...)
	return used, err
}

// collectDigests adds the digests query returns to set, and says how many
// rows it read.
func (d *DB) collectDigests(ctx context.Context, set map[Digest]bool, query string, args ...any) (int, error) {
	rows, err := d.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var dg Digest
		if err := rows.Scan(&dg); err != nil {
			return n, err
		}
		set[dg] = true
		n++
	}
	return n, rows.Err()
}
