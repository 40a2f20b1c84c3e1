package registriestest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries"
)

// Dater is implemented by a fake that can date what it publishes, as its
// registry's protocol dates releases (npm's time, PyPI's upload-time, a
// Cargo index line's pubtime). The release-age
// subtest needs it.
type Dater interface {
	// PublishAt is Publish, with the release dated at.
	PublishAt(name, version string, at time.Time) []byte
}

// FirstSight is implemented by a Dater whose protocol dates nothing
// (RubyGems' compact index, a Maven repository's metadata), or nothing
// larder may trust (a Go version's .info Time, its author's): larder dates
// each release by when it first lists it. Its PublishAt publishes the
// release undated, and the subtest has larder read the package's main
// document (the first of Documents) at that moment of its clock, as a mirror in use would have,
// so that larder first sees the release then.
type FirstSight interface {
	DatesByFirstSight()
}

// ReleaseAge is the release-age subtest's name, for Skipper.
const ReleaseAge = "under min_release_age a young version is left out of every document and its artifact refused with nothing fetched, until it is old enough; a view as of a date refuses what came later"

type suiteClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *suiteClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *suiteClock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func testReleaseAge(t *testing.T, eco Ecosystem) {
	fake := eco.NewFake(t)
	dater, ok := fake.(Dater)
	if !ok {
		t.Skip("the fake dates nothing it publishes (registriestest.Dater)")
	}
	clock := &suiteClock{now: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)}
	const name = "conform-aged"
	env := NewEnv(t)
	m := newMirror(t, eco, fake, env, registries.Options{MinReleaseAge: 72 * time.Hour, Now: clock.Now})
	_, firstSight := fake.(FirstSight)
	publishAt := func(version string, at time.Time) []byte {
		body := dater.PublishAt(name, version, at)
		if firstSight {
			now := clock.Now()
			clock.add(at.Sub(now))
			d := eco.Documents(name)[0]
			for _, accept := range eco.Accepts() {
				want200(t, "GET "+d+" Accept: "+accept+" when "+name+" "+version+" is published", m.get(d, accept), nil)
			}
			clock.add(now.Sub(at))
		}
		return body
	}
	oldBody := publishAt("1.0.0", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	youngBody := publishAt("1.1.0", clock.Now().Add(-24*time.Hour))
	doc := eco.Documents(name)[0]
	old, young := eco.Artifact(name, "1.0.0"), eco.Artifact(name, "1.1.0")
	// Another larder on the same data folder, without the policy, holds the
	// young artifact already: held is no reason to serve it.
	free := newMirror(t, eco, fake, env, registries.Options{})
	want200(t, "GET "+young+" with no policy", free.get(young), youngBody)
	fetched := fake.Fetches(young)
	// Its row in the policy's memory too, as a quick answer would find it.
	target, err := m.reg.Resolve(registries.Request{Path: young, Host: host})
	if err != nil || target.Artifact == nil {
		t.Fatalf("resolving %s: %v", young, err)
	}
	if a, err := m.up.Artifact(context.Background(), target.Artifact.Path); err != nil || !a.Cached() {
		t.Fatalf("%s is not held: %v", young, err)
	}

	wantListed := func(when string, want, not []string) {
		t.Helper()
		for _, accept := range eco.Accepts() {
			what := "GET " + doc + " Accept: " + accept + " " + when
			r := m.get(doc, accept)
			want200(t, what, r, nil)
			got := listed(t, eco, doc, r)
			for _, p := range want {
				if !slices.Contains(got, p) {
					t.Fatalf("%s lists %v, without %s", what, got, p)
				}
			}
			for _, p := range not {
				if slices.Contains(got, p) {
					t.Fatalf("%s lists %v, with the held-back %s", what, got, p)
				}
			}
		}
	}
	wantListed("under a 3-day policy", []string{old}, []string{young})
	for _, head := range []bool{false, true} {
		q := request{method: http.MethodGet, path: young}
		if head {
			q.method = http.MethodHead
		}
		if r := m.serve(q); r.status != http.StatusForbidden {
			t.Fatalf("%s %s, a day old, held: %s, want 403", q.method, young, r)
		}
		if _, ok := m.m.Quick(registries.Request{Path: young, Host: host, Head: head}); ok {
			t.Fatalf("the quick path answered %s %s, held back", q.method, young)
		}
	}
	if n := fake.Fetches(young) - fetched; n != 0 {
		t.Fatalf("the upstream was asked %d times more for %s, a refused download", n, young)
	}
	want200(t, "GET "+old, m.get(old), oldBody)

	clock.add(48*time.Hour + time.Second)
	wantListed("three days after its publication", []string{old, young}, nil)
	want200(t, "GET "+young+" three days on", m.get(young), youngBody)

	// A view as of February: what came later is refused, whatever its age.
	view, err := registries.ParseView("2026-02-01")
	if err != nil {
		t.Fatal(err)
	}
	inView := func(path string) int {
		r := httptest.NewRequestWithContext(registries.WithView(context.Background(), view), http.MethodGet, "http://"+host+path, nil)
		w := httptest.NewRecorder()
		m.m.ServeHTTP(w, r)
		return w.Code
	}
	if code := inView(young); code != http.StatusForbidden {
		t.Fatalf("GET %s in a view as of February: %d, want 403", young, code)
	}
	if code := inView(old); code != http.StatusOK {
		t.Fatalf("GET %s in a view as of February: %d, want 200", old, code)
	}
}
