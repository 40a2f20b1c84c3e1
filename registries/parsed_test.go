package registries

import (
	"context"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

// A document loaded ahead of a fill keeps its entries on offer until it is
// stored, and only then; one loaded for any other reason offers them only
// to the fills already waiting.
func TestEntriesOfADocumentLoadedAheadStayOnOfferUntilItIsStored(t *testing.T) {
	u := newTestEnv(t).upstream(t, "http://127.0.0.1:9/", Options{})
	arts := []storage.Artifact{{Path: "leaf/-/leaf-1.0.0.tgz", Integrity: "sha512-one"}, {Path: "leaf/-/leaf-2.0.0.tgz", Integrity: "sha512-two"}}
	onOffer := func() int {
		u.fills.mu.Lock()
		defer u.fills.mu.Unlock()
		return len(u.fills.parsed)
	}

	u.offerPrepared(context.Background(), arts)()
	if n := onOffer(); n != 0 {
		t.Errorf("%d entries on offer from a document no fill loaded", n)
	}

	ahead := context.WithValue(context.Background(), loadedAheadKey{}, true)
	stored := u.offerPrepared(ahead, arts)
	if n := onOffer(); n != 2 {
		t.Fatalf("%d entries on offer while the document loaded ahead commits, want 2", n)
	}
	// A later document's entry for a path outlives the earlier one's.
	laterStored := u.offerPrepared(ahead, arts[1:])
	stored()
	u.fills.mu.Lock()
	e := u.fills.parsed[arts[1].Path]
	u.fills.mu.Unlock()
	if n := onOffer(); n != 1 || e == nil || e.art.Integrity != "sha512-two" {
		t.Fatalf("after the first document was stored: %d entries on offer, %+v, want the later one's", n, e)
	}
	laterStored()
	if n := onOffer(); n != 0 {
		t.Errorf("%d entries still on offer after every document was stored", n)
	}
}
