package pypi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

const (
	variantPage = "page"
	// pageAccept asks the upstream for JSON first: only JSON carries
	// upload-time and size (PEP 700), which uv and poetry need.
	pageAccept = mediaJSON + ", " + mediaV1HTML + ";q=0.2, " + mediaHTML + ";q=0.01"
	vary       = "Accept, Accept-Encoding"
)

var fileOptions = registries.ArtifactOptions{
	ContentType:  "application/octet-stream",
	CacheControl: "max-age=365000000, immutable, public",
}

var metadataOptions = registries.ArtifactOptions{
	ContentType:  "text/plain; charset=utf-8",
	CacheControl: "max-age=365000000, immutable, public",
}

// Resolve names the page, legacy JSON document or file a GET or HEAD asks
// for. A project name that is not normalized is redirected by ServeOwn.
func (g *Registry) Resolve(r registries.Request) (registries.Target, error) {
	parts, ok := splitPath(r.Path)
	if !ok {
		return registries.Target{}, errBadPath
	}
	doc := func(key, variant string, view func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error)) (registries.Target, error) {
		return registries.Target{Document: &registries.DocumentTarget{Key: key, Variant: variant, Vary: vary, View: view}}, nil
	}
	format := chooseFormat(r.Accept)
	switch {
	case len(parts) == 2 && parts[0] == "simple" && parts[1] == "":
		return doc(rootKey, rootVariant, func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
			rendered, status, err := g.rootView(ctx, format)
			return rendered, status, nil, err
		})
	case len(parts) == 3 && parts[0] == "simple" && parts[2] == "":
		if err := ValidateName(parts[1]); err != nil {
			return registries.Target{}, err
		}
		project := parts[1]
		if Normalize(project) != project {
			return registries.Target{}, registries.ErrOwnRoute
		}
		return doc(project, variantPage, func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
			return g.projectView(ctx, project, format)
		})
	case len(parts) == 3 && parts[0] == "files":
		path, opts, err := fileArtifact(parts[1], parts[2])
		if err != nil {
			return registries.Target{}, err
		}
		project := Normalize(parts[1])
		release := releaseOf(parts[2])
		g.pythons.note(path, pythonOfUserAgent(r.UserAgent))
		var asked func()
		if described, ok := strings.CutSuffix(path, ".metadata"); ok {
			asked = func() { g.loadFileAhead(project, described) }
		}
		return registries.Target{Artifact: &registries.ArtifactTarget{Path: path, Package: project, Options: opts, Asked: asked,
			Announce: func(ctx context.Context) error {
				_, err := g.up.Document(ctx, g.pageRequest(project))
				return err
			},
			Version: versionFromFilename(project, release), Release: release,
			Learn: func(ctx context.Context) error {
				doc, err := g.up.Document(ctx, g.pageRequest(project))
				if err == nil {
					err = g.up.RecordReleases(ctx, project, string(doc.Body), g.pageFiles(ctx, doc.Document, project))
				}
				return err
			}}}, nil
	case (len(parts) == 3 || len(parts) == 4) && parts[0] == "pypi" && parts[len(parts)-1] == "json":
		project, rel, err := legacyRel(parts[1], parts[2:len(parts)-1])
		if err != nil {
			return registries.Target{}, err
		}
		base := r.BaseURL(g.publicURL, g.name)
		return doc(legacyKey(rel), legacyVariant, func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
			rendered, status, err := g.legacyView(ctx, project, rel, base)
			return rendered, status, nil, err
		})
	}
	return registries.Target{}, registries.ErrOwnRoute
}

var errBadPath = errors.New("bad path")

// ServeOwn redirects /simple and names that are not normalized (PEP 503,
// as PyPI does), and refuses every method but GET and HEAD.
func (g *Registry) ServeOwn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "larder is a read-only mirror", http.StatusMethodNotAllowed)
		return
	}
	parts, ok := splitPath(r.URL.EscapedPath())
	switch {
	case !ok:
		g.WriteError(w, errBadPath)
	case len(parts) == 1 && parts[0] == "simple":
		http.Redirect(w, r, g.mountIn(r.Context())+"/simple/", http.StatusMovedPermanently)
	case (len(parts) == 2 || len(parts) == 3 && parts[2] == "") && parts[0] == "simple" && parts[1] != "":
		if err := ValidateName(parts[1]); err != nil {
			g.WriteError(w, err)
			return
		}
		http.Redirect(w, r, g.mountIn(r.Context())+"/simple/"+Normalize(parts[1])+"/", http.StatusMovedPermanently)
	default:
		http.NotFound(w, r)
	}
}

