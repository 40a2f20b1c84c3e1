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

func (g *Registry) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "larder is a read-only mirror", http.StatusMethodNotAllowed)
		return
	}
	parts, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	var err error
	switch {
	case len(parts) == 1 && parts[0] == "simple":
		http.Redirect(w, r, g.mount+"/simple/", http.StatusMovedPermanently)
	case len(parts) == 2 && parts[0] == "simple" && parts[1] == "":
		err = g.serveRoot(w, r)
	case (len(parts) == 2 || len(parts) == 3 && parts[2] == "") && parts[0] == "simple":
		err = g.serveProject(w, r, parts[1], len(parts) == 3)
	case len(parts) == 3 && parts[0] == "files":
		err = g.serveFile(w, r, parts[1], parts[2])
	case (len(parts) == 3 || len(parts) == 4) && parts[0] == "pypi" && parts[len(parts)-1] == "json":
		err = g.serveLegacyJSON(w, r, parts[1], parts[2:len(parts)-1])
	default:
		http.NotFound(w, r)
	}
	if err != nil {
		g.writeError(w, err)
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

// Quick answers a plain request for a held file, or for a project page
// whose document is fresh in memory (see registries.Quick).
func (g *Registry) Quick(q registries.QuickRequest) (registries.Quick, bool) {
	parts, ok := splitPath(q.Path)
	switch {
	case !ok:
	case len(parts) == 3 && parts[0] == "files":
		path, opts, err := fileArtifact(parts[1], parts[2])
		if err != nil {
			return registries.Quick{}, false
		}
		return g.up.Quick(q, path, opts)
	case len(parts) == 3 && parts[0] == "simple" && parts[2] == "" && parts[1] != "":
		// A name that is not normalized is redirected by the handler.
		project := parts[1]
		if ValidateName(project) != nil || Normalize(project) != project {
			return registries.Quick{}, false
		}
		return g.up.QuickDocument(q, project, variantPage, vary, func() (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
			return g.projectView(context.Background(), project, chooseFormat(q.Accept))
		})
	}
	return registries.Quick{}, false
}

// writeError maps an error to a status, in one place; PyPI's clients read
// only the status.
func (g *Registry) writeError(w http.ResponseWriter, err error) {
	status := registries.StatusOf(err)
	switch {
	case errors.Is(err, errBadName), errors.Is(err, errBadFilename):
		status = http.StatusBadRequest
	case errors.Is(err, registries.ErrNotFound):
		http.Error(w, "404 Not Found", http.StatusNotFound)
		return
	}
	http.Error(w, g.up.ErrorMessage(err), status)
}

// serveProject answers /simple/{project}/. A non-normalized name is
// redirected to the normalized one, as PyPI does (PEP 503).
func (g *Registry) serveProject(w http.ResponseWriter, r *http.Request, name string, slash bool) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	project := Normalize(name)
	if project != name || !slash {
		http.Redirect(w, r, g.mount+"/simple/"+project+"/", http.StatusMovedPermanently)
		return nil
	}
	rendered, status, serial, err := g.projectView(r.Context(), project, chooseFormat(r.Header.Get("Accept")))
	if err != nil {
		return err
	}
	g.up.ServeDocument(w, r, rendered, status, vary, serial...)
	return nil
}

// projectView is the project page a client gets in format: only the files
// larder holds when the upstream cannot be asked. The hit is recorded.
func (g *Registry) projectView(ctx context.Context, project, format string) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
	doc, err := g.up.Document(ctx, g.pageRequest(project))
	if err != nil {
		return nil, "", nil, err
	}
	var rendered *registries.Rendered
	if doc.Degraded || !g.up.Reachable() {
		// The upstream cannot be asked: list only what larder holds, so the
		// installer picks a version it can install.
		rendered, err = g.renderHeld(ctx, doc.Document, project, format)
	}
	if rendered == nil && err == nil {
		key := strings.Join([]string{g.name, project, format, string(doc.Body), g.mount}, "\x00")
		rendered, err = g.up.Env().Renders.Get(key, func() (*registries.Rendered, error) {
			p, err := g.loadProject(ctx, doc.Document)
			if err != nil {
				return nil, err
			}
			return render(p, format, g.filesPrefix(project)), nil
		})
	}
	if err != nil {
		return nil, "", nil, err
	}
	var serial []registries.HeaderLine
	if doc.Serial > 0 {
		serial = []registries.HeaderLine{{Key: "X-Pypi-Last-Serial", Value: strconv.FormatInt(doc.Serial, 10)}}
	}
	g.up.Env().Hits.Add(g.name, project, "")
	return rendered, doc.Status, serial, nil
}

func (g *Registry) renderHeld(ctx context.Context, doc storage.Document, project, format string) (*registries.Rendered, error) {
	held, err := g.up.Store().CachedPaths(ctx, g.name, project)
	if err != nil {
		return nil, err
	}
	// Rendered once for each page and held set: filtering a page of
	// thousands of files on every request made the offline view the
	// slowest page larder served.
	key := strings.Join([]string{g.name, project, format, string(doc.Body), g.mount, "held", registries.HeldKey(held)}, "\x00")
	rendered, err := g.up.Env().Renders.Get(key, func() (*registries.Rendered, error) {
		p, err := g.loadProject(ctx, doc)
		if err != nil {
			return nil, err
		}
		files := p.Files[:0:0]
		for _, f := range p.Files {
			if held[filePath(project, f.Filename)] {
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
		return render(p, format, g.filesPrefix(project)), nil
	})
	if !errors.Is(err, errNothingHeld) {
		return rendered, err
	}
	if g.up.Reachable() {
		return nil, nil // a passing failure with nothing held: serve the stale page
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

// serveFile serves a file or its metadata. A file asked for before its page
// (a cache that lost its rows) makes larder read the page first.
func (g *Registry) serveFile(w http.ResponseWriter, r *http.Request, project, filename string) error {
	path, opts, err := fileArtifact(project, filename)
	if err != nil {
		return err
	}
	project = Normalize(project)
	a, err := g.up.Artifact(r.Context(), path)
	if errors.Is(err, storage.ErrNotFound) {
		if _, perr := g.up.Document(r.Context(), g.pageRequest(project)); perr != nil {
			return perr
		}
		a, err = g.up.Artifact(r.Context(), path)
		if errors.Is(err, storage.ErrNotFound) {
			return registries.ErrNotFound
		}
	}
	if err != nil {
		return err
	}
	return g.up.ServeArtifact(w, r, a, opts)
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
