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
)

// fakeClock is a registry clock a test moves instead of sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// agedModule publishes example.com/aged v1.0.0 (January) and v1.1.0 (the
// day before the clock's March 10th), and returns a mirror under a 3-day
// policy with that clock.
func agedModule(t *testing.T) (*gomodtest.Server, *mirror, *fakeClock) {
	fake := gomodtest.New()
	t.Cleanup(fake.Close)
	fake.Publish("example.com/aged", "v1.0.0", nil)
	fake.Publish("example.com/aged", "v1.1.0", nil)
	fake.SetTime("example.com/aged", "v1.0.0", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	fake.SetTime("example.com/aged", "v1.1.0", time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC))
	clock := &fakeClock{now: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)}
	m := newMirror(t, newEnv(t), fake, Options{SumDB: &SumDBConfig{Key: gomodtest.VerifierKey, Name: gomodtest.DBName}},
		registries.Options{MinReleaseAge: 3 * 24 * time.Hour, Now: clock.Now})
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

	// Three days after its publication, it is served.
	clock.Set(time.Date(2026, 3, 12, 0, 0, 1, 0, time.UTC))
	if w := m.get("/example.com/aged/@v/list"); w.Body.String() != "v1.0.0\nv1.1.0\n" {
		t.Errorf("list three days on: %q", w.Body.String())
	}
	if w := m.get("/example.com/aged/@v/v1.1.0.zip"); w.Code != http.StatusOK {
		t.Errorf("v1.1.0.zip three days on: %d %s", w.Code, w.Body.String())
	}
}

func TestAVersionWithNoUsableTimeIsNew(t *testing.T) {
	fake, m, _ := agedModule(t)
	fake.Publish("example.com/undated", "v1.0.0", nil)
	v := fake.Version("example.com/undated", "v1.0.0")
	v.Info = []byte(`{"Version":"v1.0.0","Time":"not a time"}`)
	// Not dated by its upstream, it is dated by when larder first saw it:
	// now, so it is new.
	if w := m.get("/example.com/undated/@v/list"); w.Code != http.StatusOK || w.Body.String() != "" {
		t.Errorf("list of an undated version: %d %q, want it left out", w.Code, w.Body.String())
	}
	if w := m.get("/example.com/undated/@v/v1.0.0.zip"); w.Code != http.StatusForbidden {
		t.Errorf("zip of an undated version: %d %s, want 403", w.Code, w.Body.String())
	}
}

func TestAViewAsOfADateListsWhatExistedThen(t *testing.T) {
	_, m, _ := agedModule(t)
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
	if code, body := get("/example.com/aged/@v/list"); code != http.StatusOK || body != "v1.0.0\n" {
		t.Errorf("list as of February: %d %q", code, body)
	}
	// v1.1.0 is not in the view for good: moving the clock does not help.
	if code, body := get("/example.com/aged/@v/v1.1.0.zip"); code != http.StatusForbidden || !strings.Contains(body, "is not in this view") {
		t.Errorf("v1.1.0.zip as of February: %d %s", code, body)
	}
}
