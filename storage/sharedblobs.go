package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// SharedBlob is a blob file held open and shared by every request that
// sends it, as nginx's open_file_cache does: serving a held tarball then
// costs no open, fstat and close, which on a 1 MB file is several percent
// of the whole request. Readers use positional reads only (ReadAt, or
// SendTo's sendfile with an explicit offset); the file's own offset is
// never used.
// Each OpenShared is paired with one Release.
type SharedBlob struct {
	f    *os.File
	fd   uintptr
	size int64
	set  *sharedBlobs
	d    Digest

	// Guarded by set.mu.
	refs    int
	used    time.Time // last released
	checked time.Time // last found still at its path, unchanged
	dropped bool      // no longer in the set: closed at the last Release
}

// Size is the blob's length in bytes.
func (b *SharedBlob) Size() int64 { return b.size }

// ReadAt reads from the blob at off without moving any offset.
func (b *SharedBlob) ReadAt(p []byte, off int64) (int, error) { return b.f.ReadAt(p, off) }

// Release ends this use of b.
func (b *SharedBlob) Release() { b.set.release(b) }

// Invalidate stops b being handed out again, when a reader found it is
// not what it was opened as (shorter than its size): the next OpenShared
// opens the file afresh. Uses under way finish with it.
func (b *SharedBlob) Invalidate() {
	b.set.mu.Lock()
	defer b.set.mu.Unlock()
	if !b.dropped {
		b.set.forget(b)
	}
}

// resident reports whether the n bytes from off are all in the page cache,
// so that reading them will not wait on the disk. False when it cannot
// tell. Valid until Release.
func (b *SharedBlob) resident(off, n int64) bool {
	return n > 0 && off >= 0 && off+n <= b.size && inPageCache(b.fd, off, n)
}

// SharedOpener is a Blobs that can hand out SharedBlobs.
type SharedOpener interface {
	// OpenShared returns the blob, open, or an error wrapping ErrNotFound.
	OpenShared(ctx context.Context, d Digest) (*SharedBlob, error)
	// OpenFiles is how many blob files are open for SharedBlobs, in use
	// or kept: descriptors the process holds by design, which a count of
	// its open files must not take for a leak.
	OpenFiles() int
}

const (
	// At most this many blobs are kept open while unused; the hot set of a
	// mirror is its most installed tarballs.
	sharedBlobsMax = 256
	// A blob unused this long is closed, so that the descriptors of a blob
	// deleted by other means than Delete do not hold its disk space long.
	sharedBlobIdle = time.Minute
	// How often the set is swept for idle blobs, and how often a blob
	// kept open is checked to be still the file at its path (as nginx's
	// open_file_cache_valid): one removed or replaced by hand is dropped.
	sharedSweepGap = 10 * time.Second
)

// sharedBlobs is FSBlobs' set of open blobs.
type sharedBlobs struct {
	mu    sync.Mutex
	open  map[Digest]*SharedBlob
	swept time.Time
	// drops counts dropShared calls: a blob opened while one ran may be
	// the file just removed, and is not kept.
	drops uint64
	// sweeper closes idle blobs when no request comes to do it.
	sweeper *time.Timer
	clock   func() time.Time // time.Now; tests move it on
	files   atomic.Int64     // blob files open, kept or in use
	// keepNone is memory_cache = false: a blob is open only while a
	// request uses it.
	keepNone atomic.Bool
}

func (set *sharedBlobs) now() time.Time {
	if set.clock != nil {
		return set.clock()
	}
	return time.Now()
}

