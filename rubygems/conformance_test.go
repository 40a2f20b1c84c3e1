package rubygems

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
	"github.com/larder-mirror/larder/rubygems/rubygemstest"
)

func TestConformance(t *testing.T) {
	registriestest.Run(t, conformance{})
}

// conformance is rubygems and rubygemstest, as the suite sees them. The
// suite's package is a gem, its artifact the release's .gem, its main
// document the gem's info file.
type conformance struct{}

func (conformance) New(up *registries.Upstream) registries.Registry { return New(up, "") }

func (conformance) NewFake(t *testing.T) registriestest.Fake {
	s := rubygemstest.New()
	t.Cleanup(s.Close)
	return fakeGems{s}
}

// Documents: the info file, then /versions, which lists it.
func (conformance) Documents(name string) []string {
	return []string{"/info/" + name, "/versions"}
}

func (conformance) Artifact(name, version string) string {
	return "/gems/" + name + "-" + version + ".gem"
}

// Accepts: bundler and gem send no Accept header.
func (conformance) Accepts() []string { return []string{""} }

// published maps the sha256 of every .gem the suite's fakes publish to its
// file name: an info line names its release and the .gem's checksum, not
// the gem, whose name is the info file's URL.
var published sync.Map

// Listed reads an info file as bundler does: each version line offers the
// .gem whose checksum it gives, beside info/ under gems/.
func (conformance) Listed(t *testing.T, body []byte, _ string) []string {
	inf, err := parseInfo(body)
	if err != nil {
		t.Fatalf("not an info file: %v\n%s", err, body)
	}
	var links []string
	for _, l := range inf.lines {
		file, ok := published.Load(l.checksum)
		if !ok {
			t.Fatalf("the info file lists %s with checksum %q, which no fake published", l.release, l.checksum)
		}
		links = append(links, "../gems/"+file.(string))
	}
	return links
}

type fakeGems struct{ s *rubygemstest.Server }

// Point points the registry at the fake, and gives it the kind's Verify
// hook, as cmd/larder wires it from the Kind.
func (f fakeGems) Point(o *registries.Options) {
	o.Upstream, _ = url.Parse(f.s.URL)
	o.Verify = Kind.Verify
}

func (f fakeGems) Publish(name, version string) []byte {
	body := []byte("a .gem of " + name + " " + version + " " + strings.Repeat("x", 100))
	f.PublishBytes(name, version, body)
	return body
}

// PublishAt publishes a release undated: the compact index carries no
// time, and larder dates a release by when it first lists it (the suite
// has it read the info file at at).
func (f fakeGems) PublishAt(name, version string, at time.Time) []byte {
	return f.Publish(name, version)
}

func (fakeGems) DatesByFirstSight() {}

func (f fakeGems) PublishBytes(name, version string, body []byte) {
	g := rubygemstest.Gem{Name: name, Version: version, Body: body}
	sum := sha256.Sum256(body)
	published.Store(hex.EncodeToString(sum[:]), g.FileName())
	f.s.Publish(g)
}

func (f fakeGems) PublishUndeclared(name, version string) ([]byte, bool) {
	body := []byte("an undeclared .gem of " + name + " " + version)
	f.s.Publish(rubygemstest.Gem{Name: name, Version: version, Body: body, Undeclared: true})
	return body, true
}

func (f fakeGems) SetFault(m faults.Mode) { f.s.SetMode(m) }

func (f fakeGems) Fetches(path string) int { return f.s.Count("GET", path) }
