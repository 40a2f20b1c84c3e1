package npm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// pinMirror is larder's npm registry on a fresh data folder, reading from a
// fake registry and revalidating every packument on every request.
type pinMirror struct {
	up    *registries.Upstream
	store *storage.Store
	srv   *httptest.Server
	reg   *prometheus.Registry
}

func newPinMirror(t *testing.T, upstream *npmtest.Server) *pinMirror {
	t.Helper()
	return newPinMirrorAt(t, upstream.URL)
}

// newPinMirrorAt is newPinMirror for an upstream at baseURL.
func newPinMirrorAt(t *testing.T, baseURL string) *pinMirror {
	t.Helper()
	return newPinMirrorIn(t, baseURL, t.TempDir())
}

// newPinMirrorIn is newPinMirrorAt with its data folder in dir.
func newPinMirrorIn(t *testing.T, baseURL, dir string) *pinMirror {
	t.Helper()
	store, err := storage.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.DiscardHandler)
	hits := registries.NewHitRecorder(store.DB, log, time.Hour)
	t.Cleanup(hits.Close)
	preg := prometheus.NewRegistry()
	env := registries.Env{Store: store, Metrics: registries.NewMetrics(preg), Renders: registries.NewRenderCache(0), Hits: hits, Log: log}
	base, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	up := registries.NewUpstream(env, registries.Options{
		Name: "npm", Upstream: base,
		MetadataTTL: time.Nanosecond, StaleWait: 30 * time.Second,
		ConnectTimeout: 5 * time.Second, ResponseTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second,
		ProbeInterval: 50 * time.Millisecond,
	})
	t.Cleanup(up.Close)
	mux := http.NewServeMux()
	mux.Handle("/npm/", http.StripPrefix("/npm", registries.Mount(New(up, ""))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &pinMirror{up: up, store: store, srv: srv, reg: preg}
}

func (m *pinMirror) get(t *testing.T, path, accept string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, m.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", path, resp.StatusCode, err, body)
	}
	return body
}