func (s *FSBlobs) OpenShared(ctx context.Context, d Digest) (*SharedBlob, error) {
	if !d.valid() {
		return nil, fmt.Errorf("blob %q: %w", d, ErrNotFound)
	}
	path := s.path(d)
	set := &s.shared
	set.mu.Lock()
	if b := set.open[d]; b != nil && set.stillAt(b, path) {
		b.refs++
		set.mu.Unlock()
		return b, nil
	}
	drops := set.drops
	set.mu.Unlock()

	f, err := openBlob(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	set.files.Add(1)
	now := set.now()
	b := &SharedBlob{f: f, fd: f.Fd(), size: fi.Size(), set: set, d: d, refs: 1, checked: now}

	set.mu.Lock()
	defer set.mu.Unlock()
	if set.drops != drops || set.keepNone.Load() {
		// Delete or Quarantine may have removed this very file after it
		// was opened: this request may send it, as one under way would,
		// but it is not kept.
		b.dropped = true
		return b, nil
	}
	if other := set.open[d]; other != nil {
		// Opened by another request meanwhile: one descriptor is enough.
		b.close()
		other.refs++
		return other, nil
	}
	if set.open == nil {
		set.open = make(map[Digest]*SharedBlob)
	}
	set.open[d] = b
	set.trim(now)
	return b, nil
}

// stillAt reports whether b, kept open, is still the file at path, checking
// at most every sharedSweepGap; if not, b is forgotten. Called with mu held.
func (set *sharedBlobs) stillAt(b *SharedBlob, path string) bool {
	now := set.now()
	if now.Sub(b.checked) < sharedSweepGap {
		return true
	}
	onDisk, errPath := os.Stat(path)
	held, errHeld := b.f.Stat()
	if errPath != nil || errHeld != nil || !os.SameFile(onDisk, held) || held.Size() != b.size {
		set.forget(b)
		return false
	}
	b.checked = now
	return true
}

func (set *sharedBlobs) release(b *SharedBlob) {
	set.mu.Lock()
	now := set.now()
	defer set.mu.Unlock()
	b.refs--
	if b.refs < 0 {
		panic("storage: SharedBlob released more often than opened")
	}
	b.used = now
	if b.dropped {
		if b.refs == 0 {
			b.close()
		}
		return
	}
	if now.Sub(set.swept) >= sharedSweepGap {
		set.trim(now)
	}
	if b.refs == 0 && set.sweeper == nil {
		set.sweeper = time.AfterFunc(sharedBlobIdle+sharedSweepGap, set.sweep)
	}
}

// sweep closes idle blobs while no request comes, and runs again while
// some stay open unused.
func (set *sharedBlobs) sweep() {
	set.mu.Lock()
	defer set.mu.Unlock()
	set.sweeper = nil
	set.trim(set.now())
	for _, b := range set.open {
		if b.refs == 0 {
			set.sweeper = time.AfterFunc(sharedBlobIdle+sharedSweepGap, set.sweep)
			return
		}
	}
}

// dropShared forgets d: a deleted or quarantined blob is not served from a
// descriptor kept open. Requests under way finish with it.
func (s *FSBlobs) dropShared(d Digest) {
	set := &s.shared
	set.mu.Lock()
	defer set.mu.Unlock()
	set.drops++
	if b := set.open[d]; b != nil {
		set.forget(b)
	}
}

// trim closes blobs unused for sharedBlobIdle, and the least recently
// used ones beyond sharedBlobsMax. Blobs in use stay. Called with mu held.
func (set *sharedBlobs) trim(now time.Time) {
	set.swept = now
	for _, b := range set.open {
		if b.refs == 0 && now.Sub(b.used) >= sharedBlobIdle {
			set.forget(b)
		}
	}
	for len(set.open) > sharedBlobsMax {
		var oldest *SharedBlob
		for _, b := range set.open {
			if b.refs == 0 && (oldest == nil || b.used.Before(oldest.used)) {
				oldest = b
			}
		}
		if oldest == nil {
			return // all in use: they are trimmed once released
		}
		set.forget(oldest)
	}
}

// forget takes b out of the set, closing it unless it is in use. Called
// with mu held.
func (set *sharedBlobs) forget(b *SharedBlob) {
	delete(set.open, b.d)
	b.dropped = true
	if b.refs == 0 {
		b.close()
	}
}

// close closes b's file, which no request uses any more.
func (b *SharedBlob) close() {
	b.f.Close()
	b.set.files.Add(-1)
}

// setKeepOpen is Store.SetMemoryCache: off, no blob stays open once
// released, and those kept are closed now.
func (s *FSBlobs) setKeepOpen(on bool) {
	s.shared.keepNone.Store(!on)
	if !on {
		s.Close()
	}
}

func (s *FSBlobs) OpenFiles() int { return int(s.shared.files.Load()) }

// Close closes every blob kept open and not in use; FSBlobs stays usable.
func (s *FSBlobs) Close() error {
	set := &s.shared
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.sweeper != nil {
		set.sweeper.Stop()
		set.sweeper = nil
	}
	for _, b := range set.open {
		set.forget(b)
	}
	return nil
}
