package storage

// Store identity: a database and the blob store its rows point into are a
// pair. A node given the right database and another blob store (a typo in
// blob_store, or a node that lacks the key and keeps blobs in its own
// folder) finds none of the rows' blobs, and would forget every one it
// looks for as missing, for every node. So the pair carries one id: a row
// in the database (store_identity) and a marker in the blob store
// (larder-store-id beside sha256/), and a node whose two do not match
// refuses to start, naming both.
//
// The id is made once, when a node first opens a pair that has none, under
// a cluster lock so that nodes starting together agree: the marker is
// written inside the transaction that records the id, so a recorded id is
// always in its blob store. A pair from before ids (an upgrade) adopts one
// when most of a sample of the blobs the database points at are in the
// store; a new database and a new store adopt one at once.
//
// The embedded default (SQLite and blobs/ in one data folder) is one pair
// by construction: it is not checked.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// ErrStoreMismatch: the database and the blob store were not used
// together; the error says how each is marked.
var ErrStoreMismatch = errors.New("the database and the blob store are not a pair")

// markerName is the marker's name in a blob store, beside sha256/.
const markerName = "larder-store-id"

// identityMarker is a blob store that keeps the id of the store it is
// part of.
type identityMarker interface {
	// readMarker returns the id, or "" when the store has no marker.
	readMarker(ctx context.Context) (string, error)
	writeMarker(ctx context.Context, id string) error
	// describe names the store, and the marker in it, for messages.
	describe() (store, marker string)
}

// identitySample is how many blobs of each end (oldest and newest) of the
// database's held artifacts are looked for in a store that has no marker
// yet.
const identitySample = 8

// checkIdentity refuses a blob store that is not the database's, and
// gives a pair without an id one. readOnly decides without writing
// anything (an export): a pair that would adopt an id is let be.
func (s *Store) checkIdentity(ctx context.Context, readOnly bool) error {
	m, ok := s.Blobs.(identityMarker)
	if !ok {
		return nil
	}
	dbID, marker, err := s.readIdentity(ctx, m)
	if err != nil || (dbID != "" && dbID == marker) {
		return err
	}
	if !readOnly {
		release, err := s.DB.ClusterLock(ctx, "store identity")
		if err != nil {
			return fmt.Errorf("store identity: %w", err)
		}
		defer release()
		// Another node may have settled it while this one waited.
		if dbID, marker, err = s.readIdentity(ctx, m); err != nil || (dbID != "" && dbID == marker) {
			return err
		}
	}
	store, markerPath := m.describe()
	switch {
	case dbID != "" && marker != "":
		return fmt.Errorf("%w: blob store %s is marked as larder store %s (%s), but database %s belongs to larder store %s: "+
			"they were never used together; point database and blob_store at one pair (if this blob store is meant to be this database's, larder migrate --adopt-blob-store records it)",
			ErrStoreMismatch, store, marker, markerPath, s.DB.path, dbID)
	case dbID != "":
		return fmt.Errorf("%w: blob store %s has no larder marker (%s), but database %s belongs to larder store %s, whose blobs are elsewhere: "+
			"is blob_store the one this database was used with? A node on this pair would forget every file the database holds as missing "+
			"(if the blob store was emptied or replaced on purpose, larder migrate --adopt-blob-store records it as this database's)",
			ErrStoreMismatch, store, markerPath, s.DB.path, dbID)
	}
	// The database has no id yet: a new one, or one from before ids.
	sample, err := s.DB.identitySample(ctx)
	if err != nil {
		return fmt.Errorf("store identity: %w", err)
	}
	found := 0
	for _, d := range sample {
		_, err := s.Blobs.Stat(ctx, d)
		switch {
		case err == nil:
			found++
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("store identity: blob store %s: %w", store, err)
		}
	}
	if len(sample) > 0 && found*2 <= len(sample) {
		return fmt.Errorf("%w: database %s points at blobs, and only %d of %d of them looked for are in blob store %s: "+
			"is blob_store the one this database was used with? A node on this pair would forget the files it cannot find as missing "+
			"(if it is the right store and lost its blobs, larder migrate --adopt-blob-store records it, and larder verify then repairs the rows)",
			ErrStoreMismatch, s.DB.path, found, len(sample), store)
	}
	if marker != "" && len(sample) == 0 {
		return fmt.Errorf("%w: blob store %s is marked as larder store %s (%s), and database %s is new (no id, no file held): "+
			"a new database beside another's blob store would collect that store's blobs as orphans; give it a blob store of its own "+
			"(or, if this store is meant to be this database's, larder migrate --adopt-blob-store records it)",
			ErrStoreMismatch, store, marker, markerPath, s.DB.path)
	}
	if readOnly {
		return nil
	}
	if marker != "" {
		// The id was written to the store, and the node that wrote it
		// stopped before recording it; the sample says this is its pair.
		return s.DB.recordStoreID(ctx, marker, nil)
	}
	return s.DB.recordStoreID(ctx, newStoreID(), func(id string) error { return m.writeMarker(ctx, id) })
}

