package rubygems

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/rubygems/rubygemstest"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// Under a cutoff, /versions lists for each gem larder has read exactly
// what /info serves of it, with that file's MD5 (bundler checks one
// against the other); a gem larder never read keeps the upstream's line,
// so that bundler asks for its info file; the full index lists only
// releases old enough; a platform's gem added later is new of its own.
func TestVersionsUnderACutoffListWhatInfoServes(t *testing.T) {
	up, clock, m := newCutoffMirror(t)
	publish(up, "alpha", "1.0.0")
	publish(up, "never", "3.0.0")
	if r := m.get(t, "/info/alpha"); r.StatusCode != 200 {
		t.Fatalf("GET /info/alpha: %d", r.StatusCode)
	}
	clock.add(96 * time.Hour)
	publish(up, "alpha", "1.1.0")
	up.Publish(rubygemstest.Gem{Name: "alpha", Version: "1.0.0", Platform: "java", Body: []byte("alpha java")})
	clock.add(2 * time.Hour) // the info file is stale: larder reads it again and first sees 1.1.0 and 1.0.0-java

	info := body(t, m.get(t, "/info/alpha"))
	if !strings.Contains(string(info), "\n1.0.0 ") || strings.Contains(string(info), "1.1.0") || strings.Contains(string(info), "java") {
		t.Fatalf("/info/alpha under a 3-day cutoff:\n%s\nwant 1.0.0 only", info)
	}
	versions := string(body(t, m.get(t, "/versions")))
	if want := "\nalpha 1.0.0 " + md5Hex(info) + "\n"; !strings.Contains(versions, want) {
		t.Fatalf("/versions:\n%s\nwant the line %q", versions, want)
	}
	if strings.Count(versions, "\nalpha ") != 1 {
		t.Fatalf("/versions lists alpha more than once, upstream's lines kept:\n%s", versions)
	}
	if !strings.Contains(versions, "\nnever 3.0.0 ") {
		t.Fatalf("/versions lost the line of a gem larder has not read:\n%s", versions)
	}
	up.SetFullIndex("specs.4.8.gz", []byte{0x1f, 0x8b, 'u', 'p'})
	if b := body(t, m.get(t, "/specs.4.8.gz")); !bytes.Equal(b, marshalSpecs([]specsTuple{{"alpha", "1.0.0", "ruby"}})) {
		t.Fatalf("specs.4.8.gz under a cutoff: %q, want alpha 1.0.0 alone (the upstream's lists what is held back)", b)
	}
	if r := m.get(t, "/gems/alpha-1.1.0.gem"); r.StatusCode != 403 || !strings.Contains(string(body(t, r)), "held back") {
		t.Fatalf("GET a held-back .gem: %d, want 403 that says it is held back", r.StatusCode)
	}
	if r := m.get(t, "/gems/alpha-1.0.0-java.gem"); r.StatusCode != 403 {
		t.Fatalf("GET a platform's .gem first seen two hours ago: %d, want 403", r.StatusCode)
	}
	if up.Count("GET", "/gems/alpha-1.1.0.gem")+up.Count("GET", "/gems/alpha-1.0.0-java.gem") != 0 {
		t.Fatal("the upstream was asked for a refused .gem")
	}

	// Three days on, all of it is served, and /versions follows.
	clock.add(72 * time.Hour)
	info = body(t, m.get(t, "/info/alpha"))
	if !strings.Contains(string(info), "1.1.0") || !strings.Contains(string(info), "1.0.0-java") {
		t.Fatalf("/info/alpha three days on:\n%s", info)
	}
	versions = string(body(t, m.get(t, "/versions")))
	if want := " " + md5Hex(info) + "\n"; !strings.Contains(versions, "\nalpha ") || !strings.Contains(versions, want) {
		t.Fatalf("/versions three days on:\n%s\nwant alpha with the MD5 %s", versions, want)
	}
	if r := m.get(t, "/gems/alpha-1.1.0.gem"); r.StatusCode != 200 {
		t.Fatalf("GET alpha-1.1.0.gem three days on: %d", r.StatusCode)
	}
}

