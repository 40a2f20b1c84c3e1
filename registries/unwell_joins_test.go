package registries

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// A redirect to a host larder may not fetch from is refused, and is no
// sign that the upstream is unwell: the upstream answered. Three at once
// must not mark it down.
func TestARefusedRedirectIsNotAFailureOfTheUpstream(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", http.RedirectHandler("http://cdn.example/left-pad", http.StatusFound))
	u := e.upstream(t, f.URL("/"), Options{FailuresToDown: 3})
	for range 3 {
		_, err := u.Document(context.Background(), DocRequest{Key: "left-pad", Variant: "full", URL: f.URL("/left-pad"),
			Prepare: func(b []byte, ct string) (Prepared, error) { return Prepared{Body: b, ContentType: ct}, nil }})
		if !errors.Is(err, errRedirectRefused) || StatusOf(err) != http.StatusBadGateway {
			t.Fatalf("Document = %v (status %d), want the redirect refused, a 502", err, StatusOf(err))
		}
	}
	if st := u.Health().State(); st.Status != StatusUp {
		t.Errorf("after three refused redirects the upstream is %s (%s), want up", st.Status, st.LastError)
	}
}

// A download already under way is joined by a second client even when the
// upstream has become suspect meanwhile: its bytes are arriving.
func TestADownloadUnderWayIsJoinedWhileTheUpstreamIsSuspect(t *testing.T) {
	t.Parallel()
	x := newArtifactFixture(t, Options{ProbeInterval: time.Hour})
	body := randomBytes(largeSize, 81)
	release := make(chan struct{})
	x.f.handle("/", statusHandler(http.StatusInternalServerError)) // the probe fails
	x.f.handle(tarballUpstream, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		<-release
		w.Write(body[len(body)/2:])
	}))
	x.announce(t, body)
	first := make(chan fetched, 1)
	go func() { first <- x.get(t, http.MethodGet, nil) }()
	eventually(t, "the download starts", func() bool { return x.u.fillOf(tarballPath) != nil })
	x.u.Health().Failure(errors.New("connection reset by peer")) // another request failed
	second := make(chan fetched, 1)
	go func() { second <- x.get(t, http.MethodGet, nil) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	for _, c := range []chan fetched{first, second} {
		got := <-c
		mustStatus(t, got, http.StatusOK)
		if !bytes.Equal(got.body, body) {
			t.Error("a client got other bytes")
		}
	}
	if n := x.f.count(tarballUpstream); n != 1 {
		t.Errorf("the upstream was asked %d times for the tarball, want once", n)
	}
}

// A held blob cut short on disk is never answered as the file: it is set
// aside and the artifact fetched again.
func TestABlobCutShortOnDiskIsFetchedAgainNotServed(t *testing.T) {
	t.Parallel()
	x := newArtifactFixture(t, Options{})
	body := randomBytes(smallSize, 91)
	x.f.handle(tarballUpstream, bytesHandler(body))
	x.announce(t, body)
	mustStatus(t, x.get(t, http.MethodGet, nil), http.StatusOK)
	waitFillsDone(t, x.u)
	d := string(storage.DigestOf(body))
	path := filepath.Join(x.e.Store.Dir, "blobs", "sha256", d[:2], d)
	if err := os.Truncate(path, 1000); err != nil {
		t.Fatal(err)
	}
	x.u.small.drop(storage.DigestOf(body)) // as after a restart: nothing of it in memory
	got := x.get(t, http.MethodGet, nil)
	mustStatus(t, got, http.StatusOK)
	if !bytes.Equal(got.body, body) {
		t.Fatalf("served %d bytes, want the %d of the file", len(got.body), len(body))
	}
	if n := x.f.count(tarballUpstream); n != 2 {
		t.Errorf("the upstream was asked %d times, want twice (once more for the cut blob)", n)
	}
	waitFillsDone(t, x.u)
	x.assertStored(t, body)
}
