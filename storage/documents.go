package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Document is one stored variant of a metadata document. Its body is the
// one whose digest is Body: in the database when small, else in the blob
// store (Store.OpenBody reads it from either).
type Document struct {
	Registry     string
	Key          string // package name, or an endpoint path
	Variant      string // meaning is the ecosystem's: "full", "abbreviated", "json"…
	Body         Digest
	Size         int64
	ContentType  string
	ETag         string // the upstream's validators, for revalidation
	LastModified string
	Serial       int64 // a monotonic upstream serial (X-PyPI-Last-Serial); 0 when unknown
	FetchedAt    time.Time
}

// Document returns a stored document, or an error wrapping ErrNotFound.
func (d *DB) Document(ctx context.Context, registry, key, variant string) (Document, error) {
	doc := Document{Registry: registry, Key: key, Variant: variant}
	var fetched int64
	err := d.sql.QueryRowContext(ctx, `SELECT body_sha256, body_size, content_type, etag, last_modified, serial, fetched_at
		FROM documents WHERE registry = ? AND doc_key = ? AND variant = ?`, registry, key, variant).
		Scan(&doc.Body, &doc.Size, &doc.ContentType, &doc.ETag, &doc.LastModified, &doc.Serial, &fetched)
	if err != nil {
		return Document{}, notFound(err, fmt.Sprintf("document %s/%s (%s)", registry, key, variant))
	}
	doc.FetchedAt = fromMillis(fetched)
	return doc, nil
}

// DocumentKeys lists the keys of a registry's documents that begin with
// prefix, each once, in order.
func (d *DB) DocumentKeys(ctx context.Context, registry, prefix string) ([]string, error) {
	query := `SELECT DISTINCT doc_key FROM documents
		WHERE registry = ? AND substr(doc_key, 1, ?) = ?`
	args := []any{registry, len(prefix), prefix}
	// SQLite compares text byte by byte, so the keys that begin with
	// prefix are a range of the primary key: without it, every document
	// of the registry is read. PostgreSQL compares by the database's
	// collation, under which they need not be, and reads them all.
	if end, ok := prefixEnd(prefix); ok && !d.postgres {
		query += ` AND doc_key >= ? AND doc_key < ?`
		args = append(args, prefix, end)
	}
	rows, err := d.sql.QueryContext(ctx, query+` ORDER BY doc_key`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// prefixEnd is the least string, byte-wise, greater than every string
// that begins with prefix; ok is false when there is none (prefix is empty
// or all 0xff bytes).
func prefixEnd(prefix string) (end string, ok bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// PutDocument stores a document (its body must already be in the blob store)
// and records its package in the catalog.
func (d *DB) PutDocument(ctx context.Context, doc Document, pkg string) error {
	return d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error { return putDocument(ctx, tx, doc, pkg) })
}

func putDocument(ctx context.Context, tx *sql.Tx, doc Document, pkg string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO documents
		(registry, doc_key, variant, body_sha256, body_size, content_type, etag, last_modified, serial, fetched_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (registry, doc_key, variant) DO UPDATE SET
		body_sha256 = excluded.body_sha256, body_size = excluded.body_size,
		content_type = excluded.content_type, etag = excluded.etag,
		last_modified = excluded.last_modified, serial = excluded.serial,
		fetched_at = excluded.fetched_at`,
		doc.Registry, doc.Key, doc.Variant, string(doc.Body), doc.Size, doc.ContentType,
		doc.ETag, doc.LastModified, doc.Serial, millis(doc.FetchedAt))
	if err != nil || pkg == "" {
		return err
	}
	return ensurePackage(ctx, tx, doc.Registry, pkg, doc.FetchedAt)
}

// TouchDocument records that the upstream confirmed a stored document is
// still current (a 304), with the validators it sent.
func (d *DB) TouchDocument(ctx context.Context, registry, key, variant string, at time.Time, etag, lastModified string) error {
	_, err := d.sql.ExecContext(ctx, `UPDATE documents SET fetched_at = ?,
		etag = CASE WHEN ? = '' THEN etag ELSE ? END,
		last_modified = CASE WHEN ? = '' THEN last_modified ELSE ? END
		WHERE registry = ? AND doc_key = ? AND variant = ?`,
		millis(at), etag, etag, lastModified, lastModified, registry, key, variant)
	return err
}

func ensurePackage(ctx context.Context, tx *sql.Tx, registry, name string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO packages (registry, name, first_seen_at) VALUES (?, ?, ?)
		ON CONFLICT (registry, name) DO NOTHING`, registry, name, millis(at))
	return err
}
