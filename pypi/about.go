package pypi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/textproto"
	"sort"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// What a project says of itself comes from two places larder may hold:
// the legacy JSON API's "info" (/pypi/{project}/json, the newest release)
// and PEP 658 core metadata files (one per file, so one per version it
// held). Neither is fetched for the UI: it shows what installs brought in.

// about is the part of core metadata the UI shows (core metadata
// specification, https://packaging.python.org/specifications/core-metadata/).
type about struct {
	Version      string
	Summary      string
	License      string
	HomePage     string
	ProjectURLs  map[string]string // label → URL
	RequiresDist []string
	Description  string
	ContentType  string // Description-Content-Type
	known        bool   // RequiresDist was read from a whole record
}

// maxMetadata bounds a core metadata file read for the UI, and
// maxMetadataReads how many one page view reads. maxWheelMetadataReads
// bounds the wheels it opens for theirs: each is a few reads (ranged GETs
// on S3), where a metadata file is one.
const (
	maxMetadata           = 4 << 20
	maxMetadataReads      = 100
	maxWheelMetadataReads = 10
)

// aboutFromMetadata reads a METADATA file (RFC 822 headers; the
// description is the body, or, before metadata 2.1, a Description header).
func aboutFromMetadata(r io.Reader) (about, error) {
	tp := textproto.NewReader(bufio.NewReader(io.LimitReader(r, maxMetadata)))
	h, err := tp.ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return about{}, err
	}
	a := about{
		Version: h.Get("Version"), Summary: h.Get("Summary"), HomePage: h.Get("Home-Page"),
		RequiresDist: h.Values("Requires-Dist"), ContentType: h.Get("Description-Content-Type"),
		Description: h.Get("Description"), known: true,
	}
	a.License = h.Get("License-Expression")
	if a.License == "" {
		a.License = firstLine(h.Get("License"))
	}
	for _, pu := range h.Values("Project-Url") {
		if label, u, ok := strings.Cut(pu, ","); ok {
			if a.ProjectURLs == nil {
				a.ProjectURLs = map[string]string{}
			}
			a.ProjectURLs[strings.TrimSpace(label)] = strings.TrimSpace(u)
		}
	}
	if body, _ := io.ReadAll(tp.R); len(strings.TrimSpace(string(body))) > 0 {
		a.Description = string(body)
	}
	return a, nil
}

