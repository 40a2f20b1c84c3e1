package storage

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxInlineBody is the largest document body kept in the database beside
// its row. Most npm abbreviated packuments, PyPI pages, Go lists, Maven
// metadata and index files are smaller; a cold one then costs a single
// transaction, where a blob file costs its own writes and two fsyncs. Larger
// bodies (the full packuments of long-lived packages) go to the blob store,
// where a row of that size would only slow every write of the database.
const MaxInlineBody = 256 << 10

// NewDocument is a document fetched from upstream, to store in one
// transaction with the artifacts it announces.
type NewDocument struct {
	Doc       Document // Body and Size are set by KeepDocument
	Package   string   // recorded in the catalog; "" for none
	Announces []Artifact
}

// KeepDocument stores body as doc's body and writes the document's row,
// its package and the artifacts it announces in one transaction: once the
// row exists a client may ask for any file it names. A small body is kept
// in that same transaction; a larger one is committed to the blob store
// first, so that a row never names a body a crash can take back.
func (s *Store) KeepDocument(ctx context.Context, n NewDocument, body []byte) (Document, error) {
	doc := n.Doc
	doc.Size = int64(len(body))
	inline := len(body) <= MaxInlineBody
	if inline {
		doc.Body = DigestOf(body)
	} else {
		d, err := s.putBlob(ctx, body)
		if err != nil {
			return Document{}, err
		}
		doc.Body = d
	}
	err := s.DB.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := announceIn(ctx, tx, doc.Registry, n.Announces); err != nil {
			return err
		}
		if inline {
			if err := putInline(ctx, tx, doc.Body, body); err != nil {
				return err
			}
		}
		return putDocument(ctx, tx, doc, n.Package)
	})
	if err != nil {
		return Document{}, err
	}
	return doc, nil
}

func (s *Store) putBlob(ctx context.Context, b []byte) (Digest, error) {
	w, err := s.Blobs.Create(ctx)
	if err != nil {
		return "", err
	}
	defer w.Cancel()
	if _, err := w.Write(b); err != nil {
		return "", err
	}
	d, _, err := w.Commit(ctx, "")
	return d, err
}

// OpenBody opens a document's body wherever it is kept: in the database
// (see MaxInlineBody; small artifacts are kept there too, see
// MaxInlineArtifact), else the blob store. It returns an error wrapping
// ErrNotFound when neither holds it.
func (s *Store) OpenBody(ctx context.Context, d Digest) (io.ReadSeekCloser, int64, error) {
	b, err := s.DB.inlineBody(ctx, d)
	if err == nil {
		return nopSeekCloser{bytes.NewReader(b)}, int64(len(b)), nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, 0, err
	}
	return s.Blobs.Open(ctx, d)
}

func (d *DB) inlineBody(ctx context.Context, digest Digest) ([]byte, error) {
	var b []byte
	err := d.sql.QueryRowContext(ctx, `SELECT body FROM document_bodies WHERE sha256 = ?`, string(digest)).Scan(&b)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("document body %s", digest))
	}
	return b, nil
}

func (d *DB) dropInlineBody(ctx context.Context, digest Digest) error {
	_, err := d.sql.ExecContext(ctx, `DELETE FROM document_bodies WHERE sha256 = ?`, string(digest))
	return err
}

// inlineDigests lists the bodies the database holds, for the bulk readers
// (verify, export) that would otherwise ask the database for every blob.
func (d *DB) inlineDigests(ctx context.Context) (map[Digest]bool, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT sha256 FROM document_bodies`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	held := map[Digest]bool{}
	for rows.Next() {
		var dg Digest
		if err := rows.Scan(&dg); err != nil {
			return nil, err
		}
		held[dg] = true
	}
	return held, rows.Err()
}

// openHeld opens a blob a row points at, from the database when inline
// says the body is kept there.
func (s *Store) openHeld(ctx context.Context, d Digest, inline map[Digest]bool) (io.ReadSeekCloser, int64, error) {
	if inline[d] {
		return s.OpenBody(ctx, d)
	}
	return s.Blobs.Open(ctx, d)
}

// statHeld is Blobs.Stat for a blob a row points at, wherever it is kept.
func (s *Store) statHeld(ctx context.Context, d Digest, inline map[Digest]bool) (int64, error) {
	if !inline[d] {
		return s.Blobs.Stat(ctx, d)
	}
	var n int64
	err := s.DB.sql.QueryRowContext(ctx, `SELECT length(body) FROM document_bodies WHERE sha256 = ?`, string(d)).Scan(&n)
	if err != nil {
		return 0, notFound(err, fmt.Sprintf("document body %s", d))
	}
	return n, nil
}

// collectOrphanBodies drops the bytes kept in the database that no
// document or artifact has named since cutoff: a body replaced when its
// document changed upstream, an artifact's bytes once it is evicted. The
// age spares a reader that read the row just before.
func (s *Store) collectOrphanBodies(ctx context.Context, cutoff time.Time, rep *GCReport) error {
	rows, err := s.DB.sql.QueryContext(ctx, `SELECT sha256, length(body) FROM document_bodies
		WHERE stored_at < ? AND sha256 NOT IN (SELECT body_sha256 FROM documents)
		AND sha256 NOT IN (SELECT sha256 FROM artifacts WHERE sha256 IS NOT NULL)`, millis(cutoff))
	if err != nil {
		return err
	}
	type orphan struct {
		d    Digest
		size int64
	}
	var orphans []orphan
	for rows.Next() {
		var o orphan
		if err := rows.Scan(&o.d, &o.size); err != nil {
			rows.Close()
			return err
		}
		orphans = append(orphans, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range orphans {
		// Named again since the read above: kept.
		res, err := s.DB.sql.ExecContext(ctx, `DELETE FROM document_bodies WHERE sha256 = ? AND stored_at < ?
			AND NOT EXISTS (SELECT 1 FROM documents WHERE body_sha256 = ?)
			AND NOT EXISTS (SELECT 1 FROM artifacts WHERE sha256 = ?)`, string(o.d), millis(cutoff), string(o.d), string(o.d))
		if err != nil {
			return fmt.Errorf("document body %s: %w", o.d, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			rep.Orphans++
			rep.OrphanBytes += o.size
			s.removed(Removal{Digest: o.d})
		}
	}
	return nil
}

type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }
