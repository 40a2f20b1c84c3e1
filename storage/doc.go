// Package storage owns larder's state on disk: metadata in SQLite and
// artifacts in a content-addressed blob store. It knows no ecosystem: rows
// carry a registry name, a key and opaque strings that npm, PyPI and the rest
// give meaning to.
//
// A data folder looks like this:
//
//	larder-data/
//	├── larder.db            SQLite, WAL mode (plus larder.db-wal, larder.db-shm)
//	└── blobs/
//	    ├── sha256/
//	    │   └── ab/
//	    │       └── abcdef0123…  one immutable file per digest
//	    └── tmp/                 writes in progress; emptied at start
//
// A blob is written to tmp/, hashed while it streams, fsynced and renamed into
// sha256/: it is never visible half-written. Database rows that point at a
// blob are written after the rename, so after a crash there may be a blob no
// row names (harmless, collected later) but never a row naming a missing blob.
package storage

import "errors"

// ErrNotFound is returned for a blob or row that does not exist.
var ErrNotFound = errors.New("not found")

// ErrDigestMismatch is returned by BlobWriter.Commit when the bytes written do
// not hash to the digest the caller expected; nothing is kept.
var ErrDigestMismatch = errors.New("digest mismatch")
