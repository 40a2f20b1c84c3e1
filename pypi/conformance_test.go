package pypi

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

func TestConformance(t *testing.T) {
	registriestest.Run(t, conformance{})
}

// conformance is pypi and pypitest, as the suite sees them.
type conformance struct{}

func (conformance) New(up *registries.Upstream) registries.Registry { return New(up, "", Options{}) }

func (conformance) NewFake(t *testing.T) registriestest.Fake {
	s := pypitest.New()
	t.Cleanup(s.Close)
	return conformFake{s}
}

func (conformance) Documents(name string) []string {
	return []string{"/simple/" + name + "/", "/pypi/" + name + "/json"}
}

func (conformance) Artifact(name, version string) string {
	return "/files/" + name + "/" + pypitest.WheelFilename(name, version)
}

// Accepts: no header (older poetry), what pip and uv send, and each form
// alone.
func (conformance) Accepts() []string {
	return []string{
		"",
		mediaJSON + ", " + mediaV1HTML + "; q=0.1, " + mediaHTML + "; q=0.01",
		mediaJSON + ", " + mediaV1HTML + ";q=0.2, " + mediaHTML + ";q=0.01",
		mediaHTML,
		mediaV1HTML,
		mediaJSON,
	}
}

func (conformance) Listed(t *testing.T, body []byte, contentType string) []string {
	p, err := parsePage(body, contentType, mustURL(t, "http://larder.test/conform/simple/x/"))
	if err != nil {
		t.Fatalf("the page does not parse: %v\n%s", err, body)
	}
	var links []string
	for _, f := range p.Files {
		links = append(links, f.URL)
		if f.CoreMetadata {
			links = append(links, f.URL+".metadata")
		}
	}
	return links
}

type conformFake struct{ s *pypitest.Server }

func (f conformFake) Point(o *registries.Options) {
	o.Upstream, _ = url.Parse(f.s.IndexURL)
	files, _ := url.Parse(f.s.FilesURL)
	o.AlsoFrom = []*url.URL{files}
}

// Publish adds a wheel with its PEP 658 metadata file.
func (f conformFake) Publish(name, version string) []byte {
	filename, data := pypitest.Wheel(name, version, nil, "")
	f.s.AddFile(name, filename, data, pypitest.FileOpts{Metadata: pypitest.WheelMetadata(name, version, nil, "")})
	return data
}

func (f conformFake) PublishAt(name, version string, at time.Time) []byte {
	filename, data := pypitest.Wheel(name, version, nil, "")
	f.s.AddFile(name, filename, data, pypitest.FileOpts{UploadTime: at, Metadata: pypitest.WheelMetadata(name, version, nil, "")})
	return data
}

func (f conformFake) PublishUndeclared(name, version string) ([]byte, bool) {
	filename, data := pypitest.Wheel(name, version, nil, "")
	f.s.AddFile(name, filename, data, pypitest.FileOpts{OmitHashes: true})
	return data, true
}

func (f conformFake) SetFault(m faults.Mode) {
	f.s.SetMode(m) // the fake's modes are the shared ones
}

// Fetches maps a path below larder's mount to the fake's: the index's
// pages as they are, files to their place on the files host.
func (f conformFake) Fetches(path string) int {
	rest, ok := strings.CutPrefix(path, "/files/")
	if !ok {
		return f.s.Count("index", "GET", path)
	}
	filename := rest[strings.LastIndexByte(rest, '/')+1:]
	fileURL := f.s.FileURL(strings.TrimSuffix(filename, ".metadata"))
	if strings.HasSuffix(filename, ".metadata") {
		fileURL = f.s.MetadataURL(strings.TrimSuffix(filename, ".metadata"))
	}
	u, err := url.Parse(fileURL)
	if err != nil || fileURL == "" {
		return 0
	}
	return f.s.Count("files", "GET", u.Path)
}

func (f conformFake) PublishBytes(name, version string, body []byte) {
	f.s.AddFile(name, pypitest.WheelFilename(name, version), body, pypitest.FileOpts{})
}
