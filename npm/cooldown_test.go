package npm

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// agedMirror is an npm registry under a 3-day policy on a clock the test
// moves, reading from an upstream with leaf 1.0.0 (January) and 1.1.0 (a
// day before the clock).
func agedMirror(t *testing.T) (*registries.Mounted, *npmtest.Server, *clock) {
	up := npmtest.New()
	t.Cleanup(up.Close)
	c := &clock{now: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)}
	up.Publish("leaf", "1.0.0", nil)
	up.Publish("leaf", "1.1.0", nil)
	up.SetDistTag("leaf", "next", "1.1.0")
	up.SetPublished("leaf", "1.0.0", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	up.SetPublished("leaf", "1.1.0", c.now.Add(-24*time.Hour))
	base, _ := url.Parse(up.URL)
	u := registries.NewUpstream(registriestest.NewEnv(t), registries.Options{Name: "npm", Upstream: base,
		MetadataTTL: time.Hour, MinReleaseAge: 72 * time.Hour, Now: c.Now})
	t.Cleanup(u.Close)
	return registries.Mount(New(u, "")), up, c
}

func serve(m *registries.Mounted, path, accept string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "http://larder.test"+path, nil)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	m.ServeHTTP(w, r)
	return w
}

func TestPackumentsLeaveOutYoungVersionsAndTheirTagsUntilTheyAreOldEnough(t *testing.T) {
	m, up, c := agedMirror(t)
	type doc struct {
		DistTags map[string]string          `json:"dist-tags"`
		Versions map[string]json.RawMessage `json:"versions"`
		Time     map[string]string          `json:"time"`
	}
	read := func(accept string) doc {
		t.Helper()
		w := serve(m, "/leaf", accept)
		var d doc
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &d) != nil {
			t.Fatalf("packument (%s): %d %s", accept, w.Code, w.Body)
		}
		return d
	}
	for _, accept := range []string{mediaJSON, mediaAbbreviated} {
		d := read(accept)
		// next, a tag on the young version, moves back to the newest
		// allowed one before it.
		if d.DistTags["latest"] != "1.0.0" || d.DistTags["next"] != "1.0.0" || d.Versions["1.1.0"] != nil || d.Time["1.1.0"] != "" || d.Time["1.0.0"] == "" {
			t.Errorf("%s under the policy: tags %v, time %v, want latest and next on 1.0.0 and no trace of 1.1.0", accept, d.DistTags, d.Time)
		}
	}
	if w := serve(m, "/leaf/next", ""); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"1.0.0"`) {
		t.Errorf("leaf/next (a tag on the young version): %d %s, want 1.0.0", w.Code, w.Body)
	}
	w := serve(m, "/"+npmtest.TarballPath("leaf", "1.1.0"), "")
	if w.Code != http.StatusForbidden || !strings.Contains(w.Header().Get("npm-notice"), "2026-03-12T00:00:00Z") {
		t.Errorf("young tarball: %d, npm-notice %q", w.Code, w.Header().Get("npm-notice"))
	}
	for _, r := range up.Requests() {
		if strings.HasSuffix(r.Path, "leaf-1.1.0.tgz") {
			t.Errorf("the upstream was asked for %s", r.Path)
		}
	}

	c.Add(48*time.Hour + time.Second)
	for _, accept := range []string{mediaJSON, mediaAbbreviated} {
		if d := read(accept); d.DistTags["latest"] != "1.1.0" || d.DistTags["next"] != "1.1.0" || d.Versions["1.1.0"] == nil {
			t.Errorf("%s three days on: tags %v", accept, d.DistTags)
		}
	}
	if w := serve(m, "/"+npmtest.TarballPath("leaf", "1.1.0"), ""); w.Code != http.StatusOK {
		t.Errorf("tarball three days on: %d %s", w.Code, w.Body)
	}
}

func TestReleasesOfDatesEachVersionByItsPublishTime(t *testing.T) {
	rels := releasesOf([]byte(`{"versions":{"1.0.0":{},"1.1.0":{},"2.0.0":{}},"time":{"created":"2020-01-01T00:00:00.000Z","1.0.0":"2020-01-02T03:04:05.678Z","1.1.0":"garbage"}}`))
	got := map[string]time.Time{}
	for _, r := range rels {
		if r.Name != r.Version {
			t.Errorf("release %q of version %q", r.Name, r.Version)
		}
		got[r.Name] = r.Published
	}
	if len(got) != 3 || !got["1.0.0"].Equal(time.Date(2020, 1, 2, 3, 4, 5, 678e6, time.UTC)) || !got["1.1.0"].IsZero() || !got["2.0.0"].IsZero() {
		t.Errorf("releases %v: want 1.0.0 dated, 1.1.0 (a bad time) and 2.0.0 (none) undated", got)
	}
}
