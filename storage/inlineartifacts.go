package storage

import (
	"context"
	"database/sql"
	"io"
	"time"
)

// MaxInlineArtifact is the largest artifact whose bytes a Store with its
// blobs in the data folder keeps in the database, in the transaction that
// writes the artifact's row, rather than as a file of the blob folder. A
// file costs its creation, a rename and two fsyncs, each a blocking system
// call; on a cold install of many small packages that was a fifth of
// larder's CPU and a third of its thread wake-ups, taken from the client
// on the same machine. Most npm tarballs, and many wheels and crates, are
// smaller. The database's commit makes the row and its bytes durable
// together, so a row still never names bytes a crash can take back. It is
// the size of the registries' memory copies (smallBlobMax): what is kept
// here is served from memory after its first read.
//
// Blobs in a shared object store are never kept here: their nodes share
// the object store for the bytes, and blob_redirect hands out its URLs.
const MaxInlineArtifact = 64 << 10

// inlineGrace is how recently stored bytes are spared when nothing names
// them: a row naming them may be committing (see dropUnnamedInline).
const inlineGrace = time.Minute

// KeptBlob is a checked download's bytes, made durable for the artifact
// row that follows (DB.CommitArtifact): committed to the blob store, or,
// when small, held in memory until the row's transaction writes them too.
type KeptBlob struct {
	Digest Digest
	Size   int64

	inline  []byte
	release func()
}

// KeepBlob commits w, a writer of s.Blobs, for an artifact row: small bytes
// still in memory are kept for the row's transaction (MaxInlineArtifact),
// anything else is committed to the blob store. Release must follow the
// row's commit.
func (s *Store) KeepBlob(ctx context.Context, w BlobWriter) (KeptBlob, error) {
	if _, folder := s.Blobs.(*FSBlobs); folder {
		if sw, ok := w.(*spoolWriter); ok {
			if d, b, release, ok := sw.takeSmall(MaxInlineArtifact); ok {
				return KeptBlob{Digest: d, Size: int64(len(b)), inline: b, release: release}, nil
			}
		}
	}
	d, n, err := w.Commit(ctx, "")
	return KeptBlob{Digest: d, Size: n}, err
}

// Held is the bytes held in memory for the row's transaction; nil when
// they were committed to the blob store. They are valid until Release.
func (k KeptBlob) Held() []byte { return k.inline }

// Release lets go of the bytes held for the row: once it is written, its
// readers read them from the database.
func (k KeptBlob) Release() {
	if k.release != nil {
		k.release()
	}
}

// OpenArtifact opens a held artifact's bytes of the given size (-1: not
// known): from the database when they may be kept there, else, or when
// they are not (kept as a file before larder kept any in the database),
// from the blob store. It returns an error wrapping ErrNotFound when
// neither holds them.
func (s *Store) OpenArtifact(ctx context.Context, d Digest, size int64) (io.ReadSeekCloser, int64, error) {
	if size > MaxInlineArtifact {
		return s.Blobs.Open(ctx, d)
	}
	return s.OpenBody(ctx, d)
}

// putInline writes bytes kept in the database, in tx. A row already there
// is refreshed, which also takes its lock: a collection of bytes no row
// names (collectOrphanBodies, dropUnnamedInline) that meets it then finds
// them young and spares them.
func putInline(ctx context.Context, tx *sql.Tx, d Digest, b []byte) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO document_bodies (sha256, body, stored_at) VALUES (?, ?, ?)
		ON CONFLICT (sha256) DO UPDATE SET body = excluded.body, stored_at = excluded.stored_at`,
		string(d), b, millis(time.Now()))
	return err
}

// dropUnnamedInline deletes bytes kept in the database that no document
// and no artifact names any more, unless stored within inlineGrace.
func (d *DB) dropUnnamedInline(ctx context.Context, digest Digest) error {
	_, err := d.sql.ExecContext(ctx, `DELETE FROM document_bodies WHERE sha256 = ? AND stored_at < ?
		AND NOT EXISTS (SELECT 1 FROM documents WHERE body_sha256 = ?)
		AND NOT EXISTS (SELECT 1 FROM artifacts WHERE sha256 = ?)`,
		string(digest), millis(time.Now().Add(-inlineGrace)), string(digest), string(digest))
	return err
}
