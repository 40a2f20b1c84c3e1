package cargo

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/cargo/cargotest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

func TestConformance(t *testing.T) {
	registriestest.Run(t, conformance{})
}

// conformance is cargo and cargotest, as the suite sees them: the suite's
// package is a crate, its main document the crate's index file, its
// artifact the .crate.
type conformance struct{}

// The suite's registries are built by New, not Decode: they take the
// fake's download template from Point, through the upstream options.
func (conformance) New(up *registries.Upstream) registries.Registry {
	return New(up, "", Options{DownloadURL: up.Options().AlsoFrom[0].String() + "crates/{crate}/{crate}-{version}.crate"})
}

func (conformance) NewFake(t *testing.T) registriestest.Fake {
	s := cargotest.New()
	t.Cleanup(s.Close)
	return fakeCargo{s}
}

func (conformance) Documents(name string) []string { return []string{"/" + IndexPath(name)} }

func (conformance) Artifact(name, version string) string { return "/" + downloadPath(name, version) }

// Accepts: cargo sends no Accept header to a sparse registry.
func (conformance) Accepts() []string { return []string{""} }

// Listed reads an index file as cargo does with larder's config.json: each
// line's .crate at dl + /{crate}/{version}/download, here relative to the
// index file, which lies two folders below the mount for the suite's
// names (all longer than three characters).
func (conformance) Listed(t *testing.T, body []byte, _ string) []string {
	var links []string
	for _, raw := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var l indexLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil || len(l.Name) < 4 {
			t.Fatalf("the index file's line %q does not name a crate of four characters or more: %v", raw, err)
		}
		links = append(links, "../../"+downloadPath(l.Name, l.Vers))
	}
	return links
}

type fakeCargo struct{ s *cargotest.Server }

// Point points the registry at the fake, which serves its .crate files
// itself, and gives it the kind's Verify hook, as cmd/larder wires it.
func (f fakeCargo) Point(o *registries.Options) {
	o.Upstream, _ = url.Parse(f.s.URL)
	o.AlsoFrom = []*url.URL{o.Upstream}
	o.Verify = Kind.Verify
}

func (f fakeCargo) Publish(name, version string) []byte { return f.s.Publish(name, version) }

func (f fakeCargo) PublishAt(name, version string, at time.Time) []byte {
	crate := f.s.Publish(name, version)
	f.s.SetPubtime(name, version, at)
	return crate
}

func (f fakeCargo) PublishBytes(name, version string, body []byte) {
	f.s.PublishBytes(name, version, body)
}

func (f fakeCargo) PublishUndeclared(name, version string) ([]byte, bool) {
	return f.s.PublishUndeclared(name, version), true
}

func (f fakeCargo) SetFault(m faults.Mode) { f.s.SetMode(m) }

// Fetches maps a .crate's path below the mount to the fake's own.
func (f fakeCargo) Fetches(path string) int {
	if rest, ok := strings.CutPrefix(path, "/"+downloadPrefix); ok {
		parts := strings.Split(rest, "/")
		return f.s.Count("GET", cargotest.CratePath(parts[0], parts[1]))
	}
	return f.s.Count("GET", path)
}
