package web

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

type packageView struct {
	Registry        string            `json:"registry"`
	Kind            string            `json:"kind"`
	Name            string            `json:"name"`
	MetadataFetched jsonTime          `json:"metadata_fetched"` // null: larder holds no metadata
	Tags            map[string]string `json:"dist_tags,omitempty"`
	Hits            int64             `json:"hits"`
	LastServed      jsonTime          `json:"last_served"`
	FirstSeen       jsonTime          `json:"first_seen"`
	Files           int64             `json:"files"` // files held
	Bytes           int64             `json:"bytes"`
	CachedVersions  int               `json:"cached_versions"`
	Versions        []versionView     `json:"versions"` // newest first
	HTMLURL         string            `json:"html_url"`
	// PinConflicts are the upstream's attempts to change the bytes of a
	// version larder holds; larder kept serving the pinned ones.
	PinConflicts []pinConflictView `json:"pin_conflicts"`

	// What the package says of itself (untrusted text, as published).
	Description  string `json:"description,omitempty"`
	License      string `json:"license,omitempty"`
	Homepage     string `json:"homepage,omitempty"`   // http(s) only
	Repository   string `json:"repository,omitempty"` // http(s) only
	Readme       string `json:"readme,omitempty"`
	ReadmeFormat string `json:"readme_format,omitempty"` // markdown, rst, text

	// For the page.
	RegistryURL  string `json:"-"`
	APIURL       string `json:"-"`
	CachedOnly   bool   `json:"-"`
	AllURL       string `json:"-"`
	CachedURL    string `json:"-"`
	AllVersions  int    `json:"-"`
	AnyYanked    bool   `json:"-"`
	AnyPython    bool   `json:"-"`
	AnyPublished bool   `json:"-"`
	HeldFirst    bool   `json:"-"` // the held versions come first, then the rest
	// Selected is the version whose install command and dependencies
	// the page shows (?v=, else the newest held, else the newest).
	Selected   *versionView `json:"-"`
	ReadmeView readmeView   `json:"-"`
}

type versionView struct {
	Version        string   `json:"version"`
	Cached         bool     `json:"cached"`
	Yanked         bool     `json:"yanked"`
	YankedReason   string   `json:"yanked_reason,omitempty"`
	RequiresPython string   `json:"requires_python,omitempty"`
	Deprecated     string   `json:"deprecated,omitempty"`
	Published      jsonTime `json:"published"`
	// HeldBack: min_release_age holds the version back (some of its files,
	// for PyPI) until HeldBackUntil.
	HeldBack      bool       `json:"held_back"`
	HeldBackUntil jsonTime   `json:"held_back_until"`
	Files         []fileView `json:"files"`
	Install       string     `json:"install,omitempty"`
	// Dependencies is null when larder holds no metadata that says them.
	Dependencies []dependencyView `json:"dependencies"`

	// For the page.
	SelectURL string `json:"-"`
	DepsKnown bool   `json:"-"`
}

type dependencyView struct {
	Name       string `json:"name"`
	Constraint string `json:"constraint"`
	Note       string `json:"note,omitempty"`
	HTMLURL    string `json:"html_url"` // its page in this registry
}

type pinConflictView struct {
	Path      string   `json:"path"`
	Pinned    string   `json:"pinned_integrity"`
	Offered   string   `json:"offered_integrity"`
	FirstSeen jsonTime `json:"first_seen"`
	LastSeen  jsonTime `json:"last_seen"`
	Times     int64    `json:"times"`
}

type fileView struct {
	Name        string   `json:"name"`
	Path        string   `json:"path"`
	URL         string   `json:"url"` // download through larder
	Cached      bool     `json:"cached"`
	Size        int64    `json:"size"` // 0 when unknown
	SHA256      string   `json:"sha256,omitempty"`
	FirstFetch  jsonTime `json:"first_fetched"`
	LastServed  jsonTime `json:"last_served"`
	Hits        int64    `json:"hits"`
	Integrity   string   `json:"integrity,omitempty"`
	UpstreamURL string   `json:"upstream_url,omitempty"`
}

