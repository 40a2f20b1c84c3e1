package registries

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

// A row's upstream URL is fetched again when its bytes are gone (evicted,
// quarantined), long after whoever wrote it: an imported row, or one
// written before a host left the configuration, must not make larder fetch
// from a host the registry's rules do not allow.
func TestAnArtifactIsNeverFetchedFromAHostOutsideTheRegistrysRules(t *testing.T) {
	content := randomBytes(2000, 7)
	for _, tt := range []struct {
		name string
		url  func(canary *fakeUpstream) string
		also []string // AlsoFrom
		ok   bool
	}{
		{name: "another host", url: func(c *fakeUpstream) string { return c.URL(tarballUpstream) }},
		{name: "an allowed host with user info", url: func(c *fakeUpstream) string {
			u, _ := url.Parse(c.URL(tarballUpstream))
			u.User = url.UserPassword("user", "secret")
			return u.String()
		}, also: []string{"canary"}},
		{name: "a scheme other than http", url: func(c *fakeUpstream) string { return "file:///etc/passwd" }},
		{name: "a host the registry may fetch from", url: func(c *fakeUpstream) string { return c.URL(tarballUpstream) }, also: []string{"canary"}, ok: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			canary := newFakeUpstream(t)
			canary.handle(tarballUpstream, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(content) }))
			var opts Options
			for range tt.also {
				u, _ := url.Parse(canary.URL("/"))
				opts.AlsoFrom = append(opts.AlsoFrom, u)
			}
			x := newArtifactFixture(t, opts)
			if err := x.e.Store.DB.AnnounceArtifacts(context.Background(), testRegistry, []storage.Artifact{{
				Path: tarballPath, Package: "left-pad", Version: "1.0.0", UpstreamURL: tt.url(canary), Integrity: integrityOf(content),
			}}); err != nil {
				t.Fatal(err)
			}
			got := x.get(t, http.MethodGet, nil)
			if tt.ok {
				if got.resp == nil || got.resp.StatusCode != http.StatusOK || string(got.body) != string(content) {
					t.Errorf("a URL on an allowed host: %v, %d bytes, %v", got.resp, len(got.body), got.readErr)
				}
				return
			}
			if n := canary.count(tarballUpstream); n != 0 {
				t.Errorf("the canary host received %d requests", n)
			}
			if got.resp == nil || got.resp.StatusCode != http.StatusNotFound || !strings.Contains(string(got.body), "will not fetch") {
				t.Errorf("answer %v %.200q, want a 404 saying larder will not fetch it", got.resp, got.body)
			}
			x.e.assertNothingStored(t)
		})
	}
}

func TestVetChecksABlobByItsNameWhenItCanAndByItsBytesOtherwise(t *testing.T) {
	e := newTestEnv(t)
	content := randomBytes(3000, 9)
	w, err := e.Store.Blobs.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	d, _, err := w.Commit(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	v := &vet{s: e.Store, known: map[storage.Digest]Integrity{}}
	for _, tt := range []struct {
		name string
		decl Integrity
		ok   bool
	}{
		{"its sha256", SRIFromHex("sha256", string(d)), true},
		{"another sha256", SRIFromHex("sha256", strings.Repeat("ab", 32)), false},
		{"its sha512", Integrity(integrityOf(content)), true},
		{"another sha512", Integrity(integrityOf([]byte("other"))), false},
		{"a malformed declaration", "sha512-not*base64", false},
	} {
		if err := v.check(context.Background(), d, tt.decl); (err == nil) != tt.ok {
			t.Errorf("%s: check = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
