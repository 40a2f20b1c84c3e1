package pypi

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// PyPI dates each file, not each version: a release can gain a wheel years
// after it came out, and that wheel is new. A file's date is its PEP 700
// upload-time on a JSON simple page, or upload_time_iso_8601 in the legacy
// JSON API; a file an HTML page lists carries none, and is dated by when
// larder first saw it. Its PEP 658 metadata file shares its date.

// fileReleases lists files with their upload times.
func fileReleases(project string, files []File) []storage.Release {
	rels := make([]storage.Release, 0, len(files))
	for _, f := range files {
		rels = append(rels, fileRelease(project, f.Filename, f.UploadTime))
	}
	return rels
}

func fileRelease(project, filename, uploaded string) storage.Release {
	r := storage.Release{Name: filename, Version: versionFromFilename(project, filename)}
	if t, err := time.Parse(time.RFC3339Nano, uploaded); err == nil {
		r.Published = t
	}
	return r
}

// releaseOf is the file a path under files/ dates by: a metadata file is
// dated as its distribution.
func releaseOf(filename string) string { return strings.TrimSuffix(filename, ".metadata") }

// allowedFiles records the files a document dates (key names its body; list
// reads them) and names those c lets a page show: nil when c holds nothing
// back, with a render key.
func (g *Registry) allowedFiles(ctx context.Context, c registries.Cutoff, project, key string, list func() ([]storage.Release, error)) (map[string]bool, string, error) {
	if !c.Active() {
		return nil, "", nil
	}
	if err := g.up.RecordReleases(ctx, project, key, list); err != nil {
		return nil, "", err
	}
	return g.up.AllowedReleases(ctx, c, project)
}

// pageFiles dates the files of a stored project page.
func (g *Registry) pageFiles(ctx context.Context, doc storage.Document, project string) func() ([]storage.Release, error) {
	return func() ([]storage.Release, error) {
		p, err := g.loadProject(ctx, doc)
		if err != nil {
			return nil, err
		}
		return fileReleases(project, p.Files), nil
	}
}

// legacyFiles dates the files of a stored legacy JSON document.
func (g *Registry) legacyFiles(ctx context.Context, doc storage.Document, project string) func() ([]storage.Release, error) {
	return func() ([]storage.Release, error) {
		body, err := g.up.Body(ctx, doc)
		if err != nil {
			return nil, err
		}
		var d struct {
			URLs     []legacyFile            `json:"urls"`
			Releases map[string][]legacyFile `json:"releases"`
		}
		if err := json.Unmarshal(body, &d); err != nil {
			return nil, err
		}
		var rels []storage.Release
		for _, fs := range append([][]legacyFile{d.URLs}, mapValues(d.Releases)...) {
			for _, f := range fs {
				rels = append(rels, fileRelease(project, f.Filename, f.UploadTime))
			}
		}
		return rels, nil
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// mountIn is the path of the registry's mount as the request under ctx
// names it: in its /@{date}/ view, if it came through one.
func (g *Registry) mountIn(ctx context.Context) string {
	v, ok := registries.ViewOf(ctx)
	if !ok {
		return g.mount
	}
	return strings.TrimSuffix(g.mount, "/"+g.name) + "/@" + v.Label + "/" + g.name
}
