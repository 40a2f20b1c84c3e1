package registries

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

// sideFileRegistry serves files /f/{name} whose digest a side file beside
// them upstream ({name}.sha256) declares, as Maven's checksum files do: an
// artifact announced by side files (AnnounceUnheld), that remembers what the
// upstream does not have (Missing). /doc is a document whose view says
// whether it ran on the quick path.
type sideFileRegistry struct {
	oneDocRegistry
	fake    *fakeUpstream
	missing counter
	quick   chan bool
}

func (g *sideFileRegistry) Resolve(r Request) (Target, error) {
	if r.Path == "/doc" {
		return Target{Document: &DocumentTarget{Key: "doc", Variant: "v",
			View: func(ctx context.Context) (*Rendered, CacheStatus, []HeaderLine, error) {
				g.quick <- OnQuickPath(ctx)
				return NewRendered([]byte("doc"), "text/plain"), Hit, nil, nil
			}}}, nil
	}
	name, ok := strings.CutPrefix(r.Path, "/f/")
	if !ok {
		return Target{}, ErrOwnRoute
	}
	return Target{Artifact: &ArtifactTarget{
		Path: name, Package: "p", Upstream: g.fake.URL("/" + name), AnnounceUnheld: true,
		Announce: func(ctx context.Context) error {
			a := storage.Artifact{Registry: testRegistry, Path: name, Package: "p", UpstreamURL: g.fake.URL("/" + name)}
			resp, err := http.Get(g.fake.URL("/" + name + ".sha256"))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				sum, _ := io.ReadAll(resp.Body)
				a.Integrity = string(SRIFromHex("sha256", string(sum)))
			}
			return g.up.Store().DB.AnnounceArtifacts(ctx, testRegistry, []storage.Artifact{a})
		},
		Missing: func() { g.missing.inc() },
	}}, nil
}

func newSideFileRegistry(t *testing.T) (*sideFileRegistry, *Mounted) {
	e := newTestEnv(t)
	fake := newFakeUpstream(t)
	g := &sideFileRegistry{fake: fake, quick: make(chan bool, 1)}
	g.up = e.upstream(t, fake.URL("/"), Options{})
	return g, Mount(g)
}

func TestAMissingArtifactIsToldToItsEcosystemAndAFailingUpstreamIsNot(t *testing.T) {
	t.Parallel()
	g, m := newSideFileRegistry(t)
	req := func(path string) int {
		w := httptest.NewRecorder()
		m.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code
	}
	if code := req("/f/gone"); code != http.StatusNotFound || g.missing.get() != 1 {
		t.Fatalf("a file the upstream does not have: %d, Missing told %d times; want 404, once", code, g.missing.get())
	}
	g.fake.handle("/broken", statusHandler(http.StatusInternalServerError))
	if code := req("/f/broken"); code != http.StatusBadGateway || g.missing.get() != 1 {
		t.Fatalf("a file the upstream fails on: %d, Missing told %d times; want 502, not told", code, g.missing.get())
	}
}

func TestAnArtifactAnnouncedBySideFilesIsAnnouncedAgainUntilHeld(t *testing.T) {
	t.Parallel()
	g, m := newSideFileRegistry(t)
	req := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		m.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	if w := req("/f/late"); w.Code != http.StatusNotFound {
		t.Fatalf("before it is published: %d", w.Code)
	}
	// Published since, with a side file that does not match: the row the
	// first request left (no digest) is announced again, and the bytes are
	// checked against the side file.
	body := []byte("the file")
	g.fake.handle("/late", bytesHandler(body))
	g.fake.handle("/late.sha256", bytesHandler([]byte(strings.Repeat("0", 64))))
	if w := req("/f/late"); w.Code == http.StatusOK {
		t.Fatalf("a file whose side file declares another digest: 200")
	}
	sum := sha256.Sum256(body)
	g.fake.handle("/late.sha256", bytesHandler([]byte(hex.EncodeToString(sum[:]))))
	if w := req("/f/late"); w.Code != http.StatusOK || w.Body.String() != string(body) {
		t.Fatalf("once its side file matches: %d %q", w.Code, w.Body)
	}
	g.up.Settle(context.Background())
	row, err := g.up.Store().DB.Artifact(context.Background(), testRegistry, "late")
	if err != nil || !row.Cached() || row.Integrity != string(SRIFromHex("sha256", hex.EncodeToString(sum[:]))) {
		t.Fatalf("the row: %+v, %v", row, err)
	}
}

func TestAViewKnowsWhetherItRunsOnTheQuickPath(t *testing.T) {
	t.Parallel()
	g, m := newSideFileRegistry(t)
	ctx := context.Background()
	doc := storage.NewDocument{Doc: storage.Document{Registry: testRegistry, Key: "doc", Variant: "v", FetchedAt: g.up.Now()}}
	if _, err := g.up.Store().KeepDocument(ctx, doc, []byte("doc")); err != nil {
		t.Fatal(err)
	}
	if _, err := g.up.Cached(ctx, "doc", "v"); err != nil { // read once, as a fetch leaves it
		t.Fatal(err)
	}
	if _, ok := m.Quick(Request{Path: "/doc", Host: "larder.test"}); !ok {
		t.Fatal("the quick path declined a fresh document")
	}
	if !<-g.quick {
		t.Error("on the quick path, OnQuickPath is false")
	}
	w := httptest.NewRecorder()
	m.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/doc", nil))
	if <-g.quick {
		t.Error("in the handler, OnQuickPath is true")
	}
}
