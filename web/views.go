package web

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/larder-mirror/larder/registries"
)

// The views below are both the JSON the API answers and what the pages'
// templates read: a page shows nothing a script could not get.

// jsonTime is a time that encodes as RFC 3339 (UTC), or null when zero.
type jsonTime struct{ time.Time }

func (t jsonTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}

func stamp(t time.Time) jsonTime { return jsonTime{t} }

type overviewView struct {
	Registries []registryView `json:"registries"`
	Disk       *diskView      `json:"disk"` // null when unknown
	PublicURL  string         `json:"public_url,omitempty"`
}

type diskView struct {
	Free  int64 `json:"free_bytes"`
	Total int64 `json:"total_bytes"`
}

// UsedPercent is how full the volume is, for the page.
func (d diskView) UsedPercent() int {
	if d.Total <= 0 {
		return 0
	}
	return int(100 - d.Free*100/d.Total)
}

type registryView struct {
	Name     string        `json:"name"`
	Kind     string        `json:"kind"`
	URL      string        `json:"url"` // what clients point at
	Upstream string        `json:"upstream"`
	Offline  bool          `json:"offline"`
	Health   healthView    `json:"health"`
	Packages int64         `json:"packages"`
	Files    int64         `json:"files"`
	Bytes    int64         `json:"bytes"`
	Traffic  trafficView   `json:"traffic"`
	Setup    []snippetView `json:"setup"`
	HTMLURL  string        `json:"html_url"`
	APIURL   string        `json:"packages_url"`
	// MinReleaseAge is the registry's release-age policy ("3d"), "" for
	// none.
	MinReleaseAge string `json:"min_release_age,omitempty"`

	// For the set-up page: the same clients on a /@{date}/ view.
	ViewURL   string        `json:"-"`
	ViewSetup []snippetView `json:"-"`
}

type healthView struct {
	Up bool `json:"up"`
	// Status is up, suspect (a failure in the last window, a probe
	// deciding), down or offline.
	Status      string   `json:"status"`
	Since       jsonTime `json:"since"` // null while up since start
	DownSince   jsonTime `json:"down_since"`
	LastError   string   `json:"last_error"`
	LastErrorAt jsonTime `json:"last_error_at"`
	// Contacted is false until larder's first exchange with the upstream
	// since it started: up then means only that nothing has failed.
	Contacted bool     `json:"contacted"`
	LastOK    jsonTime `json:"last_ok"` // the last answer; null: none since start
}

type trafficView struct {
	Hour windowView `json:"last_hour"`
	Day  windowView `json:"last_day"`
	Week windowView `json:"last_week"`
	// Series are the charts' bars: "day" (half hours) and "week" (3 hours).
	Series map[string]seriesView `json:"series"`
	Charts []chartView           `json:"-"`
}

type chartView struct {
	Title string
	SVG   template.HTML
}

// windowView counts requests for documents and files answered from the
// cache (HIT, REVALIDATED, STALE) and from the upstream (MISS).
type windowView struct {
	Cached   int64    `json:"cached"`
	Upstream int64    `json:"upstream"`
	HitRatio *float64 `json:"hit_ratio"` // null when nothing was served
}

func window(t registries.TrafficTotals) windowView {
	w := windowView{Cached: t.Cached, Upstream: t.Upstream}
	if r := t.Ratio(); r >= 0 {
		w.HitRatio = &r
	}
	return w
}

type snippetView struct {
	Client string `json:"client"`
	Shell  string `json:"shell"`
	Note   string `json:"note,omitempty"`
}

func newHealthView(st registries.HealthState, offline bool) healthView {
	v := healthView{Up: st.Up && !offline, Status: string(st.Status), Since: stamp(st.Since),
		DownSince: stamp(st.DownSince), LastError: st.LastError, LastErrorAt: stamp(st.LastErrAt),
		Contacted: st.Contacted, LastOK: stamp(st.LastOK)}
	if offline {
		v.Status = "offline"
	}
	return v
}

