package registries

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage/storagetest"
)

// A cold artifact's verified bytes reach its clients while larder makes
// them durable and records them (issue 21: the client waits for the
// upstream, not for larder's fsync), and Close waits for that commit, so
// what a client received is held after a restart.
func TestVerifiedBytesGoOutBeforeTheCommitAndCloseWaitsForIt(t *testing.T) {
	for _, size := range []int{smallSize, largeSize} {
		x := newArtifactFixture(t, Options{})
		slow := storagetest.NewSlowCommits(x.e.Store.Blobs, 3*time.Second)
		x.e.Store.Blobs = slow
		body := randomBytes(size, 7)
		x.f.handle(tarballUpstream, bytesHandler(body))
		x.announce(t, body)

		for i := range 2 { // the second request joins the fill still committing
			got := x.get(t, http.MethodGet, nil)
			mustStatus(t, got, http.StatusOK)
			if !bytes.Equal(got.body, body) {
				t.Fatalf("%d bytes, request %d: got %d bytes that differ from the upstream's", size, i, len(got.body))
			}
		}
		if slow.Timed() {
			t.Fatalf("%d bytes: the clients were answered only once the commit was done", size)
		}
		if x.row(t).Cached() {
			t.Fatalf("%d bytes: the row was written while the commit was held", size)
		}
		closed := make(chan struct{})
		go func() { x.u.Close(); close(closed) }()
		select {
		case <-closed:
			t.Fatalf("%d bytes: Close returned with a verified artifact's commit under way", size)
		case <-time.After(100 * time.Millisecond):
		}
		slow.Release()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d bytes: Close still waiting after the commit was released", size)
		}
		x.assertStored(t, body)
		if n := x.f.count(tarballUpstream); n != 1 {
			t.Errorf("%d bytes: upstream received %d requests, want 1", size, n)
		}
	}
}

// A download that has not been verified when larder closes is stopped,
// and nothing of it is kept.
func TestCloseStopsADownloadUnderWay(t *testing.T) {
	x := newArtifactFixture(t, Options{})
	body := randomBytes(largeSize, 8)
	x.f.handle(tarballUpstream, x.f.stallingHandler(body))
	x.announce(t, body)
	go func() {
		if resp, err := x.srv.Client().Get(x.srv.URL + "/" + tarballPath); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	eventually(t, "the download to start", func() bool { return x.u.fillOf(tarballPath) != nil })
	within(t, "Close", func() struct{} { x.u.Close(); return struct{}{} })
	x.assertNothingStored(t)
}
