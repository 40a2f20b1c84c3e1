package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"

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
}

type versionView struct {
	Version        string     `json:"version"`
	Cached         bool       `json:"cached"`
	Yanked         bool       `json:"yanked"`
	YankedReason   string     `json:"yanked_reason,omitempty"`
	RequiresPython string     `json:"requires_python,omitempty"`
	Deprecated     string     `json:"deprecated,omitempty"`
	Published      jsonTime   `json:"published"`
	Files          []fileView `json:"files"`
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
		Versions: make([]versionView, 0, len(info.Versions)),
		HTMLURL:  h.packagePath(reg.Name(), info.Name),
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
	for _, vi := range info.Versions {
		vv := versionView{
			Version: vi.Version, Cached: vi.Cached, Yanked: vi.Yanked, YankedReason: vi.YankedReason,
			RequiresPython: vi.RequiresPython, Deprecated: vi.Deprecated, Published: stamp(vi.Published),
			Files: make([]fileView, 0, len(vi.Files)),
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
	if r.URL.Query().Get("cached") == "1" {
		v.CachedOnly = true
		kept := v.Versions[:0]
		for _, vv := range v.Versions {
			if vv.Cached {
				kept = append(kept, vv)
			}
		}
		v.Versions = kept
	}
	h.render(w, r, http.StatusOK, "package", page{Title: v.Name + " · " + reg.Name(), Nav: reg.Name(), Data: v})
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
