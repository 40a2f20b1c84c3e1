package maven

import (
	"encoding/xml"
	"net/url"
	"testing"
	"time"

	"github.com/larder-mirror/larder/maven/maventest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

func TestConformance(t *testing.T) {
	registriestest.Run(t, conformance{})
}

// conformance is maven and maventest, as the suite sees them. The suite's
// package "name" is the artifact com.example:name, and its artifact a
// version's jar.
type conformance struct{}

const conformGroup = "com.example"

func (conformance) New(up *registries.Upstream) registries.Registry {
	return New(up, "", Options{})
}

func (conformance) NewFake(t *testing.T) registriestest.Fake {
	s := maventest.New()
	t.Cleanup(s.Close)
	return fakeMaven{s}
}

// Documents: the artifact's maven-metadata.xml, and the checksum of
// 1.0.0's jar, which larder serves as a document of the bytes it holds
// once the upstream's checksum files announced the jar.
func (conformance) Documents(name string) []string {
	return []string{"/com/example/" + name + "/maven-metadata.xml", "/" + jarPath(name, "1.0.0") + ".sha1"}
}

func jarPath(name, version string) string {
	return maventest.Dir(conformGroup, name, version) + "/" + name + "-" + version + ".jar"
}

func (conformance) Artifact(name, version string) string { return "/" + jarPath(name, version) }

// Accepts: Maven and Gradle send no Accept header that changes anything.
func (conformance) Accepts() []string { return []string{""} }

// Listed reads an artifact's metadata as Maven does: each version names
// its jar in the folder of that version, beside the metadata.
func (conformance) Listed(t *testing.T, body []byte, _ string) []string {
	var m metadata
	if err := xml.Unmarshal(body, &m); err != nil {
		t.Fatalf("maven-metadata.xml: %v\n%s", err, body)
	}
	var links []string
	if m.Versioning != nil && m.Versioning.Versions != nil {
		for _, v := range m.Versioning.Versions.Version {
			links = append(links, v+"/"+m.ArtifactID+"-"+v+".jar")
		}
	}
	return links
}

type fakeMaven struct{ s *maventest.Server }

// Point points the registry at the fake, and gives it the kind's Verify
// hook, as cmd/larder wires it from the Kind.
func (f fakeMaven) Point(o *registries.Options) {
	o.Upstream, _ = url.Parse(f.s.URL)
	o.Verify = Kind.Verify
}

func (f fakeMaven) Publish(name, version string) []byte {
	jar := []byte("PK jar of " + name + " " + version)
	f.PublishBytes(name, version, jar)
	return jar
}

// PublishAt publishes a version undated: a Maven repository's metadata
// carries no time per version, and larder dates a version by when it
// first lists it (the suite has it read the metadata at at).
func (f fakeMaven) PublishAt(name, version string, at time.Time) []byte {
	return f.Publish(name, version)
}

func (fakeMaven) DatesByFirstSight() {}

func (f fakeMaven) PublishBytes(name, version string, body []byte) {
	f.s.Publish(conformGroup, name, version, map[string][]byte{".jar": body, ".pom": maventest.POM(conformGroup, name, version, "")})
}

func (f fakeMaven) PublishUndeclared(name, version string) ([]byte, bool) {
	jar := []byte("PK unsigned jar of " + name + " " + version)
	f.s.PublishUndeclared(conformGroup, name, version, map[string][]byte{".jar": jar})
	return jar, true
}

func (f fakeMaven) SetFault(m faults.Mode) { f.s.SetMode(m) }

func (f fakeMaven) Fetches(path string) int { return f.s.Count("GET", path) }