func (h *Handler) registryView(r *http.Request, reg registries.Registry) (registryView, error) {
	up := reg.Upstream()
	opts := up.Options()
	st := up.Health().State()
	now := h.now()
	v := registryView{
		Name:    reg.Name(),
		Kind:    reg.Kind(),
		URL:     h.registryBase(r, reg),
		Offline: opts.Offline,
		Health:  newHealthView(st, opts.Offline),
		Traffic: trafficView{
			Hour:   window(up.Traffic().Since(time.Hour, now)),
			Day:    window(up.Traffic().Since(24*time.Hour, now)),
			Week:   window(up.Traffic().Since(registries.TrafficDays*24*time.Hour, now)),
			Series: map[string]seriesView{},
		},
		HTMLURL: h.registryPath(reg.Name()),
		APIURL:  h.apiRegistryPath(reg.Name()) + "/packages",
	}
	if opts.Upstream != nil {
		v.Upstream = opts.Upstream.Redacted()
	}
	for _, spec := range charts {
		s := newSeries(up.Traffic(), spec, now, "chart-"+spec.Name+"-"+reg.Name())
		v.Traffic.Series[spec.Name] = s
		v.Traffic.Charts = append(v.Traffic.Charts, chartView{Title: spec.Title, SVG: s.SVG})
	}
	for _, s := range reg.ClientSetup(v.URL) {
		v.Setup = append(v.Setup, snippetView(s))
	}
	tot, err := h.catalog.Totals(r.Context(), reg.Name())
	if err != nil {
		return v, err
	}
	v.Packages, v.Files, v.Bytes = tot.Packages, tot.Files, tot.Bytes
	return v, nil
}

func (h *Handler) overview(r *http.Request) (overviewView, error) {
	v := overviewView{PublicURL: h.publicURL}
	for _, reg := range h.cfg.Registries {
		rv, err := h.registryView(r, reg)
		if err != nil {
			return v, err
		}
		v.Registries = append(v.Registries, rv)
	}
	if h.cfg.DataDir != "" {
		if free, total, ok := diskSpace(h.cfg.DataDir); ok {
			v.Disk = &diskView{Free: free, Total: total}
		}
	}
	return v, nil
}

func (h *Handler) overviewPage(w http.ResponseWriter, r *http.Request) {
	v, err := h.overview(r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: v})
}

func (h *Handler) apiRegistries(w http.ResponseWriter, r *http.Request) {
	v, err := h.overview(r)
	if err != nil {
		h.log.Error("api", "path", r.URL.Path, "err", err)
		h.writeJSONError(w, http.StatusInternalServerError, registries.ErrorMessage(err))
		return
	}
	if v.Registries == nil {
		v.Registries = []registryView{}
	}
	h.writeJSON(w, r, http.StatusOK, v)
}

func (h *Handler) apiRegistry(w http.ResponseWriter, r *http.Request) {
	reg, ok := h.registry(r)
	if !ok {
		h.writeJSONError(w, http.StatusNotFound, "no registry named "+strconv.Quote(r.PathValue("registry")))
		return
	}
	v, err := h.registryView(r, reg)
	if err != nil {
		h.log.Error("api", "path", r.URL.Path, "err", err)
		h.writeJSONError(w, http.StatusInternalServerError, registries.ErrorMessage(err))
		return
	}
	h.writeJSON(w, r, http.StatusOK, v)
}

type setupView struct {
	Origin     string         `json:"origin"`
	FromConfig bool           `json:"from_public_url"`
	Registries []registryView `json:"registries"`
}

func (h *Handler) setupPage(w http.ResponseWriter, r *http.Request) {
	v := setupView{Origin: h.origin(r), FromConfig: h.publicURL != ""}
	for _, reg := range h.cfg.Registries {
		rv := registryView{Name: reg.Name(), Kind: reg.Kind(), URL: h.registryBase(r, reg), HTMLURL: h.registryPath(reg.Name())}
		for _, s := range reg.ClientSetup(rv.URL) {
			rv.Setup = append(rv.Setup, snippetView(s))
		}
		if age := reg.Upstream().Options().MinReleaseAge; age > 0 {
			rv.MinReleaseAge = registries.FormatAge(age)
		}
		// A view three days back: the cooldown any team can have without
		// configuration.
		rv.ViewURL = strings.TrimSuffix(rv.URL, reg.Name()+"/") + "@P3D/" + reg.Name() + "/"
		for _, s := range reg.ClientSetup(rv.ViewURL) {
			rv.ViewSetup = append(rv.ViewSetup, snippetView(s))
		}
		v.Registries = append(v.Registries, rv)
	}
	h.render(w, r, http.StatusOK, "setup", page{Title: "Set-up", Nav: "setup", Data: v})
}

// query rebuilds a query string from pairs, leaving out empty values.
func query(pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