// AdoptBlobStore records the blob store b names as the database's: the
// database's id (a new one when it has none) is written as the store's
// marker, replacing any other. It returns the id. For a store that was
// emptied, restored or replaced on purpose, which the identity check would
// refuse.
func AdoptBlobStore(ctx context.Context, dir string, b Backends) (string, error) {
	s, err := openWith(ctx, dir, b, false)
	if err != nil {
		return "", err
	}
	defer s.Close()
	m, ok := s.Blobs.(identityMarker)
	if !ok {
		return "", errors.New("store identity: this blob store keeps no marker")
	}
	release, err := s.DB.ClusterLock(ctx, "store identity")
	if err != nil {
		return "", fmt.Errorf("store identity: %w", err)
	}
	defer release()
	id, err := s.DB.storeID(ctx)
	if err != nil {
		return "", err
	}
	if id != "" {
		return id, m.writeMarker(ctx, id)
	}
	id = newStoreID()
	return id, s.DB.recordStoreID(ctx, id, func(id string) error { return m.writeMarker(ctx, id) })
}

func (s *Store) readIdentity(ctx context.Context, m identityMarker) (dbID, marker string, err error) {
	if dbID, err = s.DB.storeID(ctx); err != nil {
		return "", "", err
	}
	if marker, err = m.readMarker(ctx); err != nil {
		store, _ := m.describe()
		return "", "", fmt.Errorf("store identity: blob store %s: %w", store, err)
	}
	return dbID, marker, nil
}

func newStoreID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (d *DB) storeID(ctx context.Context) (string, error) {
	var id string
	err := d.sql.QueryRowContext(ctx, `SELECT store_id FROM store_identity WHERE singleton = 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store identity: %w", err)
	}
	return id, nil
}

// recordStoreID records id as the database's; mark, when not nil, writes
// it into the blob store before the row commits, so that a recorded id is
// always in its store.
func (d *DB) recordStoreID(ctx context.Context, id string, mark func(string) error) error {
	return d.txAlone(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO store_identity (singleton, store_id, created_at) VALUES (1, ?, ?)`, id, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("store identity: %w", err)
		}
		if mark != nil {
			if err := mark(id); err != nil {
				return fmt.Errorf("store identity: %w", err)
			}
		}
		return nil
	})
}

// identitySample is blobs the database points at: its oldest and newest
// held artifacts. A store that has been this database's for long holds
// the old ones; one put in its place lately holds few of them. (Artifacts
// only: a document's body may be kept in the database itself.)
func (d *DB) identitySample(ctx context.Context) ([]Digest, error) {
	seen := map[Digest]bool{}
	var out []Digest
	for _, order := range []string{"", " DESC"} {
		// Bytes kept in the database (MaxInlineArtifact) say nothing of
		// the blob store.
		rows, err := d.sql.QueryContext(ctx, `SELECT sha256 FROM artifacts WHERE sha256 IS NOT NULL
			AND sha256 NOT IN (SELECT sha256 FROM document_bodies)
			ORDER BY last_fetched_at`+order+`, registry, path LIMIT ?`, identitySample)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var dg Digest
			if err := rows.Scan(&dg); err != nil {
				rows.Close()
				return nil, err
			}
			if !seen[dg] {
				seen[dg] = true
				out = append(out, dg)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *FSBlobs) markerPath() string { return filepath.Join(s.root, markerName) }

func (s *FSBlobs) readMarker(ctx context.Context) (string, error) {
	b, err := os.ReadFile(s.markerPath())
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

// writeMarker writes the marker beside sha256/ and renames it into place,
// so that a crash leaves the old marker or the new one.
func (s *FSBlobs) writeMarker(ctx context.Context, id string) error {
	if s.readOnly {
		return fmt.Errorf("blob store: %w", ErrReadOnly)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "marker-*")
	if err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(id + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.markerPath())
	}
	if err != nil {
		return fmt.Errorf("blob store: writing its marker: %w", err)
	}
	return nil
}

// describe says the folder is the node's own: it holds the blobs only
// when no blob_store is set, the likeliest mistake beside a shared
// database.
func (s *FSBlobs) describe() (string, string) {
	return s.root + " (this node's own folder: no blob_store is set)", s.markerPath()
}

func (s *S3Blobs) markerKey() string { return s.prefix + markerName }

func (s *S3Blobs) readMarker(ctx context.Context) (string, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.markerKey(), minio.GetObjectOptions{})
	if err != nil {
		return "", err
	}
	defer obj.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, io.LimitReader(obj, 1024)); err != nil {
		if s3NotFound(err) {
			return "", nil
		}
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

func (s *S3Blobs) writeMarker(ctx context.Context, id string) error {
	if s.spool == "" {
		return fmt.Errorf("blob store: %w", ErrReadOnly)
	}
	body := id + "\n"
	if _, err := s.client.PutObject(ctx, s.bucket, s.markerKey(), strings.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
		return fmt.Errorf("blob store: writing its marker: %w", err)
	}
	return nil
}

func (s *S3Blobs) describe() (string, string) {
	return s.url, "s3://" + s.bucket + "/" + s.markerKey()
}
