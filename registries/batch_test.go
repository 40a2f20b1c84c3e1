package registries

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// batchingRecorder is a writer that can batch, and records whether it is
// batching.
type batchingRecorder struct {
	http.ResponseWriter
	holding *atomic.Bool
	batches *atomic.Int32
}

func (b batchingRecorder) Batch() (func(), bool) {
	b.batches.Add(1)
	b.holding.Store(true)
	return func() { b.holding.Store(false) }, true
}

func (b batchingRecorder) Flush() {
	if f, ok := b.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// A response wholly in hand is batched, flushed, and let go once written.
func TestCorkResponseBatchesAndReleases(t *testing.T) {
	var holding atomic.Bool
	var batches atomic.Int32
	rec := httptest.NewRecorder()
	w := batchingRecorder{rec, &holding, &batches}
	release := corkResponse(w, httptest.NewRequest("GET", "/", nil))
	if !holding.Load() {
		t.Error("not batching while the response is written")
	}
	release()
	if holding.Load() || !rec.Flushed || batches.Load() != 1 {
		t.Errorf("after release: batching %v, flushed %v, batches %d; want false, true, 1", holding.Load(), rec.Flushed, batches.Load())
	}
}

// A writer that cannot batch (HTTP/2, the fasthttp front, a recorder) is
// neither batched nor flushed: under the front a flush makes a response
// whole in hand a stream.
func TestCorkResponseWithoutABatchingWriter(t *testing.T) {
	w := httptest.NewRecorder()
	corkResponse(w, httptest.NewRequest("GET", "/", nil))()
	if w.Flushed {
		t.Error("flushed a response that was never batched")
	}
}

// A download still arriving from the upstream goes out as it comes:
// batched, its bytes would wait for a full segment or 200 ms.
func TestAStreamingDownloadIsNotBatched(t *testing.T) {
	x := newArtifactFixture(t, Options{})
	good := randomBytes(largeSize, 11)
	gate := make(chan struct{})
	x.f.handle(tarballUpstream, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(good[:len(good)/2])
		w.(http.Flusher).Flush()
		select {
		case <-gate:
			w.Write(good[len(good)/2:])
		case <-x.f.release:
		}
	}))
	x.announce(t, good)
	resp, err := x.srv.Client().Get(x.srv.URL + "/" + tarballPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	if x.holding.Load() {
		t.Error("the response is batched while the download streams")
	}
	close(gate)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(append(first, rest...), good) {
		t.Errorf("read %d bytes (%v), want the whole tarball", len(first)+len(rest), err)
	}
	// Served again, from the blob now held: batched. The client had every
	// byte once they were verified, maybe before the row was written.
	x.u.Settle(t.Context())
	if got := x.get(t, http.MethodGet, nil); !bytes.Equal(got.body, good) {
		t.Fatalf("the held tarball differs (%v)", got.readErr)
	}
	if x.batches.Load() == 0 {
		t.Error("a held tarball was not batched")
	}
}
