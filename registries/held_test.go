package registries

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

// lockedBuffer is a log sink safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// heldFixture is larder serving one tarball as an ecosystem's handler does:
// the row through Upstream.Artifact (memory first), then ServeArtifact;
// and the quick path beside it.
type heldFixture struct {
	e   *testEnv
	f   *fakeUpstream
	u   *Upstream
	srv *httptest.Server
	log *lockedBuffer
}

func newHeldFixture(t *testing.T, memory bool, body []byte) *heldFixture {
	t.Helper()
	x := &heldFixture{e: newTestEnvMemory(t, memory), f: newFakeUpstream(t), log: &lockedBuffer{}}
	x.e.Log = slog.New(slog.NewTextHandler(x.log, nil))
	x.u = x.e.upstream(t, x.f.URL("/"), Options{})
	x.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := x.u.Artifact(r.Context(), strings.TrimPrefix(r.URL.Path, "/"))
		if err == nil {
			err = x.u.ServeArtifact(w, r, a, tarballOptions)
		}
		if err != nil {
			WriteJSONError(w, StatusOf(err), ErrorMessage(err))
		}
	}))
	t.Cleanup(x.srv.Close)
	x.f.handle(tarballUpstream, bytesHandler(body))
	err := x.e.Store.DB.AnnounceArtifacts(context.Background(), testRegistry, []storage.Artifact{{
		Path: tarballPath, Package: "left-pad", Version: "1.0.0",
		UpstreamURL: x.f.URL(tarballUpstream), Integrity: integrityOf(body),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// get asks the handler for the tarball; it returns X-Larder-Cache.
func (x *heldFixture) get(t *testing.T, want []byte) string {
	t.Helper()
	resp, err := x.srv.Client().Get(x.srv.URL + "/" + tarballPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("GET: status %d, %d bytes (%v); want 200 and the %d bytes of the tarball: %s",
			resp.StatusCode, len(body), err, len(want), body)
	}
	waitFillsDone(t, x.u)
	return resp.Header.Get("X-Larder-Cache")
}

// quick asks the quick path for the tarball.
func (x *heldFixture) quick() (Quick, bool) {
	q, ok := x.u.Quick(Request{Path: tarballPath}, tarballPath, tarballOptions)
	if ok && q.File != nil {
		q.File.Release()
	}
	return q, ok
}

// After max_cache_size (GC) evicts a held artifact, nothing in memory
// answers for it: the quick path declines, and the handler fetches it once,
// as a MISS, without taking it for a blob lost by accident.
func TestEvictedArtifactIsNotServedFromMemoryAndIsFetchedOnce(t *testing.T) {
	t.Parallel()
	for _, memory := range []bool{true, false} {
		for _, size := range []int{10 << 10, smallBlobMax + 4321} {
			t.Run(fmt.Sprintf("memory cache %v, %d bytes", memory, size), func(t *testing.T) {
				t.Parallel()
				body := randomBytes(size, 7)
				x := newHeldFixture(t, memory, body)
				if c := x.get(t, body); c != "MISS" {
					t.Fatalf("first GET: X-Larder-Cache %s, want MISS", c)
				}
				if c := x.get(t, body); c != "HIT" {
					t.Fatalf("second GET: X-Larder-Cache %s, want HIT", c)
				}
				if q, ok := x.quick(); !ok || q.Cache != Hit {
					t.Fatalf("the quick path does not answer for a held artifact (%v, %s)", ok, q.Cache)
				}

				rep, err := x.e.Store.GC(context.Background(), storage.GCOptions{MaxSize: 1, OrphanAge: -1})
				if err != nil || len(rep.Evicted) != 1 {
					t.Fatalf("GC evicted %d artifacts (%v), want 1", len(rep.Evicted), err)
				}

				if q, ok := x.quick(); ok {
					t.Errorf("after eviction the quick path still answers, as %s", q.Cache)
				}
				if c := x.get(t, body); c != "MISS" {
					t.Errorf("after eviction GET: X-Larder-Cache %s, want MISS", c)
				}
				if n := x.f.count(tarballUpstream); n != 2 {
					t.Errorf("the upstream was asked %d times, want 2 (once before eviction, once after)", n)
				}
				if l := x.log.String(); strings.Contains(l, "missing blob") {
					t.Errorf("an evicted artifact was taken for a missing blob:\n%s", l)
				}
				if c := x.get(t, body); c != "HIT" {
					t.Errorf("fetched again, then GET: X-Larder-Cache %s, want HIT", c)
				}
				if q, ok := x.quick(); !ok || q.Cache != Hit {
					t.Errorf("fetched again, the quick path does not answer (%v, %s)", ok, q.Cache)
				}
				if memory {
					return
				}
				if _, ok := x.u.held.get(tarballPath); ok {
					t.Error("memory cache off, yet a row is kept in memory")
				}
				if _, ok := x.u.small.get(storage.DigestOf(body)); ok {
					t.Error("memory cache off, yet the bytes are kept in memory")
				}
				if n := x.e.Store.Blobs.(storage.SharedOpener).OpenFiles(); n != 0 {
					t.Errorf("memory cache off, yet %d blob files are kept open", n)
				}
				if n := x.f.count(tarballUpstream); n != 2 {
					t.Errorf("the upstream was asked %d times, want 2", n)
				}
			})
		}
	}
}
