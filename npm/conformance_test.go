package npm

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

func TestConformance(t *testing.T) {
	registriestest.Run(t, conformance{})
}

// conformance is npm and npmtest, as the suite sees them.
type conformance struct{}

func (conformance) New(up *registries.Upstream) registries.Registry { return New(up, "") }

func (conformance) NewFake(t *testing.T) registriestest.Fake {
	s := npmtest.New()
	t.Cleanup(s.Close)
	return fakeNPM{s}
}

func (conformance) Documents(name string) []string {
	return []string{"/" + name, "/" + name + "/latest"}
}

func (conformance) Artifact(name, version string) string {
	return "/" + npmtest.TarballPath(name, version)
}

// Accepts: no header, plain JSON, and what npm, pnpm and yarn send.
func (conformance) Accepts() []string {
	return []string{"", mediaJSON, mediaAbbreviated + "; q=1.0, " + mediaJSON + "; q=0.8, */*"}
}

func (conformance) Listed(t *testing.T, body []byte, _ string) []string {
	var doc struct {
		Versions map[string]struct {
			Dist struct {
				Tarball string `json:"tarball"`
			} `json:"dist"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("the packument does not parse: %v\n%s", err, body)
	}
	var links []string
	for _, v := range doc.Versions {
		links = append(links, v.Dist.Tarball)
	}
	return links
}

type fakeNPM struct{ s *npmtest.Server }

func (f fakeNPM) Point(o *registries.Options) {
	o.Upstream, _ = url.Parse(f.s.URL)
}

func (f fakeNPM) Publish(name, version string) []byte {
	tgz := npmtest.Tarball(name, version, nil)
	f.s.PublishTarball(name, version, tgz, nil)
	return tgz
}

func (f fakeNPM) PublishAt(name, version string, at time.Time) []byte {
	tgz := f.Publish(name, version)
	f.s.SetPublished(name, version, at)
	return tgz
}

func (f fakeNPM) PublishUndeclared(name, version string) ([]byte, bool) {
	tgz := f.Publish(name, version)
	f.s.SetDigests(name, version, "", "")
	return tgz, true
}

func (f fakeNPM) SetFault(m faults.Mode) {
	f.s.SetMode(m) // the fake's modes are the shared ones
}

func (f fakeNPM) Fetches(path string) int { return f.s.Count("GET", path) }

func (f fakeNPM) PublishBytes(name, version string, body []byte) {
	f.s.PublishTarball(name, version, body, map[string]string{})
}
