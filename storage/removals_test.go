package storage

import (
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// removalLog records what OnRemoved reports, and whether each row's blob
// was still on disk when its Removal came.
type removalLog struct {
	mu   sync.Mutex
	got  []string
	stop func()
}

func watchRemovals(t *testing.T, s *Store) *removalLog {
	l := &removalLog{}
	l.stop = s.OnRemoved(func(r Removal) {
		what := "blob " + string(r.Digest)
		if r.Ref.Registry != "" {
			what = r.Ref.String()
			if r.Digest != "" {
				if _, err := os.Stat(blobFile(s, r.Digest)); err != nil {
					what += " (after its blob was gone)"
				}
			}
		}
		l.mu.Lock()
		l.got = append(l.got, what)
		l.mu.Unlock()
	})
	t.Cleanup(l.stop)
	return l
}

func (l *removalLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	slices.Sort(got)
	return got
}

// Every way a Store takes something away is reported: GC's evictions (the
// row before its blob) and orphans, Verify's repairs and quarantines,
// ForgetArtifact.
func TestOnRemovedReportsEveryRemoval(t *testing.T) {
	s := seed(t)
	log := watchRemovals(t, s.Store)

	if _, err := s.GC(t.Context(), GCOptions{MaxSize: s.mustBlobBytes(t) - 1, OrphanAge: -1}); err != nil {
		t.Fatal(err)
	}
	// The least recently served artifact, never served, fetched first.
	wantSame(t, "GC eviction", log.take(), []string{"artifact npm/" + s.lodash20.Path, "blob " + string(s.lodash20.SHA256)})

	orphan, _ := putBlob(t, s.Store, "an orphan")
	if _, err := s.GC(t.Context(), GCOptions{OrphanAge: time.Nanosecond, Now: time.Now().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	wantSame(t, "GC orphans", log.take(), []string{"blob " + string(orphan)})

	b, _ := os.ReadFile(blobFile(s.Store, s.wheel.SHA256))
	b[0] ^= 1
	os.WriteFile(blobFile(s.Store, s.wheel.SHA256), b, 0o644)
	if _, err := s.Verify(t.Context(), VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	wantSame(t, "Verify", log.take(), []string{"artifact pypi/" + s.wheel.Path + " (after its blob was gone)", "blob " + string(s.wheel.SHA256)})

	if err := s.ForgetArtifact(t.Context(), "npm", s.leftPad.Path); err != nil {
		t.Fatal(err)
	}
	wantSame(t, "ForgetArtifact", log.take(), []string{"artifact npm/" + s.leftPad.Path})

	log.stop()
	if err := s.ForgetArtifact(t.Context(), "npm", s.lodash21.Path); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("after stop, still reported %v", got)
	}
}

func (s seeded) mustBlobBytes(t *testing.T) int64 {
	n, err := s.BlobBytes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// With the memory cache off, no blob stays open once released.
func TestSharedBlobsKeptOpenOnlyWithTheMemoryCache(t *testing.T) {
	s := seed(t)
	shared := s.Blobs.(SharedOpener)
	b, err := shared.OpenShared(t.Context(), s.leftPad.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	if n := shared.OpenFiles(); n != 1 {
		t.Errorf("memory cache on: %d blobs open after release, want 1 kept", n)
	}
	s.SetMemoryCache(false)
	if n := shared.OpenFiles(); n != 0 {
		t.Errorf("memory cache switched off: %d blobs still open, want 0", n)
	}
	b, err = shared.OpenShared(t.Context(), s.leftPad.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if n := shared.OpenFiles(); n != 1 {
		t.Errorf("memory cache off: %d blobs open while one is used, want 1", n)
	}
	b.Release()
	if n := shared.OpenFiles(); n != 0 {
		t.Errorf("memory cache off: %d blobs open after release, want 0", n)
	}
}
