package storage

// Maintenance of a data folder: Verify re-hashes the blobs the database
// points at and repairs the rows of those that are missing or corrupt; GC
// evicts the least recently served artifacts down to a size and collects
// blobs no row points at. Both run against a folder a server may be using:
// rows are changed only while they still point at the blob in question, and
// a row is always changed before its blob is removed, so that a crash leaves
// an orphan blob (collected later), never a row naming a missing blob.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Quarantiner is a blob store that can set a corrupt blob aside, out of
// reach of Open and Walk, instead of deleting it. FSBlobs moves it to
// blobs/quarantine/.
type Quarantiner interface {
	// Quarantine moves the blob named d aside and says where it went; a
	// missing blob is an error wrapping ErrNotFound.
	Quarantine(ctx context.Context, d Digest) (string, error)
}

// BlobAger is a blob store that knows when each blob was written. GC removes
// orphan blobs only from a store that is one, so that a blob committed a
// moment ago, whose row is still to be written, is never taken for an orphan.
type BlobAger interface {
	// ModTime returns when the blob was last committed, or an error wrapping
	// ErrNotFound.
	ModTime(ctx context.Context, d Digest) (time.Time, error)
}

// Quarantine moves a blob to quarantine/ beside sha256/, under its digest
// (with a number added when that name is taken).
func (s *FSBlobs) Quarantine(ctx context.Context, d Digest) (string, error) {
	if !d.valid() {
		return "", fmt.Errorf("blob %q: %w", d, ErrNotFound)
	}
	dir := filepath.Join(s.root, "quarantine")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("blob store: %w", err)
	}
	dst := filepath.Join(dir, string(d))
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = filepath.Join(dir, fmt.Sprintf("%s.%d", d, i))
	}
	err := os.Rename(s.path(d), dst)
	s.dropShared(d)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("blob store: %w", err)
	}
	return dst, nil
}

