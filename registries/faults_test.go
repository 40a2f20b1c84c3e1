package registries

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// fullDisk is a blob store whose disk fills up: every write past the first
// room bytes (counted over all blobs) fails with ENOSPC, as on a full volume.
type fullDisk struct {
	storage.Blobs
	room atomic.Int64
}

func (d *fullDisk) Create(ctx context.Context) (storage.BlobWriter, error) {
	w, err := d.Blobs.Create(ctx)
	if err != nil {
		return nil, err
	}
	return &fullDiskWriter{BlobWriter: w, d: d}, nil
}

type fullDiskWriter struct {
	storage.BlobWriter
	d *fullDisk
}

func (w *fullDiskWriter) Write(p []byte) (int, error) {
	if w.d.room.Add(-int64(len(p))) < 0 {
		return 0, fmt.Errorf("write blob: %w", syscall.ENOSPC)
	}
	return w.BlobWriter.Write(p)
}

func TestAFullDiskFailsTheDownloadKeepsNothingAndServesWhatIsHeld(t *testing.T) {
	t.Parallel()
	x := newArtifactFixture(t, Options{})
	held := randomBytes(smallSize, 7)
	x.f.handle(tarballUpstream, bytesHandler(held))
	x.announce(t, held)
	mustStatus(t, x.get(t, http.MethodGet, nil), http.StatusOK)
	waitFillsDone(t, x.u)

	disk := &fullDisk{Blobs: x.e.Store.Blobs}
	disk.room.Store(64 << 10)
	x.e.Store.Blobs = disk
	t.Cleanup(func() { x.e.Store.Blobs = disk.Blobs })

	// Another artifact, too big for what is left.
	const coldPath = "big/-/big-1.0.0.tgz"
	cold := randomBytes(largeSize, 8)
	x.f.handle("/"+coldPath, bytesHandler(cold))
	if err := x.e.Store.DB.AnnounceArtifacts(context.Background(), testRegistry, []storage.Artifact{{
		Path: coldPath, Package: "big", Version: "1.0.0", UpstreamURL: x.f.URL("/" + coldPath), Integrity: integrityOf(cold),
	}}); err != nil {
		t.Fatal(err)
	}
	resp, err := x.srv.Client().Get(x.srv.URL + "/" + coldPath)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("a download that could not be written answered 200")
		}
	}
	waitFillsDone(t, x.u)
	errs := x.serveErrors()
	if len(errs) == 0 || !errors.Is(errs[len(errs)-1], syscall.ENOSPC) {
		t.Errorf("the client's error does not say the disk is full: %v", errs)
	} else if s := StatusOf(errs[len(errs)-1]); s != http.StatusInsufficientStorage {
		t.Errorf("a full disk is answered %d, want 507", s)
	}
	if a, err := x.e.Store.DB.Artifact(context.Background(), testRegistry, coldPath); err != nil || a.Cached() {
		t.Errorf("the failed download was recorded as stored: %+v %v", a, err)
	}
	tmp, _ := storageTmp(x.e)
	if len(tmp) != 0 {
		t.Errorf("partial files left: %v", tmp)
	}
	// What is held is still served.
	got := x.get(t, http.MethodGet, nil)
	mustStatus(t, got, http.StatusOK)
	if got.resp.Header.Get("X-Larder-Cache") != "HIT" {
		t.Errorf("the held tarball: %s", got.resp.Header.Get("X-Larder-Cache"))
	}
}

// A gzip bomb from the upstream (a few KB that inflate to gigabytes) is cut
// at the document bound: larder never inflates more than it would store.
func TestAGzipBombIsCutAtTheDocumentBound(t *testing.T) {
	// Not parallel: it measures the process's allocations.
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 512 { // 512 MiB of zeros
		zw.Write(zeros)
	}
	zw.Close()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb.Bytes())
	}))
	u := e.upstream(t, f.URL("/"), Options{MaxDocumentSize: 4 << 20})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := u.Document(context.Background(), leftPad(f))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Document = %v, want ErrTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("inflating the bomb allocated %d MiB", grew>>20)
	}
	assertNotCached(t, u, leftPad(f))
}

// Only a failing or unreachable upstream makes a STALE copy degraded (and
// the ecosystems' cached-only view apply); a slow one does not.
func TestAStaleCopyIsDegradedOnlyWhenTheUpstreamFailed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		handler  func(f *fakeUpstream) http.Handler
		degraded bool
	}{
		{"slow", func(f *fakeUpstream) http.Handler { return f.hangHandler() }, false},
		{"failing", func(*fakeUpstream) http.Handler { return statusHandler(http.StatusInternalServerError) }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			f := newFakeUpstream(t)
			f.handle("/left-pad", docHandler(`{"v":1}`, `"v1"`, lastModified))
			// StaleWait is long enough for a 500 to come back on a loaded
			// machine, so that only the hanging upstream outlasts it.
			u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Millisecond, StaleWait: time.Second, ResponseTimeout: 3 * time.Second})
			mustDocument(t, u, leftPad(f), Miss)
			time.Sleep(5 * time.Millisecond)
			f.handle("/left-pad", tt.handler(f))
			d := mustDocument(t, u, leftPad(f), Stale)
			if d.Degraded != tt.degraded {
				t.Errorf("Degraded = %v, want %v", d.Degraded, tt.degraded)
			}
			f.releaseAll()
		})
	}
}
