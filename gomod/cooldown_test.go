package gomod

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/gomod/gomodtest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// fakeClock is a registry clock a test moves instead of sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// agedModule has a mirror under a 3-day policy first see example.com/aged
// v1.0.0 on January 1st and v1.1.0 on March 9th, the day before the
// clock's March 10th. Each .info is dated years earlier, as its author
// may date a commit: larder dates a Go version by when it first saw it.
func agedModule(t *testing.T) (*gomodtest.Server, *mirror, *fakeClock) {
	fake := gomodtest.New()
	t.Cleanup(fake.Close)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := newMirror(t, newEnv(t), fake, Options{SumDB: &SumDBConfig{Key: gomodtest.VerifierKey, Name: gomodtest.DBName}},
		registries.Options{MinReleaseAge: 3 * 24 * time.Hour, Now: clock.Now})
	fake.Publish("example.com/aged", "v1.0.0", nil)
	fake.SetTime("example.com/aged", "v1.0.0", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	m.get("/example.com/aged/@v/list")
	clock.Set(time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC))
	fake.Publish("example.com/aged", "v1.1.0", nil)
	fake.SetTime("example.com/aged", "v1.1.0", time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC))
	m.get("/example.com/aged/@v/list")
	clock.Set(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
	return fake, m, clock
}

