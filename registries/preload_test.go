package registries

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

func TestPreloadKeepsAnAnnouncedArtifactOnceForTheNextClient(t *testing.T) {
	x := newArtifactFixture(t, Options{})
	body := randomBytes(smallSize, 7)
	x.f.handle(tarballUpstream, bytesHandler(body))
	ctx := context.Background()

	if err := x.u.Preload(ctx, tarballPath); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Preload of an artifact no document announces = %v, want ErrNotFound", err)
	}
	x.announce(t, body)
	for range 2 {
		if err := x.u.Preload(ctx, tarballPath); err != nil {
			t.Fatalf("Preload = %v", err)
		}
		waitFillsDone(t, x.u)
	}
	if n := x.f.count(tarballUpstream); n != 1 {
		t.Errorf("the upstream was asked %d times, want 1", n)
	}
	if !x.row(t).Cached() {
		t.Fatal("the artifact preloaded is not held")
	}
	got := x.get(t, http.MethodGet, nil)
	if got.resp.StatusCode != http.StatusOK || got.resp.Header.Get("X-Larder-Cache") != "HIT" || !bytes.Equal(got.body, body) {
		t.Errorf("the next client: %d, X-Larder-Cache %q, %d bytes", got.resp.StatusCode, got.resp.Header.Get("X-Larder-Cache"), len(got.body))
	}
}

func TestPreloadOfBytesTheDocumentDoesNotDeclareKeepsNothing(t *testing.T) {
	x := newArtifactFixture(t, Options{})
	x.f.handle(tarballUpstream, bytesHandler(randomBytes(smallSize, 8)))
	x.announce(t, randomBytes(smallSize, 9))
	if err := x.u.Preload(context.Background(), tarballPath); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Preload = %v, want ErrIntegrity", err)
	}
	waitFillsDone(t, x.u)
	if x.row(t).Cached() {
		t.Error("bytes that fail their check were kept")
	}
	x.e.assertNothingStored(t)
}

func TestPreloadAsksNothingOfAnUpstreamLarderMayNotAsk(t *testing.T) {
	x := newArtifactFixture(t, Options{Offline: true})
	body := randomBytes(smallSize, 10)
	x.f.handle(tarballUpstream, bytesHandler(body))
	x.announce(t, body)
	if err := x.u.Preload(context.Background(), tarballPath); err != nil {
		t.Fatalf("Preload while offline = %v, want nothing done", err)
	}
	if n := x.f.count(tarballUpstream); n != 0 {
		t.Errorf("the upstream was asked %d times while offline", n)
	}
}