// splitPath splits an escaped path below the mount into its unescaped
// segments; false when a segment is not one.
func splitPath(escaped string) ([]string, bool) {
	parts := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil || strings.ContainsAny(u, "/\\\x00") {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

// WriteError maps an error to a status, in one place; PyPI's clients read
// only the status.
func (g *Registry) WriteError(w http.ResponseWriter, err error) {
	status := registries.StatusOf(err)
	switch {
	case errors.Is(err, errBadPath):
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	case errors.Is(err, errBadName), errors.Is(err, errBadFilename):
		status = http.StatusBadRequest
	case errors.Is(err, registries.ErrNotFound):
		http.Error(w, "404 Not Found", http.StatusNotFound)
		return
	}
	http.Error(w, g.up.ErrorMessage(err), status)
}

// projectView is the project page a client gets in format: only the files
// larder holds when the upstream cannot be asked. The hit is recorded.
func (g *Registry) projectView(ctx context.Context, project, format string) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
	doc, err := g.up.DocumentToAnswer(ctx, g.pageRequest(project))
	if err != nil {
		return nil, "", nil, err
	}
	allowed, ageKey, err := g.allowedFiles(ctx, g.up.Cutoff(ctx, project), project, string(doc.Body), g.pageFiles(ctx, doc.Document, project))
	if err != nil {
		return nil, "", nil, err
	}
	mount := g.mountIn(ctx)
	var rendered *registries.Rendered
	if doc.Degraded || !g.up.Reachable() {
		// The upstream cannot be asked: list only what larder holds, so the
		// installer picks a version it can install.
		rendered, err = g.renderHeld(ctx, doc.Document, project, format, mount, allowed, ageKey)
	}
	if rendered == nil && err == nil {
		key := strings.Join([]string{g.name, project, format, string(doc.Body), mount, ageKey}, "\x00")
		rendered, err = g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
			p, err := g.loadProject(ctx, doc.Document)
			if err != nil {
				return nil, err
			}
			if allowed != nil {
				p = keepFiles(p, func(f File) bool { return allowed[f.Filename] })
			}
			return render(p, format, filesPathPrefix(mount, project)), nil
		})
	}
	if err != nil {
		return nil, "", nil, err
	}
	var serial []registries.HeaderLine
	if doc.Serial > 0 {
		serial = []registries.HeaderLine{{Key: "X-Pypi-Last-Serial", Value: strconv.FormatInt(doc.Serial, 10)}}
	}
	g.up.Env().Hits.Record(ctx, g.name, project, "")
	return rendered, doc.Status, serial, nil
}

func (g *Registry) renderHeld(ctx context.Context, doc storage.Document, project, format, mount string, allowed map[string]bool, ageKey string) (*registries.Rendered, error) {
	held, err := g.up.Store().CachedPaths(ctx, g.name, project)
	if err != nil {
		return nil, err
	}
	// Rendered once for each page and held set: filtering a page of
	// thousands of files on every request made the offline view the
	// slowest page larder served.
	key := strings.Join([]string{g.name, project, format, string(doc.Body), mount, "held", registries.HeldKey(held), ageKey}, "\x00")
	rendered, err := g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		p, err := g.loadProject(ctx, doc)
		if err != nil {
			return nil, err
		}
		files := p.Files[:0:0]
		for _, f := range p.Files {
			if held[filePath(project, f.Filename)] && (allowed == nil || allowed[f.Filename]) {
				// Advertise metadata only when larder can serve it: pip
				// fails an install on a metadata 404.
				if f.CoreMetadata && !held[filePath(project, f.Filename)+".metadata"] {
					f.CoreMetadata, f.CoreMetadataHashes = false, nil
				}
				files = append(files, f)
			}
		}
		if len(files) == 0 {
			return nil, errNothingHeld
		}
		p.Files, p.Versions = files, nil
		p.Versions = versionsOf(p)
		return render(p, format, filesPathPrefix(mount, project)), nil
	})
	if !errors.Is(err, errNothingHeld) {
		return rendered, err
	}
	if !g.up.Gone() {
		// A passing failure, or a suspect upstream, with nothing held:
		// the stale page is the best answer.
		return nil, nil
	}
	// Never an empty 200 page: uv takes that for "no such project here".
	return nil, g.up.NotCached("any file of " + project)
}

// errNothingHeld says no file of a page is held; it is never cached.
var errNothingHeld = errors.New("no file of the page is held")

func render(p Project, format, filesPrefix string) *registries.Rendered {
	if format == mediaJSON {
		return registries.NewRendered(renderJSON(p, filesPrefix), mediaJSON)
	}
	return registries.NewRendered(renderHTML(p, filesPrefix), contentTypeOf(format))
}

// contentTypeOf is the exact Content-Type of a negotiated format.
func contentTypeOf(format string) string {
	if format == mediaHTML {
		return "text/html; charset=utf-8"
	}
	return format
}

// chooseFormat is negotiateFormat, remembered per Accept header.
func chooseFormat(accept string) string { return formats.Of(accept) }

var formats = registries.NewChoices(negotiateFormat)

// negotiateFormat negotiates as PyPI does: HTML when nothing offered is
// acceptable (never 406), and text/html on a tie.
func negotiateFormat(accept string) string {
	if f := registries.Negotiate(accept, []string{mediaHTML, mediaV1HTML, mediaJSON}); f != "" {
		return f
	}
	return mediaHTML
}