// Under a cutoff, /versions stays a continuation of a client's copy while
// the gems larder has read and their allowed releases stay as they are: a
// gem larder has read keeps the place of its first upstream line, so an
// upstream append (a new gem, or a release of a read gem that is held
// back) reaches bundler as a 206 of the tail, not the whole file again.
func TestVersionsUnderACutoffContinuesTheClientsCopy(t *testing.T) {
	up, clock, m := newCutoffMirror(t)
	publish(up, "alpha", "1.0.0")
	publish(up, "beta", "1.0.0")
	if r := m.get(t, "/info/alpha"); r.StatusCode != 200 {
		t.Fatalf("GET /info/alpha: %d", r.StatusCode)
	}
	clock.add(96 * time.Hour)
	copy1 := body(t, m.get(t, "/versions"))
	if !strings.Contains(string(copy1), "\nalpha 1.0.0 ") {
		t.Fatalf("/versions:\n%s\nwant alpha 1.0.0", copy1)
	}

	publish(up, "gamma", "1.0.0")
	publish(up, "alpha", "1.1.0") // larder has not read alpha's info file again
	clock.add(2 * time.Hour)      // /versions is stale: larder reads the upstream's again
	r := m.get(t, "/versions", "Range", fmt.Sprintf("bytes=%d-", len(copy1)-1), "If-None-Match", md5ETag(copy1))
	tail := body(t, r)
	if r.StatusCode != http.StatusPartialContent {
		t.Fatalf("a range from the client's copy after an upstream append: %d with %d bytes, want 206 of the tail:\n%s", r.StatusCode, len(tail), tail)
	}
	whole := body(t, m.get(t, "/versions"))
	if got := append(copy1[:len(copy1)-1:len(copy1)-1], tail...); !bytes.Equal(got, whole) {
		t.Fatalf("the copy and the tail make\n%s\nwant the file served whole\n%s", got, whole)
	}
	if !strings.Contains(string(whole), "\ngamma 1.0.0 ") || strings.Count(string(whole), "\nalpha ") != 1 {
		t.Fatalf("/versions after the append:\n%s\nwant gamma appended and alpha once", whole)
	}
	info := body(t, m.get(t, "/info/alpha"))
	if want := "\nalpha 1.0.0 " + md5Hex(info) + "\n"; !strings.Contains(string(whole), want) {
		t.Fatalf("/versions:\n%s\nwant the line %q, the MD5 of /info/alpha as served", whole, want)
	}

	// What /versions is written from changes: it follows. gamma read
	// (its one release first seen now, held back) leaves its line.
	body(t, m.get(t, "/info/gamma"))
	if v := string(body(t, m.get(t, "/versions"))); strings.Contains(v, "\ngamma ") {
		t.Fatalf("/versions once gamma's info file is read, its one release held back:\n%s\nwant no gamma", v)
	}
	// Three days on, gamma 1.0.0 comes of age.
	clock.add(73 * time.Hour)
	v := string(body(t, m.get(t, "/versions")))
	gamma := body(t, m.get(t, "/info/gamma"))
	if want := "\ngamma 1.0.0 " + md5Hex(gamma) + "\n"; !strings.Contains(v, want) {
		t.Fatalf("/versions three days on:\n%s\nwant the line %q, the MD5 of /info/gamma as served", v, want)
	}
}

// Under a cutoff bundler, whose copy of /versions has the MD5 larder
// wrote for a gem, never asks for its info file again: a release the
// upstream's /versions shows is read (and first seen) when /versions is
// written, and served once old enough, though no one asked for /info.
func TestVersionsUnderACutoffReadsAnInfoFileTheUpstreamsVersionsSaysIsOutOfDate(t *testing.T) {
	up, clock, m := newCutoffMirror(t)
	publish(up, "alpha", "1.0.0")
	body(t, m.get(t, "/info/alpha"))
	clock.add(96 * time.Hour)
	body(t, m.get(t, "/versions"))
	clock.add(30 * time.Minute)
	body(t, m.get(t, "/info/alpha")) // revalidated: within its TTL from now on
	publish(up, "alpha", "1.1.0")
	clock.add(31 * time.Minute) // /versions is stale, the info file is not
	if v := string(body(t, m.get(t, "/versions"))); !strings.Contains(v, "\nalpha 1.0.0 ") {
		t.Fatalf("/versions:\n%s\nwant alpha 1.0.0 (1.1.0 first seen now)", v)
	}
	if n := up.Count("GET", "/info/alpha"); n != 3 {
		t.Fatalf("the upstream was asked for /info/alpha %d times, want 3: writing /versions asked again", n)
	}
	clock.add(73 * time.Hour)
	v := string(body(t, m.get(t, "/versions")))
	info := body(t, m.get(t, "/info/alpha"))
	if want := "\nalpha 1.0.0,1.1.0 " + md5Hex(info) + "\n"; !strings.Contains(v, want) {
		t.Fatalf("/versions three days on:\n%s\nwant the line %q", v, want)
	}
}

// newCutoffMirror is a mirror of a fresh upstream under a 72-hour
// release-age cutoff, on a clock the test moves.
func newCutoffMirror(t *testing.T) (*rubygemstest.Server, *testClock, testMirror) {
	t.Helper()
	up := rubygemstest.New()
	t.Cleanup(up.Close)
	clock := &testClock{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	m := newTestMirror(t, up, registriestest.NewEnv(t), registries.Options{MinReleaseAge: 72 * time.Hour, Now: clock.Now})
	return up, clock, m
}