func (m *pinMirror) waitHeld(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := m.store.DB.Artifact(context.Background(), "npm", path)
		if err == nil && a.Cached() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("larder never held %s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (m *pinMirror) conflicts(t *testing.T) float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "larder_pin_conflicts_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

type servedDist struct {
	Integrity *string `json:"integrity"`
	Shasum    *string `json:"shasum"`
}

func distOf(t *testing.T, doc []byte, version string) servedDist {
	t.Helper()
	var p struct {
		Versions map[string]struct {
			Dist servedDist `json:"dist"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return p.Versions[version].Dist
}

func str(p *string) string {
	if p == nil {
		return "(absent)"
	}
	return *p
}

func sriOf(algo string, sum []byte) string {
	return algo + "-" + base64.StdEncoding.EncodeToString(sum)
}

// A version whose packument declared no digest larder can check is pinned
// to the bytes larder first stored: when the registry later declares other
// bytes, both packuments name the pinned sha256 and nothing names the other
// bytes, so npm checks what larder serves.
func TestAVersionFirstSeenWithoutADigestKeepsItsPin(t *testing.T) {
	t.Parallel()
	for _, declared := range []struct{ name, integrity string }{
		{"no integrity and no shasum", ""},
		{"only an unknown algorithm", "sha3-" + strings.Repeat("A", 86) + "=="},
	} {
		t.Run(declared.name, func(t *testing.T) {
			t.Parallel()
			up := npmtest.New()
			defer up.Close()
			up.Publish("leaf", "1.0.0", nil)
			up.SetDigests("leaf", "1.0.0", declared.integrity, "")
			original := npmtest.Tarball("leaf", "1.0.0", nil)
			m := newPinMirror(t, up)

			if d := distOf(t, m.get(t, "/npm/leaf", ""), "1.0.0"); d.Shasum != nil || str(d.Integrity) != str(nonEmpty(declared.integrity)) {
				t.Fatalf("before anything is held, dist is %s / %s, want the registry's", str(d.Integrity), str(d.Shasum))
			}
			tgz := "leaf/-/leaf-1.0.0.tgz"
			if got := m.get(t, "/npm/"+tgz, ""); !bytes.Equal(got, original) {
				t.Fatal("the first download served other bytes")
			}
			m.waitHeld(t, tgz)

			other := append(bytes.Clone(original), 0)
			up.PublishTarball("leaf", "1.0.0", other, nil)
			s256 := sha256.Sum256(original)
			pin := sriOf("sha256", s256[:])
			for _, accept := range []string{"", mediaAbbreviated} {
				d := distOf(t, m.get(t, "/npm/leaf", accept), "1.0.0")
				if str(d.Integrity) != pin {
					t.Errorf("Accept %q: dist.integrity %s, want the pin %s", accept, str(d.Integrity), pin)
				}
				if d.Shasum != nil {
					s1 := sha1.Sum(original)
					if *d.Shasum != hex.EncodeToString(s1[:]) {
						t.Errorf("Accept %q: dist.shasum %s names other bytes than the pinned ones", accept, *d.Shasum)
					}
				}
			}
			var version struct {
				Dist servedDist `json:"dist"`
			}
			if err := json.Unmarshal(m.get(t, "/npm/leaf/1.0.0", ""), &version); err != nil || str(version.Dist.Integrity) != pin {
				t.Errorf("the version document's dist.integrity is %s (%v), want the pin %s", str(version.Dist.Integrity), err, pin)
			}
			if m.conflicts(t) < 1 {
				t.Error("larder_pin_conflicts_total did not count the conflict")
			}
			if got := m.get(t, "/npm/"+tgz, ""); !bytes.Equal(got, original) {
				t.Error("the pinned tarball was replaced")
			}
		})
	}
}

// A pin that an upstream's later document names in other algorithms, for
// other bytes, must not survive beside them in the document: npm checks the
// integrity field, older clients the shasum.
func TestPinIntegrityLeavesNoDigestOfOtherBytes(t *testing.T) {
	t.Parallel()
	held := []byte("held bytes")
	s256 := sha256.Sum256(held)
	s512 := sha512.Sum512(held)
	s1 := sha1.Sum(held)
	pin256 := sriOf("sha256", s256[:])
	pin1 := sriOf("sha1", s1[:])
	pin512 := sriOf("sha512", s512[:])
	doc := `{"name":"x","versions":{"1.0.0":{"dist":{"integrity":"sha512-b3RoZXI=","shasum":"0123","tarball":"http://r/x/-/x-1.0.0.tgz"}},` +
		`"2.0.0":{"dist":{"shasum":"4567","tarball":"http://r/x/-/x-2.0.0.tgz"}},` +
		`"3.0.0":{"dist":{"integrity":"sha512-b3RoZXI=","tarball":"http://r/x/-/x-3.0.0.tgz"}},` +
		`"4.0.0":{"dist":{"integrity":"sha512-b3RoZXI=","shasum":"89ab","tarball":"http://r/x/-/x-4.0.0.tgz"}}}}`
	out := pinIntegrity([]byte(doc), "x", map[string]string{
		tarballPath("x", "1.0.0"): pin256,
		tarballPath("x", "2.0.0"): pin256,
		tarballPath("x", "3.0.0"): pin1,
		tarballPath("x", "4.0.0"): pin512 + " " + pin1,
	})
	if !json.Valid(out) {
		t.Fatalf("not JSON:\n%s", out)
	}
	tests := []struct {
		version, integrity, shasum string
	}{
		{"1.0.0", pin256, "(absent)"},
		{"2.0.0", pin256, "(absent)"},
		{"3.0.0", pin1, hex.EncodeToString(s1[:])},
		{"4.0.0", pin512, hex.EncodeToString(s1[:])},
	}
	for _, tt := range tests {
		d := distOf(t, out, tt.version)
		if str(d.Integrity) != tt.integrity || str(d.Shasum) != tt.shasum {
			t.Errorf("%s: integrity %s, shasum %s; want %s, %s", tt.version, str(d.Integrity), str(d.Shasum), tt.integrity, tt.shasum)
		}
	}
	var p struct {
		Versions map[string]struct {
			Dist struct{ Tarball string } `json:"dist"`
		} `json:"versions"`
	}
	json.Unmarshal(out, &p)
	if p.Versions["2.0.0"].Dist.Tarball != "http://r/x/-/x-2.0.0.tgz" {
		t.Errorf("the rest of dist was not kept:\n%s", out)
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
