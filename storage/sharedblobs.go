package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// SharedBlob is a blob file held open and shared by every request that
// sends it, as nginx's open_file_cache does: serving a held tarball then
// costs no open, fstat and close, which on a 1 MB file is several percent
// of the whole request. Readers use positional reads only (ReadAt, or
// sendfile with an explicit offset); the file's own offset is never used.
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
	dropped bool      // no longer in the set: closed at the last Release
}

// Size is the blob's length in bytes.
func (b *SharedBlob) Size() int64 { return b.size }

// Fd is the open file's descriptor, valid until Release, for sendfile with
// an explicit offset.
func (b *SharedBlob) Fd() uintptr { return b.fd }

// ReadAt reads from the blob at off without moving any offset.
func (b *SharedBlob) ReadAt(p []byte, off int64) (int, error) { return b.f.ReadAt(p, off) }

// Release ends this use of b.
func (b *SharedBlob) Release() { b.set.release(b) }

// SharedOpener is a Blobs that can hand out SharedBlobs.
type SharedOpener interface {
	// OpenShared returns the blob, open, or an error wrapping ErrNotFound.
	// kept reports that it was open already, kept from an earlier use:
	// its pages were read recently and are most likely in memory.
	OpenShared(ctx context.Context, d Digest) (b *SharedBlob, kept bool, err error)
}

const (
	// At most this many blobs are kept open while unused; the hot set of a
	// mirror is its most installed tarballs.
	sharedBlobsMax = 256
	// A blob unused this long is closed, so that the descriptors of a blob
	// deleted by other means than Delete do not hold its disk space long.
	sharedBlobIdle = time.Minute
	sharedSweepGap = 10 * time.Second
)

// sharedBlobs is FSBlobs' set of open blobs.
type sharedBlobs struct {
	mu    sync.Mutex
	open  map[Digest]*SharedBlob
	swept time.Time
	clock func() time.Time // time.Now; tests move it on
}

func (set *sharedBlobs) now() time.Time {
	if set.clock != nil {
		return set.clock()
	}
	return time.Now()
}

func (s *FSBlobs) OpenShared(ctx context.Context, d Digest) (*SharedBlob, bool, error) {
	if !d.valid() {
		return nil, false, fmt.Errorf("blob %q: %w", d, ErrNotFound)
	}
	set := &s.shared
	set.mu.Lock()
	if b := set.open[d]; b != nil {
		b.refs++
		set.mu.Unlock()
		return b, true, nil
	}
	set.mu.Unlock()

	f, err := openBlob(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, false, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	b := &SharedBlob{f: f, fd: f.Fd(), size: fi.Size(), set: set, d: d, refs: 1}

	set.mu.Lock()
	defer set.mu.Unlock()
	if other := set.open[d]; other != nil {
		// Opened by another request meanwhile: one descriptor is enough.
		f.Close()
		other.refs++
		return other, false, nil
	}
	if set.open == nil {
		set.open = make(map[Digest]*SharedBlob)
	}
	set.open[d] = b
	set.trim(set.now())
	return b, false, nil
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
			b.f.Close()
		}
		return
	}
	if now.Sub(set.swept) >= sharedSweepGap {
		set.trim(now)
	}
}

// drop forgets d: a deleted or quarantined blob is not served from a
// descriptor kept open. Requests under way finish with it.
func (s *FSBlobs) dropShared(d Digest) {
	set := &s.shared
	set.mu.Lock()
	defer set.mu.Unlock()
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
		b.f.Close()
	}
}

// Close closes every blob kept open and not in use; FSBlobs stays usable.
func (s *FSBlobs) Close() error {
	set := &s.shared
	set.mu.Lock()
	defer set.mu.Unlock()
	for _, b := range set.open {
		set.forget(b)
	}
	return nil
}
