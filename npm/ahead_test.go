package npm

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/storage/storagetest"
)

// gatedRegistry is npmtest behind a relay that holds every packument until
// a tarball request has arrived (or a few seconds have passed), and counts
// what it relays.
type gatedRegistry struct {
	*npmtest.Server
	relay       *httptest.Server
	tarballSeen chan struct{}
	seen        atomic.Bool
	held        atomic.Int64 // packuments that waited for a tarball request
}

func newGatedRegistry(t *testing.T) *gatedRegistry {
	g := &gatedRegistry{Server: npmtest.New(), tarballSeen: make(chan struct{})}
	t.Cleanup(g.Server.Close)
	target, _ := url.Parse(g.Server.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	g.relay = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/-/") {
			if g.seen.CompareAndSwap(false, true) {
				close(g.tarballSeen)
			}
		} else {
			select {
			case <-g.tarballSeen:
				g.held.Add(1)
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.relay.Close)
	g.SetTarballBase(g.relay.URL)
	return g
}

func TestAColdTarballIsFetchedBesideItsPackument(t *testing.T) {
	t.Parallel()
	up := newGatedRegistry(t)
	up.Publish("leaf", "1.0.0", nil)
	m := newPinMirrorAt(t, up.relay.URL+"/")
	want := npmtest.Tarball("leaf", "1.0.0", nil)

	start := time.Now()
	got := m.get(t, "/npm/leaf/-/leaf-1.0.0.tgz", "") // npm ci from a lockfile, cold
	if !bytes.Equal(got, want) {
		t.Fatal("other bytes than the registry's")
	}
	if up.held.Load() != 1 {
		t.Errorf("the packument was answered before the tarball was asked for (took %s): the two were fetched one after the other", time.Since(start))
	}
	m.waitHeld(t, "leaf/-/leaf-1.0.0.tgz")
	if n := up.Count("GET", "/leaf/-/leaf-1.0.0.tgz"); n != 1 {
		t.Errorf("the tarball was fetched %d times, want once", n)
	}
}

func TestATarballFetchedAheadThatFailsItsDigestIsNotKept(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1 << 10, 3 << 20} { // verified before the status line; streamed
		up := newGatedRegistry(t)
		up.Publish("leaf", "1.0.0", nil)
		if size > 1<<10 {
			up.PublishTarball("leaf", "1.0.0", bytes.Repeat([]byte{7}, size), nil)
		}
		up.SetMode(npmtest.ModeBadIntegrity)
		m := newPinMirrorAt(t, up.relay.URL+"/")
		resp, err := http.Get(m.srv.URL + "/npm/leaf/-/leaf-1.0.0.tgz")
		if err == nil {
			_, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && rerr == nil {
				t.Errorf("%d bytes: bytes that fail the packument's digest answered a clean 200", size)
			}
		}
		time.Sleep(100 * time.Millisecond) // the fill ends after the client's answer
		if a, err := m.store.DB.Artifact(context.Background(), "npm", "leaf/-/leaf-1.0.0.tgz"); err == nil && a.Cached() {
			t.Errorf("%d bytes: stored although they fail the digest", size)
		}
	}
}

func TestATarballItsPackumentDoesNotAnnounceIsA404AndNothingIsKept(t *testing.T) {
	t.Parallel()
	up := newGatedRegistry(t)
	up.Publish("leaf", "1.0.0", nil)
	m := newPinMirrorAt(t, up.relay.URL+"/")
	resp, err := http.Get(m.srv.URL + "/npm/leaf/-/leaf-9.9.9.tgz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
	if _, err := m.store.DB.Artifact(context.Background(), "npm", "leaf/-/leaf-9.9.9.tgz"); err == nil {
		t.Error("a row for a tarball no packument announces")
	}
}

// A cold tarball is answered once its bytes pass the packument's digest,
// without waiting for larder to store the packument or the tarball: a
// slow disk costs the client nothing on a cold install (issue 21).
func TestAColdTarballIsAnsweredBeforeItAndItsPackumentAreStored(t *testing.T) {
	t.Parallel()
	up := newGatedRegistry(t)
	up.Publish("leaf", "1.0.0", nil)
	m := newPinMirrorAt(t, up.relay.URL+"/")
	slow := storagetest.NewSlowCommits(m.store.Blobs, 3*time.Second)
	m.store.Blobs = slow
	got := m.get(t, "/npm/leaf/-/leaf-1.0.0.tgz", "")
	if !bytes.Equal(got, npmtest.Tarball("leaf", "1.0.0", nil)) {
		t.Fatal("other bytes than the registry's")
	}
	if slow.Timed() {
		t.Fatal("the client was answered only once larder's disk had stored what it fetched")
	}
	slow.Release()
	m.waitHeld(t, "leaf/-/leaf-1.0.0.tgz")
}

// Another version of a package, asked for while the packument loaded for
// the first is still being stored, is checked against that packument at
// once: its client does not wait for the commit, which waits for company
// in a cold install (up to a quarter second) and here for a lock another
// writer holds.
func TestAnotherVersionAskedWhileThePackumentLoadedAheadCommitsIsNotHeldBack(t *testing.T) {
	t.Parallel()
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	up.Publish("leaf", "2.0.0", nil)
	dir := t.TempDir()
	m := newPinMirrorIn(t, up.URL, dir)
	release := storagetest.HoldWrites(t, filepath.Join(dir, "larder.db"))
	// Answered once its bytes pass the packument's digest; the packument's
	// row waits for the lock.
	if got := m.get(t, "/npm/leaf/-/leaf-1.0.0.tgz", ""); !bytes.Equal(got, npmtest.Tarball("leaf", "1.0.0", nil)) {
		t.Fatal("1.0.0: other bytes than the registry's")
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(m.srv.URL + "/npm/leaf/-/leaf-2.0.0.tgz")
	if err != nil {
		release()
		t.Fatalf("2.0.0 while the packument loaded for 1.0.0 commits: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	release()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, npmtest.Tarball("leaf", "2.0.0", nil)) {
		t.Fatalf("2.0.0: status %d, %v, %d bytes", resp.StatusCode, err, len(got))
	}
	m.waitHeld(t, "leaf/-/leaf-2.0.0.tgz")
	if n := up.Count("GET", "/leaf"); n != 1 {
		t.Errorf("the packument was fetched %d times, want once", n)
	}
}
