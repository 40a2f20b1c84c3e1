package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

const (
	defaultPerPage = 50
	maxPerPage     = 1000
	maxPage        = 10_000_000
	maxSearch      = 214 // npm's longest name
)

// listParams are a package list's query parameters, checked.
type listParams struct {
	Q       string
	Prefix  bool
	Sort    storage.PackageSort
	Desc    bool
	Page    int // from 1
	PerPage int
}

// defaultDesc is the direction a sort starts in: names A to Z, numbers and
// dates biggest and latest first.
func defaultDesc(s storage.PackageSort) bool { return s != storage.SortName }

func parseListParams(v url.Values) (listParams, error) {
	p := listParams{Q: strings.TrimSpace(v.Get("q")), Page: 1, PerPage: defaultPerPage}
	if len(p.Q) > maxSearch {
		return p, fmt.Errorf("q: longer than %d characters", maxSearch)
	}
	switch v.Get("match") {
	case "", "contains":
	case "prefix":
		p.Prefix = true
	default:
		return p, fmt.Errorf("match: %q is not contains or prefix", v.Get("match"))
	}
	sort, ok := storage.ParsePackageSort(v.Get("sort"))
	if !ok {
		return p, fmt.Errorf("sort: %q is not name, last_used, size or hits", v.Get("sort"))
	}
	p.Sort = sort
	switch v.Get("dir") {
	case "":
		p.Desc = defaultDesc(sort)
	case "asc":
	case "desc":
		p.Desc = true
	default:
		return p, fmt.Errorf("dir: %q is not asc or desc", v.Get("dir"))
	}
	if s := v.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			return p, fmt.Errorf("page: %q is not a number from 1 to %d", s, maxPage)
		}
		p.Page = n
	}
	if s := v.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPerPage {
			return p, fmt.Errorf("per_page: %q is not a number from 1 to %d", s, maxPerPage)
		}
		p.PerPage = n
	}
	return p, nil
}

// values writes the parameters back, leaving out defaults.
func (p listParams) values(page int) url.Values {
	q := url.Values{}
	if p.Q != "" {
		q.Set("q", p.Q)
	}
	if p.Prefix {
		q.Set("match", "prefix")
	}
	if p.Sort != storage.SortName {
		q.Set("sort", string(p.Sort))
	}
	if p.Desc != defaultDesc(p.Sort) {
		q.Set("dir", dirName(p.Desc))
	}
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	if p.PerPage != defaultPerPage {
		q.Set("per_page", strconv.Itoa(p.PerPage))
	}
	return q
}

