package storage

import (
	"context"
	"io"
	"time"
)

// Blobs is a content-addressed store of immutable byte strings. The local
// folder (FSBlobs) is the default; an object store can take its place by
// passing storagetest.Run.
type Blobs interface {
	// Open returns the blob's content and size, or an error wrapping
	// ErrNotFound. The reader is an *os.File for the local folder, which lets
	// net/http send it with sendfile.
	Open(ctx context.Context, d Digest) (io.ReadSeekCloser, int64, error)
	// Stat returns the blob's size, or an error wrapping ErrNotFound.
	Stat(ctx context.Context, d Digest) (int64, error)
	// Create starts a new blob. The caller must Commit or Cancel it.
	Create(ctx context.Context) (BlobWriter, error)
	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, d Digest) error
	// Walk calls fn for every committed blob, in no particular order.
	Walk(ctx context.Context, fn func(d Digest, size int64) error) error
}

// BlobWriter is a blob being written. It is hashed as it is written.
//
// ReadAt reads back what has been written so far, so that clients waiting on
// a download in progress can be served from it while it is still arriving.
// It is safe to call ReadAt concurrently with Write.
type BlobWriter interface {
	io.Writer
	io.ReaderAt
	// Written is the number of bytes written so far.
	Written() int64
	// Commit makes the blob durable and visible under its digest. With a
	// non-empty expected digest, a mismatch discards the bytes and returns an
	// error wrapping ErrDigestMismatch. Committing bytes already stored is not
	// an error: the store is content-addressed.
	Commit(ctx context.Context, expected Digest) (Digest, int64, error)
	// Cancel discards what was written. It is safe to call after Commit (it
	// then does nothing), so `defer w.Cancel()` is the usual pattern.
	Cancel() error
}

// Presigner is a blob store whose blobs a client can fetch straight from
// the store, by a URL that grants that for a while without credentials of
// its own (S3's presigned URLs). The local folder is not one.
type Presigner interface {
	// PresignGet is a URL that GETs blob d (Range honoured) until expiry
	// has passed. It checks nothing of the blob: that it is there is
	// the caller's knowledge.
	PresignGet(ctx context.Context, d Digest, expiry time.Duration) (string, error)
}