// aboutFromJSON reads the legacy JSON API's document.
func aboutFromJSON(body []byte) (about, error) {
	var d struct {
		Info struct {
			Version                string            `json:"version"`
			Summary                string            `json:"summary"`
			License                string            `json:"license"`
			LicenseExpression      string            `json:"license_expression"`
			HomePage               string            `json:"home_page"`
			ProjectURLs            map[string]string `json:"project_urls"`
			RequiresDist           []string          `json:"requires_dist"`
			Description            string            `json:"description"`
			DescriptionContentType string            `json:"description_content_type"`
		} `json:"info"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return about{}, err
	}
	i := d.Info
	a := about{Version: i.Version, Summary: i.Summary, License: i.LicenseExpression, HomePage: i.HomePage,
		ProjectURLs: i.ProjectURLs, RequiresDist: i.RequiresDist, Description: i.Description,
		ContentType: i.DescriptionContentType, known: true}
	if a.License == "" {
		a.License = firstLine(i.License)
	}
	return a, nil
}

// firstLine keeps a License field short: some projects paste the whole text.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 80 {
		s = s[:77] + "…"
	}
	return s
}

// readmeFormat maps a Description-Content-Type to the UI's formats; PyPI
// reads a missing one as reStructuredText.
func readmeFormat(contentType string) string {
	mt, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	switch strings.TrimSpace(mt) {
	case "text/markdown":
		return "markdown"
	case "text/plain":
		return "text"
	}
	return "rst"
}

// fill puts what a tells of the project into info.
func (a about) fill(info *registries.PackageInfo) {
	info.Description, info.License = a.Summary, a.License
	info.Homepage = a.HomePage
	for label, u := range a.ProjectURLs {
		switch strings.ToLower(strings.NewReplacer(" ", "", "-", "", "_", "").Replace(label)) {
		case "homepage", "home":
			if info.Homepage == "" || strings.EqualFold(info.Homepage, "UNKNOWN") {
				info.Homepage = u
			}
		case "source", "sourcecode", "repository", "code", "github":
			info.Repository = u
		}
	}
	if strings.EqualFold(info.Homepage, "UNKNOWN") {
		info.Homepage = ""
	}
	if d := strings.TrimSpace(a.Description); d != "" && !strings.EqualFold(d, "UNKNOWN") {
		info.Readme, info.ReadmeFormat = a.Description, readmeFormat(a.ContentType)
	}
}

// requirements turns Requires-Dist lines (PEP 508) into dependencies: the
// name, its specifier, and its marker as the note.
func requirements(lines []string) []registries.Dependency {
	deps := []registries.Dependency{}
	for _, l := range lines {
		req, marker, _ := strings.Cut(l, ";")
		req = strings.TrimSpace(req)
		end := strings.IndexFunc(req, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		})
		if end < 0 {
			end = len(req)
		}
		if end == 0 {
			continue
		}
		spec := strings.TrimSpace(req[end:])
		spec = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(spec, "("), ")"))
		deps = append(deps, registries.Dependency{Name: req[:end], Constraint: spec, Note: strings.TrimSpace(marker)})
	}
	sort.SliceStable(deps, func(i, j int) bool { return deps[i].Note == "" && deps[j].Note != "" })
	return deps
}

// describeAbout fills info from the legacy JSON document and the core
// metadata files larder holds, and each version's dependencies from its
// metadata file. The newest version's metadata file wins over the JSON
// document when both are held and the JSON is older.
func (g *Registry) describeAbout(ctx context.Context, info *registries.PackageInfo, project string, arts []storage.Artifact) {
	var newest about
	if doc, err := g.up.Cached(ctx, legacyKey(project+"/json"), legacyVariant); err == nil {
		if body, err := g.up.Body(ctx, doc); err == nil {
			if a, err := aboutFromJSON(body); err == nil {
				newest = a
			}
		}
	}
	byVersion := map[string]about{}
	for _, art := range arts {
		if !art.Cached() || !isMetadata(art.Path) {
			continue
		}
		if _, ok := byVersion[art.Version]; ok {
			continue // one file per version says it
		}
		if len(byVersion) >= maxMetadataReads {
			break
		}
		a, err := g.keptMetadata(ctx, art)
		if err != nil {
			continue
		}
		byVersion[art.Version] = a
	}
	if newest.Version != "" && newest.known {
		if _, ok := byVersion[newest.Version]; !ok {
			byVersion[newest.Version] = newest
		}
	}
	g.aboutFromWheels(ctx, info.Versions, byVersion)
	for i := range info.Versions {
		vi := &info.Versions[i]
		if a, ok := byVersion[vi.Version]; ok {
			vi.Dependencies, vi.DependenciesKnown = requirements(a.RequiresDist), true
			if newest.Version == "" {
				newest = a // versions are newest first
			}
		}
	}
	if newest.known {
		newest.fill(info)
	}
}

// aboutFromWheels adds to byVersion what the held wheels of the newest
// versions it lacks say (their .dist-info/METADATA): from an index without
// PEP 658 metadata files larder holds no other core metadata.
func (g *Registry) aboutFromWheels(ctx context.Context, versions []registries.VersionInfo, byVersion map[string]about) {
	reads := 0
	for _, vi := range versions {
		if _, ok := byVersion[vi.Version]; ok {
			continue
		}
		for _, f := range vi.Files {
			if !f.Cached || !strings.HasSuffix(f.Name, ".whl") {
				continue
			}
			if reads++; reads > maxWheelMetadataReads {
				return
			}
			a := storage.Artifact{Path: f.Path, SHA256: storage.Digest(f.SHA256), Size: f.Size}
			if meta, err := g.wheelMetadata(ctx, a); err == nil {
				byVersion[vi.Version] = meta
				break
			}
		}
	}
}
