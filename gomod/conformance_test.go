package gomod

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/gomod/gomodtest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

func TestConformance(t *testing.T) {
	registriestest.Run(t, conformance{})
}

// conformance is gomod and gomodtest, as the suite sees them. The suite's
// package "name" is the module example.com/name, its version "1.2.3" the
// module version v1.2.3, and its artifact the version's zip.
type conformance struct{}

// testSumDB is the fake's checksum database, as a registry's sumdb key
// names it; fetched from the fake proxy's sumdb/ (the default URL).
func testSumDB(t testing.TB) Options {
	cfg, _, err := ParseSumDB(gomodtest.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	return Options{SumDB: cfg}
}

func (conformance) New(up *registries.Upstream) registries.Registry {
	return New(up, "", testSumDB(&testing.T{}))
}

func (conformance) NewFake(t *testing.T) registriestest.Fake {
	s := gomodtest.New()
	t.Cleanup(s.Close)
	return fakeGo{s}
}

func modulePath(name string) string { return "example.com/" + name }

// Documents: the list, @latest, and the checksum database's record of
// v1.0.0, which is what announces a version's files (larder looks each
// version up before it fetches its files).
func (conformance) Documents(name string) []string {
	return []string{"/" + modulePath(name) + "/@v/list", "/" + modulePath(name) + "/@latest",
		"/sumdb/" + gomodtest.DBName + "/lookup/" + modulePath(name) + "@v1.0.0"}
}

func (conformance) Artifact(name, version string) string {
	return "/" + modulePath(name) + "/@v/" + moduleVersion(version) + ".zip"
}

// moduleVersion is the suite's version as a version of example.com/name:
// from v2 on, a module path without a /vN suffix has +incompatible
// versions.
func moduleVersion(v string) string {
	if strings.HasPrefix(v, "0.") || strings.HasPrefix(v, "1.") {
		return "v" + v
	}
	return "v" + v + "+incompatible"
}

// Accepts: the go command sends no Accept header.
func (conformance) Accepts() []string { return []string{""} }

// Listed reads a list of versions: each names its zip beside the list.
func (conformance) Listed(t *testing.T, body []byte, _ string) []string {
	var links []string
	for _, v := range strings.Fields(string(body)) {
		links = append(links, v+".zip")
	}
	return links
}

func (conformance) Skip(subtest string) string {
	switch subtest {
	case registriestest.IntegrityMismatch + "/large", registriestest.Truncated + "/large":
		return "a Go module zip is a zip whose h1: hash the checksum database vouches for: the suite's arbitrary bytes cannot be published as one, and served as they are"
	}
	return ""
}

type fakeGo struct{ s *gomodtest.Server }

// Point points the registry at the fake, and gives it the kind's Verify
// hook, as cmd/larder wires it from the Kind.
func (f fakeGo) Point(o *registries.Options) {
	o.Upstream, _ = url.Parse(f.s.URL)
	o.Verify = Kind.Verify
}

func (f fakeGo) Publish(name, version string) []byte {
	return f.s.Publish(modulePath(name), moduleVersion(version), map[string]string{"a.go": "package " + strings.ReplaceAll(name, "-", "") + "\n"}).Zip
}

// DatesByFirstSight: larder dates a Go version by when it first saw it;
// the Time PublishAt writes in its .info, its commit's, counts for nothing.
func (fakeGo) DatesByFirstSight() {}

func (f fakeGo) PublishAt(name, version string, at time.Time) []byte {
	zip := f.Publish(name, version)
	f.s.SetTime(modulePath(name), moduleVersion(version), at)
	return zip
}

// PublishBytes publishes a zip holding body as a file: a Go module zip
// must be a zip the database has a hash of (see Skip).
func (f fakeGo) PublishBytes(name, version string, body []byte) {
	f.s.Publish(modulePath(name), moduleVersion(version), map[string]string{"data.bin": string(body)})
}

// PublishUndeclared: a version the checksum database does not know is
// not served unless a private pattern names it, which the suite's
// registries have none of.
func (f fakeGo) PublishUndeclared(name, version string) ([]byte, bool) { return nil, false }

func (f fakeGo) SetFault(m faults.Mode) { f.s.SetMode(m) }

func (f fakeGo) Fetches(path string) int { return f.s.Count("GET", path) }
