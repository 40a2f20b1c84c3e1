package registries

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

// syncBuffer is a log destination a test reads while handlers write to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func sri256(b []byte) Integrity {
	s := sha256.Sum256(b)
	return SRIFromHex("sha256", hex.EncodeToString(s[:]))
}

func sri512(b []byte) Integrity {
	s := sha512.Sum512(b)
	return SRIFromHex("sha512", hex.EncodeToString(s[:]))
}

// unverifiedFixture holds the tarball, stored under a declaration that
// gave larder nothing to check, and records what larder logged.
func unverifiedFixture(t *testing.T, declared string, body []byte) (*artifactFixture, *syncBuffer) {
	t.Helper()
	x := newArtifactFixture(t, Options{})
	logs := &syncBuffer{}
	x.u.log = slog.New(slog.NewTextHandler(logs, nil)).With("registry", testRegistry)
	x.f.handle(tarballUpstream, bytesHandler(body))
	if err := x.e.Store.DB.AnnounceArtifacts(context.Background(), testRegistry, []storage.Artifact{{
		Path: tarballPath, Package: "left-pad", Version: "1.0.0",
		UpstreamURL: x.f.URL(tarballUpstream), Integrity: declared,
	}}); err != nil {
		t.Fatal(err)
	}
	got := x.get(t, http.MethodGet, nil)
	mustStatus(t, got, http.StatusOK)
	if !bytes.Equal(got.body, body) {
		t.Fatal("the first download served other bytes")
	}
	waitFillsDone(t, x.u)
	return x, logs
}

func (x *artifactFixture) pins(t *testing.T, offered Integrity) map[string]string {
	t.Helper()
	changed, err := x.u.Pins(context.Background(), "left-pad", []storage.Artifact{{
		Path: tarballPath, Package: "left-pad", Version: "1.0.0",
		UpstreamURL: x.f.URL(tarballUpstream), Integrity: string(offered),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

func (x *artifactFixture) conflicts(t *testing.T) []storage.PinConflict {
	t.Helper()
	cs, err := x.e.Store.DB.PinConflicts(context.Background(), testRegistry, "left-pad")
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// An artifact whose document declares no digest larder can check is pinned
// to the sha256 of the bytes first seen, and a later declaration is held
// against that pin as against any other.
func TestAnArtifactWithNothingToCheckIsPinnedAtFirstSight(t *testing.T) {
	t.Parallel()
	body := randomBytes(smallSize, 61)
	other := append(bytes.Clone(body), 0)
	for _, declared := range []struct{ name, integrity string }{
		{"no declaration", ""},
		{"only an unknown algorithm", "sha3-" + strings.Repeat("A", 86) + "=="},
	} {
		t.Run(declared.name, func(t *testing.T) {
			t.Parallel()
			x, logs := unverifiedFixture(t, declared.integrity, body)
			pin := sri256(body)
			if got := x.row(t).Integrity; got != string(pin) {
				t.Fatalf("the row pins %q, want the sha256 of the bytes first seen, %q", got, pin)
			}
			if n := strings.Count(logs.String(), "stored unverified"); n != 1 {
				t.Errorf("logged %d times that the artifact was stored unverified, want once:\n%s", n, logs)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "pin-first-seen") {
				t.Errorf("the policy is not named in a warning:\n%s", logs)
			}

			// Served again: a HIT is not a new first sight.
			mustStatus(t, x.get(t, http.MethodGet, nil), http.StatusOK)
			if n := strings.Count(logs.String(), "stored unverified"); n != 1 {
				t.Errorf("a HIT logged the first sight again (%d times)", n)
			}

			// The upstream keeps declaring nothing: no conflict, and the
			// documents larder serves name the pin.
			if changed := x.pins(t, Integrity(declared.integrity)); changed[tarballPath] != string(pin) {
				t.Errorf("a document declaring nothing is served with %q, want the pin %q", changed[tarballPath], pin)
			}
			if cs := x.conflicts(t); len(cs) != 0 {
				t.Errorf("declaring nothing was recorded as a conflict: %+v", cs)
			}

			// The upstream now declares other bytes: refused, logged,
			// counted, and the documents carry the pin.
			if changed := x.pins(t, sri512(other)); changed[tarballPath] != string(pin) {
				t.Errorf("a declaration of other bytes is served with %q, want the pin %q", changed[tarballPath], pin)
			}
			if v := x.e.metricValue(t, "larder_pin_conflicts_total", "registry", testRegistry); v != 1 {
				t.Errorf("larder_pin_conflicts_total = %v, want 1", v)
			}
			if cs := x.conflicts(t); len(cs) != 1 || cs[0].Pinned != string(pin) || cs[0].Offered != string(sri512(other)) {
				t.Errorf("recorded conflicts %+v, want one of %s against the pin", cs, sri512(other))
			}
			if !strings.Contains(logs.String(), "UPSTREAM CHANGED THE BYTES") {
				t.Errorf("the conflict was not logged:\n%s", logs)
			}

			// The upstream declares the bytes larder holds, in an algorithm
			// the pin did not name: no conflict, and the pin learns it.
			if changed := x.pins(t, sri512(body)); len(changed) != 0 {
				t.Errorf("a true declaration was taken for a change: %v", changed)
			}
			if v := x.e.metricValue(t, "larder_pin_conflicts_total", "registry", testRegistry); v != 1 {
				t.Errorf("a true declaration was counted as a conflict (%v)", v)
			}
			if got := Integrity(x.row(t).Integrity); got.HexDigest("sha256") == "" || got.HexDigest("sha512") == "" {
				t.Errorf("the pin %q did not learn the verified sha512", got)
			}
			// Once learnt, the sha512 of other bytes conflicts without the
			// blob being read again.
			if changed := x.pins(t, sri512(other)); changed[tarballPath] == "" {
				t.Errorf("a declaration of other bytes after the pin learnt sha512 was let through")
			}
		})
	}
}

// A pin whose algorithms an offer does not share is checked against the
// bytes larder holds, not taken for a change: npm's sha1-only packuments
// gained sha512 integrity for the same tarballs.
func TestAnOfferInAnotherAlgorithmIsCheckedAgainstTheHeldBytes(t *testing.T) {
	t.Parallel()
	body := randomBytes(smallSize, 62)
	x := newArtifactFixture(t, Options{})
	x.f.handle(tarballUpstream, bytesHandler(body))
	s1 := Integrity(integrityOf(body)).Without("sha512")
	if err := x.e.Store.DB.AnnounceArtifacts(context.Background(), testRegistry, []storage.Artifact{{
		Path: tarballPath, Package: "left-pad", Version: "1.0.0", UpstreamURL: x.f.URL(tarballUpstream), Integrity: string(s1),
	}}); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, x.get(t, http.MethodGet, nil), http.StatusOK)
	waitFillsDone(t, x.u)
	if got := x.row(t).Integrity; got != string(s1) {
		t.Fatalf("a verified artifact's pin became %q, want what was declared, %q", got, s1)
	}
	if changed := x.pins(t, sri512(body)); len(changed) != 0 {
		t.Errorf("sha512 of the held bytes was taken for a change: %v", changed)
	}
	learnt := s1.Join(sri512(body))
	if got := x.row(t).Integrity; got != string(learnt) {
		t.Errorf("the pin is %q after a true sha512, want %q", got, learnt)
	}
	if changed := x.pins(t, sri512(append(bytes.Clone(body), 1))); changed[tarballPath] != string(learnt) {
		t.Errorf("sha512 of other bytes: changed = %v, want the pin %s", changed, learnt)
	}
}