// ModTime returns the blob file's modification time: when it was committed,
// since a commit renames a freshly written file into place.
func (s *FSBlobs) ModTime(ctx context.Context, d Digest) (time.Time, error) {
	if !d.valid() {
		return time.Time{}, fmt.Errorf("blob %q: %w", d, ErrNotFound)
	}
	fi, err := os.Stat(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// BlobRef is a row that points at a blob.
type BlobRef struct {
	Registry string
	Path     string // an artifact's path; "" for a document
	Key      string // a document's key and variant; "" for an artifact
	Variant  string
	Size     int64 // the size the row records
}

func (r BlobRef) String() string {
	if r.Path != "" {
		return fmt.Sprintf("artifact %s/%s", r.Registry, r.Path)
	}
	return fmt.Sprintf("document %s/%s (%s)", r.Registry, r.Key, r.Variant)
}

// BlobProblem is a blob Verify found missing or corrupt.
type BlobProblem struct {
	Digest Digest
	// Missing is true when the blob is not in the store; otherwise its bytes
	// do not hash to its digest, or could not be read.
	Missing bool
	Detail  string // what is wrong with a corrupt blob
	// Quarantined is where a corrupt blob was moved; "" when the store cannot
	// quarantine (the blob is then left where it is) or the move failed.
	Quarantined string
	// Rows are the rows that pointed at the blob. Verify has forgotten each
	// artifact's bytes and deleted each document, so that they are fetched
	// again on next use.
	Rows []BlobRef
}

// VerifyOptions say how to verify. The zero value checks every blob and
// reports no progress.
type VerifyOptions struct {
	// Shard, when set, checks only the blobs in that part of the store
	// (rows that point at them included), and counts only its unreferenced
	// blobs: nodes that run the parts 1/N … N/N at once check each blob
	// once between them.
	Shard Shard
	// Progress, when not nil, is called as blob bytes are hashed: blobs
	// done of all, bytes hashed of the total the database records.
	Progress func(Progress)
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Shard                         Shard // the part of the store checked
	Checked, OK, Missing, Corrupt int   // blobs
	Bytes                         int64 // bytes hashed
	Problems                      []BlobProblem
	// Unreferenced counts blobs in the store that no row points at: not a
	// problem (a replaced document leaves its old body behind); GC removes them.
	Unreferenced int
}

// Clean reports whether Verify found nothing missing or corrupt.
func (r VerifyReport) Clean() bool { return r.Missing == 0 && r.Corrupt == 0 }

// Verify re-hashes every blob a row points at (held artifacts and document
// bodies). A missing or corrupt blob is reported and its rows repaired so
// that the thing is fetched again on next use: an artifact's digest is
// forgotten, a document row is deleted. A corrupt blob is quarantined when
// the store can (never deleted). The error is for Verify failing to run, not
// for what it found: see VerifyReport.Clean.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	blobs, total, err := s.DB.heldBlobs(ctx)
	if err != nil {
		return VerifyReport{}, fmt.Errorf("verify: %w", err)
	}
	inline, err := s.DB.inlineDigests(ctx)
	if err != nil {
		return VerifyReport{}, fmt.Errorf("verify: %w", err)
	}
	if opts.Shard.Count > 1 {
		// A part holds about its share of the digests; the counts are
		// raised below if it holds more.
		blobs, total = blobs/opts.Shard.Count, total/int64(opts.Shard.Count)
	}
	rep := VerifyReport{Shard: opts.Shard}
	var done int64 // progress: the recorded sizes of the blobs checked, plus what is hashed of this one
	err = s.DB.eachBlobRefs(ctx, func(d Digest, refs []BlobRef) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !opts.Shard.Holds(d) {
			return nil
		}
		rep.Checked++
		// Rows written since the count was taken make more to check.
		blobs = max(blobs, rep.Checked)
		total = max(total, done+refs[0].Size)
		var hashed int64
		p, err := s.checkBlob(ctx, d, inline, func(n int64) {
			rep.Bytes += n
			hashed += n
			if opts.Progress != nil {
				opts.Progress(Progress{Items: rep.Checked - 1, TotalItems: blobs, Bytes: done + hashed, TotalBytes: total})
			}
		})
		if err != nil {
			return fmt.Errorf("blob %s: %w", d, err)
		}
		if done += refs[0].Size; opts.Progress != nil {
			opts.Progress(Progress{Items: rep.Checked, TotalItems: blobs, Bytes: done, TotalBytes: total})
		}
		if p == nil {
			rep.OK++
			return nil
		}
		if p.Missing {
			rep.Missing++
		} else {
			rep.Corrupt++
			where, err := s.Quarantine(ctx, d)
			if inline[d] {
				// Kept in the database, where there is no quarantine: the
				// bytes go, and the document or artifact is fetched again.
				err = s.DB.dropInlineBody(ctx, d)
				if err == nil {
					s.removed(Removal{Digest: d})
					err = ErrNoQuarantine
				}
			}
			switch {
			case err == nil:
				p.Quarantined = where
				s.removed(Removal{Digest: d})
			case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoQuarantine):
			default:
				p.Detail += fmt.Sprintf("; moving it to quarantine failed: %v", err)
			}
		}
		for _, r := range refs {
			changed, err := s.DB.dropRef(ctx, r, d)
			if err != nil {
				return fmt.Errorf("%s: %w", r, err)
			}
			if changed {
				p.Rows = append(p.Rows, r)
				s.removed(Removal{Ref: r, Digest: d})
			}
		}
		rep.Problems = append(rep.Problems, *p)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}

	holds := func(d Digest) (bool, error) { return opts.Shard.Holds(d), nil }
	err = s.walkUnreferenced(ctx, holds, func(Digest, int64) error {
		rep.Unreferenced++
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	return rep, nil
}

// walkUnreferenced calls fn for each blob in the store that no row points
// at, among those consider accepts (nil: all). The rows are read after the
// walk met the blob, a batch at a time, so that a row written meanwhile
// protects its blob.
func (s *Store) walkUnreferenced(ctx context.Context, consider func(Digest) (bool, error), fn func(Digest, int64) error) error {
	type blob struct {
		d    Digest
		size int64
	}
	var batch []blob
	flush := func() error {
		ds := make([]Digest, len(batch))
		for i, b := range batch {
			ds[i] = b.d
		}
		used, err := s.DB.referenced(ctx, ds)
		if err != nil {
			return err
		}
		for _, b := range batch {
			if !used[b.d] {
				if err := fn(b.d, b.size); err != nil {
					return err
				}
			}
		}
		batch = batch[:0]
		return nil
	}
	err := s.Blobs.Walk(ctx, func(d Digest, size int64) error {
		if consider != nil {
			ok, err := consider(d)
			if err != nil || !ok {
				return err
			}
		}
		// A digest is two parameters (artifacts and documents): a batch
		// is 2,000, well under SQLite's and PostgreSQL's limits.
		if batch = append(batch, blob{d, size}); len(batch) >= refPage {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// checkBlob hashes one blob; nil means it is sound.
func (s *Store) checkBlob(ctx context.Context, d Digest, inline map[Digest]bool, progress func(int64)) (*BlobProblem, error) {
	rc, _, err := s.openHeld(ctx, d, inline)
	if errors.Is(err, ErrNotFound) {
		return &BlobProblem{Digest: d, Missing: true}, nil
	}
	if err != nil {
		// Not a verdict on the blob (a permission problem would otherwise
		// have every row forgotten): stop and say so.
		return nil, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, progressWriter(progress)), rc)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return &BlobProblem{Digest: d, Detail: fmt.Sprintf("unreadable after %d bytes: %v", n, err)}, nil
	}
	if got := Digest(hex.EncodeToString(h.Sum(nil))); got != d {
		return &BlobProblem{Digest: d, Detail: fmt.Sprintf("its %d bytes hash to %s", n, got)}, nil
	}
	return nil, nil
}

// dropRef makes a row stop pointing at a blob, if it still does: an
// artifact's digest is forgotten, a document is deleted.
func (d *DB) dropRef(ctx context.Context, r BlobRef, digest Digest) (bool, error) {
	if r.Path != "" {
		return d.forgetArtifactIf(ctx, r.Registry, r.Path, digest)
	}
	res, err := d.sql.ExecContext(ctx, `DELETE FROM documents WHERE registry = ? AND doc_key = ? AND variant = ? AND body_sha256 = ?`,
		r.Registry, r.Key, r.Variant, string(digest))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// forgetArtifactIf is ForgetArtifact for a row that still holds digest; it
// reports whether it changed the row. The condition keeps a maintenance pass
// from forgetting bytes a server fetched again in the meantime.
func (d *DB) forgetArtifactIf(ctx context.Context, registry, path string, digest Digest) (bool, error) {
	changed := false
	err := d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		changed = false // as a batch that failed runs it again
		pkg, held, size, err := heldState(ctx, tx, registry, path)
		if err != nil || !held {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE artifacts SET sha256 = NULL, size = NULL WHERE registry = ? AND path = ? AND sha256 = ?`,
			registry, path, string(digest))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		changed = true
		_, err = tx.ExecContext(ctx, `UPDATE packages SET files = files - 1, bytes = bytes - ? WHERE registry = ? AND name = ?`, size, registry, pkg)
		return err
	})
	return changed, err
}

// DefaultOrphanAge is how old a blob no row points at must be before GC
// removes it.
const DefaultOrphanAge = time.Hour

// GCOptions say what GC does. The zero value evicts nothing and removes
// orphan blobs older than DefaultOrphanAge.
type GCOptions struct {
	// MaxSize is the most bytes of blobs the database may point at once GC
	// is done (each blob counted once). 0 or less evicts nothing.
	MaxSize int64
	// OrphanAge is how old a blob no row points at must be to be removed; 0
	// is DefaultOrphanAge; negative keeps every orphan.
	OrphanAge time.Duration
	// Now is the current time, for the orphans' age; zero is time.Now().
	Now time.Time
	// Progress, when not nil, is called as artifacts are evicted: how many
	// so far, and the bytes freed of those that must be.
	Progress func(Progress)
}

// Evicted is an artifact whose bytes GC dropped.
type Evicted struct {
	Registry, Path string
	Digest         Digest
	Size           int64
	LastServed     time.Time // zero when never served
	LastFetch      time.Time
	// Deleted is true when the blob left the disk with this eviction; false
	// while another row still points at it.
	Deleted bool
}

// GCReport is what GC did.
type GCReport struct {
	Before, After int64     // bytes of blobs the database points at
	Evicted       []Evicted // least recently served first
	BlobsDeleted  int       // blobs removed by eviction
	BytesFreed    int64     // their bytes
	Orphans       int       // blobs no row pointed at, removed
	OrphanBytes   int64
}

// GC evicts held artifacts, least recently used first (the later of last
// served and first fetched: a warmed file counts from its fetch), until the blobs the database points at take at most opts.MaxSize
// bytes, and removes blobs no row points at that are older than
// opts.OrphanAge. Documents are never evicted. An evicted artifact's row
// stays, its digest forgotten, so that it is fetched again on next use; its
// blob leaves the disk only once no row points at it. A server can call GC
// while it serves. Nodes that share a database collect one at a time.
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	var rep GCReport
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	release, err := s.DB.ClusterLock(ctx, "gc")
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	defer release()
	before, err := s.BlobBytes(ctx)
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	rep.Before = before
	if opts.MaxSize > 0 && before > opts.MaxSize {
		if err := s.evict(ctx, opts.MaxSize, opts.Progress, &rep); err != nil {
			return rep, fmt.Errorf("gc: %w", err)
		}
	}
	if opts.OrphanAge >= 0 {
		age := opts.OrphanAge
		if age == 0 {
			age = DefaultOrphanAge
		}
		now := opts.Now
		if now.IsZero() {
			now = time.Now()
		}
		if err := s.collectOrphans(ctx, now.Add(-age), &rep); err != nil {
			return rep, fmt.Errorf("gc: %w", err)
		}
		if err := s.collectOrphanBodies(ctx, now.Add(-age), &rep); err != nil {
			return rep, fmt.Errorf("gc: %w", err)
		}
	}
	if rep.After, err = s.BlobBytes(ctx); err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	return rep, nil
}

func (s *Store) evict(ctx context.Context, maxSize int64, progress func(Progress), rep *GCReport) error {
	// Document bodies are never evicted; an artifact whose bytes equal one
	// frees nothing.
	docBodies := map[Digest]bool{}
	rows, err := s.DB.sql.QueryContext(ctx, `SELECT DISTINCT body_sha256 FROM documents`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var d Digest
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return err
		}
		docBodies[d] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	current := rep.Before
	for current > maxSize {
		// Every candidate read is evicted (or already was), so the next
		// batch is again the least recently served of those still held.
		batch, err := s.DB.lruHeld(ctx, 256)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, e := range batch {
			if current <= maxSize {
				break
			}
			changed, err := s.DB.forgetArtifactIf(ctx, e.Registry, e.Path, e.Digest)
			if err != nil {
				return fmt.Errorf("artifact %s/%s: %w", e.Registry, e.Path, err)
			}
			if !changed {
				continue
			}
			s.counts.evicted.Add(1)
			s.removed(Removal{Ref: BlobRef{Registry: e.Registry, Path: e.Path, Size: e.Size}, Digest: e.Digest})
			used := docBodies[e.Digest]
			if !used {
				if used, err = s.DB.artifactUses(ctx, e.Digest); err != nil {
					return err
				}
			}
			if !used {
				if err := s.deleteBlob(ctx, e.Digest); err != nil {
					return fmt.Errorf("blob %s: %w", e.Digest, err)
				}
				e.Deleted = true
				rep.BlobsDeleted++
				rep.BytesFreed += e.Size
				current -= e.Size
			}
			rep.Evicted = append(rep.Evicted, e)
			if progress != nil {
				progress(Progress{Items: len(rep.Evicted), Bytes: rep.BytesFreed, TotalBytes: rep.Before - maxSize})
			}
		}
	}
	return nil
}

// lruHeld returns up to n held artifacts, least recently used first: used
// is the later of when it was last served and when it was last fetched, so
// that a file `larder warm` fetched (which is not served) counts as wanted
// from then on, and a file fetched again after an eviction is not the next
// one evicted.
func (d *DB) lruHeld(ctx context.Context, n int) ([]Evicted, error) {
	rows, err := d.sql.QueryContext(ctx, lruHeldQuery, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Evicted
	for rows.Next() {
		var e Evicted
		var served, fetched int64
		if err := rows.Scan(&e.Registry, &e.Path, &e.Digest, &e.Size, &served, &fetched); err != nil {
			return nil, err
		}
		e.LastServed, e.LastFetch = fromMillis(served), fromMillis(fetched)
		out = append(out, e)
	}
	return out, rows.Err()
}

// lruHeldQuery reads the index artifacts_lru (migration 0008) in its order:
// its WHERE and ORDER BY are the index's predicate and columns.
const lruHeldQuery = `SELECT registry, path, sha256, size, last_served_at, last_fetched_at
		FROM artifacts WHERE sha256 IS NOT NULL
		ORDER BY CASE WHEN last_served_at > last_fetched_at THEN last_served_at ELSE last_fetched_at END, registry, path LIMIT ?`

// artifactUses reports whether an artifact row points at a blob (an indexed
// look-up, unlike one in documents).
func (d *DB) artifactUses(ctx context.Context, digest Digest) (bool, error) {
	var n int
	err := d.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM artifacts WHERE sha256 = ?`, string(digest)).Scan(&n)
	return n > 0, err
}

// collectOrphans removes blobs committed before cutoff that no row points
// at. The rows are read after the walk, so a row written while it runs
// protects its blob; a blob committed again since is young again and kept.
func (s *Store) collectOrphans(ctx context.Context, cutoff time.Time, rep *GCReport) error {
	ager, ok := s.Blobs.(BlobAger)
	if !ok {
		return nil
	}
	old := func(d Digest) (bool, error) {
		t, err := ager.ModTime(ctx, d)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return err == nil && t.Before(cutoff), err
	}
	return s.walkUnreferenced(ctx, old, func(d Digest, size int64) error {
		if t, err := ager.ModTime(ctx, d); err != nil || !t.Before(cutoff) {
			return nil // gone, or committed again a moment ago
		}
		if err := s.deleteBlob(ctx, d); err != nil {
			return fmt.Errorf("blob %s: %w", d, err)
		}
		rep.Orphans++
		rep.OrphanBytes += size
		return nil
	})
}