func (g *Registry) loadProject(ctx context.Context, doc storage.Document) (Project, error) {
	body, err := g.up.Body(ctx, doc)
	if err != nil {
		return Project{}, err
	}
	var p Project
	if err := json.Unmarshal(body, &p); err != nil {
		return Project{}, fmt.Errorf("stored page for %s: %w", doc.Key, err)
	}
	return p, nil
}

func filePath(project, filename string) string { return "files/" + project + "/" + filename }

// pageRequest fetches a project page and keeps it as the parsed model, with
// every file it links to announced for later download.
func (g *Registry) pageRequest(project string) registries.DocRequest {
	// project is normalized: letters, digits and "-", nothing to escape.
	pageURL := g.pagesBase + project + "/"
	return registries.DocRequest{
		Key: project, Variant: variantPage, Package: project, URL: pageURL, Accept: pageAccept,
		SerialHeader: "X-PyPI-Last-Serial",
		Prepare: func(body []byte, ct string) (registries.Prepared, error) {
			base, _ := url.Parse(pageURL)
			p, err := parsePage(body, ct, base)
			if err != nil {
				return registries.Prepared{}, err
			}
			if p.Name == "" {
				p.Name = project
			}
			p.Files = g.acceptFiles(project, p.Files)
			if err := g.keepPins(project, p.Files); err != nil {
				return registries.Prepared{}, err
			}
			stored, err := json.Marshal(p)
			if err != nil {
				return registries.Prepared{}, err
			}
			return registries.Prepared{Body: stored, ContentType: "application/json", Serial: p.Serial, Artifacts: g.announce(project, p.Files)}, nil
		},
	}
}

// keepPins puts the pinned hashes back on files larder already holds under
// another digest (first seen wins), so that pip checks the bytes larder
// serves.
func (g *Registry) keepPins(project string, files []File) error {
	changed, err := g.up.Pins(context.Background(), project, g.announce(project, files))
	if err != nil || len(changed) == 0 {
		return err
	}
	for i := range files {
		f := &files[i]
		path := filePath(project, f.Filename)
		if pinned, ok := changed[path]; ok {
			f.Hashes = pinnedHashes(registries.Integrity(pinned))
			// The size (PEP 700) is of the held bytes too.
			if a, err := g.up.Artifact(context.Background(), path); err == nil && a.Cached() {
				size := a.Size
				f.Size = &size
			}
		}
		if pinned, ok := changed[path+".metadata"]; ok {
			f.CoreMetadataHashes = pinnedHashes(registries.Integrity(pinned))
		}
	}
	return nil
}

func pinnedHashes(i registries.Integrity) map[string]string {
	h := map[string]string{}
	for _, algo := range []string{"sha256", "sha384", "sha512"} {
		if d := i.HexDigest(algo); d != "" {
			h[algo] = d
		}
	}
	return h
}

// acceptFiles drops links larder must not follow, and says so.
func (g *Registry) acceptFiles(project string, files []File) []File {
	kept := files[:0]
	for _, f := range files {
		if err := validateFilename(f.Filename); err != nil {
			g.up.Env().Log.Warn("file link dropped", "registry", g.name, "project", project, "err", err)
			continue
		}
		if err := g.files.check(f.URL); err != nil {
			g.up.Env().Log.Warn("file link dropped: larder will not fetch it", "registry", g.name, "project", project, "err", err)
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

// announce records each file, and each PEP 658 metadata file, with where it
// lives and what it must hash to.
func (g *Registry) announce(project string, files []File) []storage.Artifact {
	arts := make([]storage.Artifact, 0, len(files))
	for _, f := range files {
		version := versionFromFilename(project, f.Filename)
		arts = append(arts, storage.Artifact{
			Path: filePath(project, f.Filename), Package: project, Version: version,
			UpstreamURL: f.URL, Integrity: string(integrityOf(f.Hashes)),
		})
		if f.CoreMetadata {
			arts = append(arts, storage.Artifact{
				Path: filePath(project, f.Filename) + ".metadata", Package: project, Version: version,
				UpstreamURL: f.URL + ".metadata", Integrity: string(integrityOf(f.CoreMetadataHashes)),
			})
		}
	}
	return arts
}

// integrityOf turns PyPI's hex hashes into SRI; md5 and unknown algorithms
// are not trusted and left out.
func integrityOf(hashes map[string]string) registries.Integrity {
	var i registries.Integrity
	for _, algo := range []string{"sha256", "sha384", "sha512"} {
		if h, ok := hashes[algo]; ok {
			i = i.Join(registries.SRIFromHex(algo, h))
		}
	}
	return i
}

// fileArtifact is the artifact path of a file under /files/, and how it is
// served.
func fileArtifact(project, filename string) (string, registries.ArtifactOptions, error) {
	if err := ValidateName(project); err != nil {
		return "", registries.ArtifactOptions{}, err
	}
	if err := validateFilename(filename); err != nil {
		return "", registries.ArtifactOptions{}, err
	}
	opts := fileOptions
	if strings.HasSuffix(filename, ".metadata") {
		opts = metadataOptions
	}
	return filePath(Normalize(project), filename), opts, nil
}