func TestAVersionYoungerThanMinReleaseAgeIsNotListedNorLatestAndItsFilesAreRefused(t *testing.T) {
	fake, m, clock := agedModule(t)
	if w := m.get("/example.com/aged/@v/list"); w.Code != http.StatusOK || w.Body.String() != "v1.0.0\n" {
		t.Errorf("list: %d %q, want only v1.0.0", w.Code, w.Body.String())
	}
	if w := m.get("/example.com/aged/@latest"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"v1.0.0"`) {
		t.Errorf("@latest: %d %s, want v1.0.0's .info", w.Code, w.Body.String())
	}
	for _, ext := range []string{"info", "mod", "zip"} {
		w := m.get("/example.com/aged/@v/v1.1.0." + ext)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "example.com/aged@v1.1.0 is held back") || !strings.Contains(w.Body.String(), "2026-03-12T00:00:00Z") {
			t.Errorf("v1.1.0.%s: %d %s, want 403 saying when it will be served", ext, w.Code, w.Body.String())
		}
	}
	for _, ext := range []string{"mod", "zip"} {
		if n := fake.Count("GET", "/example.com/aged/@v/v1.1.0."+ext); n != 0 {
			t.Errorf("the upstream was asked %d times for v1.1.0.%s: a refused download was fetched", n, ext)
		}
	}
	if w := m.get("/example.com/aged/@v/v1.0.0.zip"); w.Code != http.StatusOK {
		t.Errorf("v1.0.0.zip: %d %s", w.Code, w.Body.String())
	}

	// Three days after larder first saw it, it is served.
	clock.Set(time.Date(2026, 3, 12, 0, 0, 1, 0, time.UTC))
	if w := m.get("/example.com/aged/@v/list"); w.Body.String() != "v1.0.0\nv1.1.0\n" {
		t.Errorf("list three days on: %q", w.Body.String())
	}
	if w := m.get("/example.com/aged/@v/v1.1.0.zip"); w.Code != http.StatusOK {
		t.Errorf("v1.1.0.zip three days on: %d %s", w.Code, w.Body.String())
	}
}

// A version's .info Time is its commit's, which its author chooses: a
// version tagged today on a commit dated 2020 is as new as any other
// larder first sees today, and its .info counts for nothing.
func TestABackdatedVersionFirstSeenNowIsHeldBack(t *testing.T) {
	fake, m, clock := agedModule(t)
	fake.Publish("example.com/backdated", "v1.0.0", nil)
	fake.SetTime("example.com/backdated", "v1.0.0", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	fake.Publish("example.com/undated", "v1.0.0", nil)
	fake.Version("example.com/undated", "v1.0.0").Info = []byte(`{"Version":"v1.0.0","Time":"not a time"}`)
	for _, mod := range []string{"example.com/backdated", "example.com/undated"} {
		if w := m.get("/" + mod + "/@v/list"); w.Code != http.StatusOK || w.Body.String() != "" {
			t.Errorf("list of %s, first seen now: %d %q, want it left out", mod, w.Code, w.Body.String())
		}
		w := m.get("/" + mod + "/@v/v1.0.0.zip")
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "2026-03-13T00:00:00Z") {
			t.Errorf("zip of %s, first seen now: %d %s, want 403 saying it is served three days on", mod, w.Code, w.Body.String())
		}
		if n := fake.Count("GET", "/"+mod+"/@v/v1.0.0.zip"); n != 0 {
			t.Errorf("the upstream was asked %d times for the zip of %s, held back", n, mod)
		}
	}
	// A version no list names (a pseudo-version, a go.sum's) is first
	// seen when it is asked for.
	fake.Publish("example.com/direct", "v1.0.0", nil)
	fake.SetTime("example.com/direct", "v1.0.0", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	if w := m.get("/example.com/direct/@v/v1.0.0.info"); w.Code != http.StatusForbidden {
		t.Errorf(".info of a backdated version asked for directly: %d %s, want 403", w.Code, w.Body.String())
	}
	clock.Set(time.Date(2026, 3, 13, 0, 0, 1, 0, time.UTC))
	for _, mod := range []string{"example.com/backdated", "example.com/undated", "example.com/direct"} {
		if w := m.get("/" + mod + "/@v/v1.0.0.zip"); w.Code != http.StatusOK {
			t.Errorf("zip of %s three days on: %d %s", mod, w.Code, w.Body.String())
		}
	}
	if w := m.get("/example.com/backdated/@v/list"); w.Body.String() != "v1.0.0\n" {
		t.Errorf("list of example.com/backdated three days on: %q", w.Body.String())
	}
}

// With versions upstream but none old enough, @latest is a 403 that says
// why, as a download of one is: a 404 would send GOPROXY=larder,direct on
// to fetch the young version from its origin.
func TestLatestWithNoVersionOldEnoughIsRefusedNotMissing(t *testing.T) {
	fake, m, _ := agedModule(t)
	fake.Publish("example.com/young", "v1.0.0", nil)
	fake.SetTime("example.com/young", "v1.0.0", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	w := m.get("/example.com/young/@latest")
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "example.com/young@v1.0.0 is held back") {
		t.Errorf("@latest with no version old enough: %d %s, want 403 that says why", w.Code, w.Body.String())
	}
	if w := m.get("/example.com/none/@latest"); w.Code != http.StatusNotFound {
		t.Errorf("@latest of a module with no version: %d %s, want 404", w.Code, w.Body.String())
	}
}

// Under a cutoff, a list is answered even when the upstream fails the .info
// of a version it lists (dating a version asks for no .info), and its
// versions come in once they are old enough.
func TestAListUnderACutoffIsServedWhenAVersionsInfoFails(t *testing.T) {
	fake, m, clock := agedModule(t)
	fake.Publish("example.com/flaky", "v1.0.0", nil)
	fake.Publish("example.com/flaky", "v1.1.0", nil)
	fake.Fail("/example.com/flaky/@v/v1.1.0.info", http.StatusInternalServerError)
	if w := m.get("/example.com/flaky/@v/list"); w.Code != http.StatusOK || w.Body.String() != "" {
		t.Errorf("list with a .info failing upstream: %d %q, want 200 and no version old enough", w.Code, w.Body.String())
	}
	clock.Set(time.Date(2026, 3, 13, 0, 0, 1, 0, time.UTC))
	if w := m.get("/example.com/flaky/@v/list"); w.Code != http.StatusOK || w.Body.String() != "v1.0.0\nv1.1.0\n" {
		t.Errorf("list three days on: %d %q", w.Code, w.Body.String())
	}
}

// A larder that fetched modules before a policy was turned on, run offline
// under it, dates what it holds by when it first fetched its files: it
// serves what is old enough, and refuses (403, saying until when) what is
// not; never a "never cached" 404 for a module it holds.
func TestAnOfflineLarderUnderAPolicyServesTheModulesItHolds(t *testing.T) {
	fake := gomodtest.New()
	defer fake.Close()
	env := newEnv(t)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	online := newMirror(t, env, fake, testSumDB(t), registries.Options{Now: clock.Now})
	fetch := func(mod, version string) {
		t.Helper()
		fake.Publish(mod, version, nil)
		fake.SetTime(mod, version, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
		for _, ext := range []string{"info", "mod", "zip"} {
			if w := online.get("/" + mod + "/@v/" + version + "." + ext); w.Code != http.StatusOK {
				t.Fatalf("GET %s@%s.%s with no policy: %d %s", mod, version, ext, w.Code, w.Body)
			}
		}
	}
	fetch("example.com/held", "v1.0.0")
	clock.Set(time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC))
	fetch("example.com/held", "v1.1.0")
	fetch("example.com/fresh", "v1.0.0")
	clock.Set(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))

	m := newMirror(t, env, fake, testSumDB(t), registries.Options{Offline: true, MinReleaseAge: 3 * 24 * time.Hour, Now: clock.Now})
	if w := m.get("/example.com/held/@v/list"); w.Code != http.StatusOK || w.Body.String() != "v1.0.0\n" {
		t.Errorf("offline list under a policy: %d %q, want v1.0.0, fetched in January", w.Code, w.Body.String())
	}
	if w := m.get("/example.com/held/@latest"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"v1.0.0"`) {
		t.Errorf("offline @latest under a policy: %d %s, want v1.0.0's .info", w.Code, w.Body.String())
	}
	if w := m.get("/example.com/held/@v/v1.0.0.zip"); w.Code != http.StatusOK {
		t.Errorf("offline v1.0.0.zip under a policy: %d %s", w.Code, w.Body.String())
	}
	if w := m.get("/example.com/held/@v/v1.1.0.zip"); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "2026-03-12T00:00:00Z") {
		t.Errorf("offline v1.1.0.zip, first fetched yesterday: %d %s, want 403 saying when it is served", w.Code, w.Body.String())
	}
	if w := m.get("/example.com/fresh/@v/list"); w.Code != http.StatusOK || w.Body.String() != "" {
		t.Errorf("offline list of a module held only too young: %d %q, want an empty list", w.Code, w.Body.String())
	}
	if w := m.get("/example.com/fresh/@latest"); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "example.com/fresh@v1.0.0 is held back") {
		t.Errorf("offline @latest of a module held only too young: %d %s, want 403", w.Code, w.Body.String())
	}

	view, err := registries.ParseView("2026-02-01")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		r, _ := http.NewRequestWithContext(registries.WithView(context.Background(), view), http.MethodGet, "http://larder.test"+path, nil)
		w := httptest.NewRecorder()
		m.m.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := get("/example.com/held/@v/list"); code != http.StatusOK || body != "v1.0.0\n" {
		t.Errorf("offline list as of February: %d %q", code, body)
	}
	if code, body := get("/example.com/held/@v/v1.0.0.zip"); code != http.StatusOK {
		t.Errorf("offline v1.0.0.zip as of February: %d %s", code, body)
	}

	// The same with the upstream refusing connections.
	fake.SetMode(faults.Refuse)
	down := newMirror(t, env, fake, testSumDB(t), registries.Options{MinReleaseAge: 3 * 24 * time.Hour, Now: clock.Now})
	for i := 0; i < 100 && !down.up.Gone(); i++ {
		// Failures, and the probe, tell larder the upstream is down.
		down.get("/example.com/other/@v/list")
		time.Sleep(20 * time.Millisecond)
	}
	if !down.up.Gone() {
		t.Fatal("the upstream refusing connections is not taken for down")
	}
	for path, want := range map[string]int{"/example.com/held/@v/list": http.StatusOK, "/example.com/held/@v/v1.0.0.zip": http.StatusOK,
		"/example.com/held/@v/v1.1.0.zip": http.StatusForbidden, "/example.com/fresh/@latest": http.StatusForbidden} {
		if w := down.get(path); w.Code != want || (strings.HasSuffix(path, "list") && w.Body.String() != "v1.0.0\n") {
			t.Errorf("upstream down, under a policy, GET %s: %d %q, want %d", path, w.Code, w.Body.String(), want)
		}
	}
}