// describe builds a package's view; the error wraps registries.ErrNotFound
// when larder holds nothing of it.
func (h *Handler) describe(ctx context.Context, r *http.Request, reg registries.Registry, name string) (packageView, error) {
	if name == "" {
		return packageView{}, registries.ErrNotFound
	}
	info, err := reg.Describe(ctx, name)
	if err != nil {
		return packageView{}, err
	}
	v := packageView{
		Registry: reg.Name(), Kind: reg.Kind(), Name: info.Name,
		MetadataFetched: stamp(info.MetadataFetched), Tags: info.Tags,
		Versions:    make([]versionView, 0, len(info.Versions)),
		HTMLURL:     h.packagePath(reg.Name(), info.Name),
		Description: info.Description, License: info.License,
		Homepage: safeURL(info.Homepage), Repository: safeURL(info.Repository),
		Readme: info.Readme, ReadmeFormat: info.ReadmeFormat,
	}
	if strings.HasPrefix(v.Homepage, "mailto:") {
		v.Homepage = ""
	}
	if strings.HasPrefix(v.Repository, "mailto:") {
		v.Repository = ""
	}
	if v.Name == "" {
		v.Name = name
	}
	// The catalog's row is under the name the ecosystem stores; try both.
	for _, n := range []string{info.Name, name} {
		if row, err := h.cfg.Store.Package(ctx, reg.Name(), n); err == nil {
			v.Hits, v.LastServed, v.FirstSeen = row.Hits, stamp(row.LastServed), stamp(row.FirstSeen)
			break
		} else if !errors.Is(err, storage.ErrNotFound) {
			return v, err
		}
	}
	conflicts, err := h.cfg.Store.PinConflicts(ctx, reg.Name(), v.Name)
	if err != nil {
		return v, err
	}
	v.PinConflicts = []pinConflictView{}
	for _, c := range conflicts {
		v.PinConflicts = append(v.PinConflicts, pinConflictView{Path: c.Path, Pinned: c.Pinned, Offered: c.Offered,
			FirstSeen: stamp(c.FirstSeen), LastSeen: stamp(c.LastSeen), Times: c.Times})
	}
	base := h.registryBase(r, reg)
	heldBack, err := reg.Upstream().HeldBackVersions(ctx, v.Name)
	if err != nil {
		return v, err
	}
	for _, vi := range info.Versions {
		vv := versionView{
			Version: vi.Version, Cached: vi.Cached, Yanked: vi.Yanked, YankedReason: vi.YankedReason,
			RequiresPython: vi.RequiresPython, Deprecated: vi.Deprecated, Published: stamp(vi.Published),
			Files: make([]fileView, 0, len(vi.Files)), Install: vi.Install,
		}
		if until, ok := heldBack[vi.Version]; ok {
			vv.HeldBack, vv.HeldBackUntil = true, stamp(until)
		}
		if vi.DependenciesKnown {
			vv.DepsKnown = true
			vv.Dependencies = make([]dependencyView, 0, len(vi.Dependencies))
			for _, d := range vi.Dependencies {
				vv.Dependencies = append(vv.Dependencies, dependencyView{Name: d.Name, Constraint: d.Constraint, Note: d.Note,
					HTMLURL: h.packagePath(reg.Name(), d.Name)})
			}
		}
		for _, f := range vi.Files {
			vv.Files = append(vv.Files, fileView{
				Name: f.Name, Path: f.Path, URL: base + f.Path, Cached: f.Cached, Size: f.Size, SHA256: f.SHA256,
				FirstFetch: stamp(f.FirstFetch), LastServed: stamp(f.LastServed), Hits: f.Hits,
				Integrity: f.Integrity, UpstreamURL: f.UpstreamURL,
			})
			if f.Cached {
				v.Files++
				v.Bytes += f.Size
			}
		}
		if vv.Cached {
			v.CachedVersions++
		}
		v.AnyYanked = v.AnyYanked || vv.Yanked
		v.AnyPython = v.AnyPython || vv.RequiresPython != ""
		v.AnyPublished = v.AnyPublished || !vi.Published.IsZero()
		v.Versions = append(v.Versions, vv)
	}
	return v, nil
}