func dirName(desc bool) string {
	if desc {
		return "desc"
	}
	return "asc"
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

type packageListView struct {
	Registry string        `json:"registry"`
	Query    string        `json:"q"`
	Match    string        `json:"match"`
	Sort     string        `json:"sort"`
	Dir      string        `json:"dir"`
	Page     int           `json:"page"`
	PerPage  int           `json:"per_page"`
	Pages    int           `json:"pages"`
	Total    int           `json:"total"`
	AsOf     jsonTime      `json:"as_of"`
	Packages []packageItem `json:"packages"`
	Prev     *string       `json:"prev"` // API URLs of the neighbouring pages
	Next     *string       `json:"next"`

	params listParams
	html   string // the registry page's path
}

type packageItem struct {
	Name       string   `json:"name"`
	FirstSeen  jsonTime `json:"first_seen"`
	LastServed jsonTime `json:"last_served"`
	Hits       int64    `json:"hits"`
	Files      int64    `json:"files"`
	Bytes      int64    `json:"bytes"`
	HTMLURL    string   `json:"html_url"`
	URL        string   `json:"url"`
}

func (h *Handler) listPackages(r *http.Request, reg registries.Registry) (packageListView, int, error) {
	p, err := parseListParams(r.URL.Query())
	if err != nil {
		return packageListView{}, http.StatusBadRequest, err
	}
	res, err := h.catalog.List(r.Context(), reg.Name(), storage.PackageQuery{
		Search: p.Q, Prefix: p.Prefix, Sort: p.Sort, Desc: p.Desc,
		Offset: (p.Page - 1) * p.PerPage, Limit: p.PerPage,
	})
	if err != nil {
		return packageListView{}, http.StatusInternalServerError, err
	}
	v := packageListView{
		Registry: reg.Name(), Query: p.Q, Match: "contains", Sort: string(p.Sort), Dir: dirName(p.Desc),
		Page: p.Page, PerPage: p.PerPage, Total: res.Total, AsOf: stamp(res.AsOf),
		Pages:    max(1, (res.Total+p.PerPage-1)/p.PerPage),
		Packages: make([]packageItem, 0, len(res.Packages)),
		params:   p,
		html:     h.registryPath(reg.Name()),
	}
	if p.Prefix {
		v.Match = "prefix"
	}
	for _, row := range res.Packages {
		v.Packages = append(v.Packages, packageItem{
			Name: row.Name, FirstSeen: stamp(row.FirstSeen), LastServed: stamp(row.LastServed),
			Hits: row.Hits, Files: row.Files, Bytes: row.Bytes,
			HTMLURL: h.packagePath(reg.Name(), row.Name),
			URL:     h.apiPackagePath(reg.Name(), row.Name),
		})
	}
	api := h.apiRegistryPath(reg.Name()) + "/packages"
	if p.Page > 1 {
		s := withQuery(api, p.values(min(p.Page-1, v.Pages)))
		v.Prev = &s
	}
	if p.Page < v.Pages {
		s := withQuery(api, p.values(p.Page+1))
		v.Next = &s
	}
	return v, http.StatusOK, nil
}

// PageURL is the registry page's URL for page n of the same list.
func (v packageListView) PageURL(n int) string { return withQuery(v.html, v.params.values(n)) }

// PastTheEnd reports a page number beyond the last page.
func (v packageListView) PastTheEnd() bool { return v.Page > v.Pages }

// FirstIndex is the position of the page's first package, from 1.
func (v packageListView) FirstIndex() int { return (v.Page-1)*v.PerPage + 1 }

// LastIndex is the position of the page's last package.
func (v packageListView) LastIndex() int { return v.FirstIndex() + len(v.Packages) - 1 }

// SortURL is the first page sorted by col: the other direction when the
// list is already sorted by it.
func (v packageListView) SortURL(col string) string {
	p := v.params
	s, _ := storage.ParsePackageSort(col)
	if p.Sort == s {
		p.Desc = !p.Desc
	} else {
		p.Sort, p.Desc = s, defaultDesc(s)
	}
	return withQuery(v.html, p.values(1))
}

// AriaSort is the aria-sort value of column col.
func (v packageListView) AriaSort(col string) string {
	if string(v.params.Sort) != col {
		return "none"
	}
	if v.params.Desc {
		return "descending"
	}
	return "ascending"
}

// HiddenFields are the parameters the search form keeps.
func (v packageListView) HiddenFields() map[string]string {
	f := map[string]string{}
	for k, vs := range v.params.values(1) {
		if k != "q" && k != "match" {
			f[k] = vs[0]
		}
	}
	return f
}

// pageLink is one entry of the pager.
type pageLink struct {
	N       int
	URL     string
	Current bool
	Gap     bool // an ellipsis
}

// Pager lists the first and last pages and those around the current one.
func (v packageListView) Pager() []pageLink {
	if v.Pages <= 1 {
		return nil
	}
	nums := []int{1}
	for n := max(2, v.Page-2); n <= min(v.Pages-1, v.Page+2); n++ {
		nums = append(nums, n)
	}
	nums = append(nums, v.Pages)
	var out []pageLink
	for i, n := range nums {
		if i > 0 && n > nums[i-1]+1 {
			out = append(out, pageLink{Gap: true})
		}
		out = append(out, pageLink{N: n, URL: v.PageURL(n), Current: n == v.Page})
	}
	return out
}

type registryPageView struct {
	Registry registryView
	List     packageListView
}

func (h *Handler) registryPage(w http.ResponseWriter, r *http.Request) {
	reg, ok := h.registry(r)
	if !ok {
		h.noSuchRegistry(w, r)
		return
	}
	list, status, err := h.listPackages(r, reg)
	if status == http.StatusBadRequest {
		h.errorPage(w, r, status, "Bad request", err.Error(), link{h.registryPath(reg.Name()), "All packages of " + reg.Name()})
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	rv, err := h.registryView(r, reg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "registry", page{Title: reg.Name(), Nav: reg.Name(), Data: registryPageView{rv, list}})
}

func (h *Handler) apiPackages(w http.ResponseWriter, r *http.Request) {
	reg, ok := h.registry(r)
	if !ok {
		h.writeJSONError(w, http.StatusNotFound, "no registry named "+strconv.Quote(r.PathValue("registry")))
		return
	}
	list, status, err := h.listPackages(r, reg)
	if err != nil {
		if status == http.StatusInternalServerError {
			h.log.Error("api", "path", r.URL.Path, "err", err)
		}
		h.writeJSONError(w, status, registries.ErrorMessage(err))
		return
	}
	h.writeJSON(w, r, http.StatusOK, list)
}
