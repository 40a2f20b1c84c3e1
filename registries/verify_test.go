package registries

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// sideFileVerifier is a hook of the kind Maven needs: the digest comes from
// somewhere else than the row's declaration.
type sideFileVerifier struct {
	h    hash.Hash
	want []byte
}

func (v *sideFileVerifier) Write(p []byte) (int, error) { return v.h.Write(p) }
func (v *sideFileVerifier) Unchecked() bool             { return false }
func (v *sideFileVerifier) Check() error {
	if got := v.h.Sum(nil); !bytes.Equal(got, v.want) {
		return fmt.Errorf("%w: the side file says %x, the bytes are %x", ErrIntegrity, v.want, got)
	}
	return nil
}

func TestDownloadsAreCheckedByTheEcosystemsHook(t *testing.T) {
	t.Parallel()
	body := randomBytes(smallSize, 71)
	for _, tt := range []struct {
		name   string
		side   []byte // what the hook expects the bytes to hash to
		status int
	}{
		{"the hook agrees", body, http.StatusOK},
		{"the hook disagrees", append(bytes.Clone(body), 1), http.StatusBadGateway},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sum := sha256.Sum256(tt.side)
			var asked []string
			x := newArtifactFixture(t, Options{Verify: func(_ context.Context, a storage.Artifact) (Verifier, error) {
				asked = append(asked, a.Path)
				return &sideFileVerifier{h: sha256.New(), want: sum[:]}, nil
			}})
			x.f.handle(tarballUpstream, bytesHandler(body))
			x.announce(t, body) // the row's own declaration is right either way
			got := x.get(t, http.MethodGet, nil)
			if got.resp == nil || got.resp.StatusCode != tt.status {
				t.Fatalf("got %+v, want %d", got.resp, tt.status)
			}
			if len(asked) != 1 || asked[0] != tarballPath {
				t.Errorf("the hook was asked for %q, want once for %s", asked, tarballPath)
			}
			if tt.status == http.StatusOK {
				x.assertStored(t, body)
			} else {
				x.assertNothingStored(t)
			}
		})
	}
}

func TestAHookThatFailsRefusesTheDownload(t *testing.T) {
	t.Parallel()
	x := newArtifactFixture(t, Options{Verify: func(context.Context, storage.Artifact) (Verifier, error) {
		return nil, fmt.Errorf("%w: the checksum database does not know this version", ErrIntegrity)
	}})
	body := randomBytes(100, 72)
	x.f.handle(tarballUpstream, bytesHandler(body))
	x.announce(t, body)
	got := x.get(t, http.MethodGet, nil)
	if got.resp == nil || got.resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("got %+v, want 502", got.resp)
	}
	if n := x.f.count(tarballUpstream); n != 0 {
		t.Errorf("the upstream was asked %d times for bytes nothing could check", n)
	}
	x.assertNothingStored(t)
}

func TestARegistryThatRefusesTheUnverifiableStoresNothing(t *testing.T) {
	t.Parallel()
	x := newArtifactFixture(t, Options{Unverifiable: RefuseUnverifiable})
	body := randomBytes(100, 73)
	x.f.handle(tarballUpstream, bytesHandler(body))
	if err := x.e.Store.DB.AnnounceArtifacts(context.Background(), testRegistry, []storage.Artifact{{
		Path: tarballPath, Package: "left-pad", Version: "1.0.0", UpstreamURL: x.f.URL(tarballUpstream),
	}}); err != nil {
		t.Fatal(err)
	}
	got := x.get(t, http.MethodGet, nil)
	if got.resp == nil || got.resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("got %+v, want 502", got.resp)
	}
	if !strings.Contains(string(got.body), "no digest") {
		t.Errorf("the answer %q does not say why", got.body)
	}
	errs := x.serveErrors()
	if len(errs) != 1 || !errors.Is(errs[0], ErrIntegrity) || !strings.Contains(errs[0].Error(), RefuseUnverifiable) {
		t.Errorf("errors %v, want one integrity error naming the policy", errs)
	}
	if n := x.f.count(tarballUpstream); n != 0 {
		t.Errorf("the upstream was asked %d times", n)
	}
	x.assertNothingStored(t)
}

// closingVerifier counts its Close calls.
type closingVerifier struct {
	sideFileVerifier
	closed *atomic.Int32
}

func (v *closingVerifier) Close() error { v.closed.Add(1); return nil }

func TestAVerifierThatHoldsResourcesIsClosedHoweverTheDownloadEnds(t *testing.T) {
	t.Parallel()
	body := randomBytes(smallSize, 74)
	sum := sha256.Sum256(body)
	for _, tt := range []struct {
		name    string
		handler http.Handler
	}{
		{"stored", bytesHandler(body)},
		{"cut short, before Check", truncatedHandler(body)},
		{"the upstream fails", statusHandler(http.StatusInternalServerError)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var closed atomic.Int32
			x := newArtifactFixture(t, Options{Verify: func(context.Context, storage.Artifact) (Verifier, error) {
				return &closingVerifier{sideFileVerifier{h: sha256.New(), want: sum[:]}, &closed}, nil
			}})
			x.f.handle(tarballUpstream, tt.handler)
			x.announce(t, body)
			x.get(t, http.MethodGet, nil)
			deadline := time.Now().Add(5 * time.Second)
			for closed.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if n := closed.Load(); n != 1 {
				t.Errorf("the verifier was closed %d times, want once", n)
			}
		})
	}
}