func (h *Handler) packagePage(w http.ResponseWriter, r *http.Request) {
	reg, ok := h.registry(r)
	if !ok {
		h.noSuchRegistry(w, r)
		return
	}
	name := r.PathValue("name")
	v, err := h.describe(r.Context(), r, reg, name)
	if errors.Is(err, registries.ErrNotFound) {
		h.notFound(w, r, "Package not found",
			"larder holds nothing of “"+name+"” in "+reg.Name()+": no install has asked for it through larder yet.",
			link{h.registryPath(reg.Name()) + query("q", name), "Search " + reg.Name() + " for “" + name + "”"},
			link{h.registryPath(reg.Name()), "All packages of " + reg.Name()})
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	v.RegistryURL = h.registryPath(reg.Name())
	v.APIURL = h.apiPackagePath(reg.Name(), v.Name)
	v.AllVersions = len(v.Versions)
	v.AllURL = v.HTMLURL
	v.CachedURL = v.HTMLURL + "?cached=1"
	v.AllURL = v.HTMLURL + "?cached=0"
	q := r.URL.Query()
	for i := range v.Versions {
		v.Versions[i].SelectURL = v.HTMLURL + query("cached", q.Get("cached"), "v", v.Versions[i].Version) + "#version"
	}
	v.selectVersion(q.Get("v"))
	switch q.Get("cached") {
	case "1":
		v.CachedOnly = true
	case "":
		// With a few versions held among many, the held ones are what a
		// visitor looks for.
		v.CachedOnly = v.CachedVersions > 0 && v.AllVersions-v.CachedVersions > manyUnheld
	}
	if v.CachedOnly {
		kept := make([]versionView, 0, v.CachedVersions)
		for _, vv := range v.Versions {
			if vv.Cached {
				kept = append(kept, vv)
			}
		}
		v.Versions = kept
	} else if v.CachedVersions > 0 && v.CachedVersions < v.AllVersions {
		// Held versions first, each group newest first.
		v.HeldFirst = true
		sort.SliceStable(v.Versions, func(i, j int) bool { return v.Versions[i].Cached && !v.Versions[j].Cached })
	}
	if v.Readme != "" {
		v.ReadmeView = renderReadme(v.Readme, v.ReadmeFormat)
	}
	h.render(w, r, http.StatusOK, "package", page{Title: v.Name + " · " + reg.Name(), Nav: reg.Name(), Data: v})
}

// manyUnheld is how many versions larder does not hold before the page
// shows the held ones only, unless asked for all.
const manyUnheld = 10

// selectVersion picks the version whose details the page shows: the one
// asked for, else the newest held, else the newest.
func (v *packageView) selectVersion(asked string) {
	pick := func(match func(versionView) bool) bool {
		for _, vv := range v.Versions {
			if match(vv) {
				v.Selected = &vv
				return true
			}
		}
		return false
	}
	_ = pick(func(vv versionView) bool { return asked != "" && vv.Version == asked }) ||
		pick(func(vv versionView) bool { return vv.Cached }) ||
		pick(func(versionView) bool { return true })
}

func (h *Handler) apiPackage(w http.ResponseWriter, r *http.Request) {
	reg, ok := h.registry(r)
	if !ok {
		h.writeJSONError(w, http.StatusNotFound, "no registry named "+strconv.Quote(r.PathValue("registry")))
		return
	}
	name := r.PathValue("name")
	v, err := h.describe(r.Context(), r, reg, name)
	if errors.Is(err, registries.ErrNotFound) {
		h.writeJSONError(w, http.StatusNotFound, "larder holds nothing of "+strconv.Quote(name)+" in "+reg.Name())
		return
	}
	if err != nil {
		h.log.Error("api", "path", r.URL.Path, "err", err)
		h.writeJSONError(w, http.StatusInternalServerError, registries.ErrorMessage(err))
		return
	}
	h.writeJSON(w, r, http.StatusOK, v)
}
