package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

func TestOverviewShowsEachRegistryItsHealthTotalsAndDiskFree(t *testing.T) {
	l := newTestLarder(t, "npm", "pypi")
	l.addPackage(t, "npm", "leaf", []storage.Artifact{art("leaf/-/leaf-1.0.0.tgz", "1.0.0", 2048), art("leaf/-/leaf-1.1.0.tgz", "1.1.0", 1024)}, 3, now.Add(-time.Minute))
	l.addPackage(t, "npm", "mid", nil, 0, time.Time{})
	for range 3 {
		l.regs["pypi"].up.Health().Failure(fmt.Errorf("dial tcp: connection refused"))
	}
	r := l.get(t, "/")
	wantPage(t, r, http.StatusOK,
		"<title>Overview · larder</title>",
		`<a href="/r/npm">npm</a>`, `<a href="/r/pypi">pypi</a>`,
		"http://127.0.0.1:9/npm/",
		`<span class="badge">not contacted yet</span>`,
		`<span class="badge bad">down</span> since`,
		"connection refused",
		"answering from the cache",
		"<dt>Packages</dt><dd>2</dd>", "<dt>Files held</dt><dd>2</dd>", "<dt>On disk</dt><dd>3.0 KiB</dd>",
		"<dt>Hit ratio</dt><dd><strong>—</strong> last hour",
		"0 from cache, 0 from upstream",
		"http://mirror.test:7070/npm/",
		"free of",
		`href="/setup#setup-npm"`,
	)
}

func TestAnUpstreamIsUpOnlyOnceItHasAnswered(t *testing.T) {
	l := newTestLarder(t, "npm")
	r := l.get(t, "/")
	wantPage(t, r, http.StatusOK, `<span class="badge">not contacted yet</span> no request has needed it since larder started`)
	wantAbsent(t, r, `<span class="badge ok">up</span>`)
	wantPage(t, l.get(t, "/r/npm"), http.StatusOK, `<span class="badge">not contacted yet</span>`)
	if body := l.get(t, "/api/v1/registries/npm").body; !strings.Contains(body, `"contacted": false`) || !strings.Contains(body, `"last_ok": null`) {
		t.Errorf("the API does not say the upstream was never contacted:\n%s", body)
	}

	l.regs["npm"].up.Health().Success()
	r = l.get(t, "/")
	wantPage(t, r, http.StatusOK, `<span class="badge ok">up</span> · last answered <time`)
	wantAbsent(t, r, "not contacted yet")
	wantPage(t, l.get(t, "/r/npm"), http.StatusOK, `<span class="badge ok">up</span>`)
	if body := l.get(t, "/api/v1/registries/npm").body; !strings.Contains(body, `"contacted": true`) {
		t.Errorf("the API does not say the upstream answered:\n%s", body)
	}
}

func TestOverviewSaysOfflineForAnOfflineRegistry(t *testing.T) {
	l2 := newTestLarder(t, "npm")
	off := registries.NewUpstream(l2.env, registries.Options{Name: "offline", Upstream: l2.regs["npm"].up.Options().Upstream, Offline: true})
	t.Cleanup(off.Close)
	reg := &fakeRegistry{name: "offline", kind: "npm", up: off}
	l2.reconfigure(func(c *Config) { c.Registries = append(c.Registries, reg) })
	wantPage(t, l2.get(t, "/"), http.StatusOK, `<span class="badge warn">offline</span>`)
}

func TestOverviewSaysSuspectAfterOneFailure(t *testing.T) {
	l := newTestLarder(t, "npm")
	// One failure makes the upstream suspect; its probe (of a closed port)
	// fails too, which leaves it short of the three that mark it down.
	l.regs["npm"].up.Health().Failure(fmt.Errorf("proxyconnect tcp: connect time-out"))
	wantPage(t, l.get(t, "/"), http.StatusOK,
		`<span class="badge warn">suspect</span> since <time`,
		"answering stale documents at once while a probe checks it",
		`<span class="lasterr">Last error`)
	wantPage(t, l.get(t, "/r/npm"), http.StatusOK, `<span class="badge warn">suspect</span> since <time`)
}

func fill(t *testing.T, l *testLarder, registry string, n int) {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("pkg-%03d", i)
		l.addPackage(t, registry, name, []storage.Artifact{art(name+"/-/"+name+"-1.0.0.tgz", "1.0.0", int64(100*(i%7)+1))}, int64(i%10), now.Add(-time.Duration(i)*time.Minute))
	}
}

var rowName = regexp.MustCompile(`<td class="name"><a href="[^"]*">([^<]*)</a>`)

func rowNames(body string) []string {
	var out []string
	for _, m := range rowName.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestRegistryPageListsSearchesSortsAndPages(t *testing.T) {
	l := newTestLarder(t, "npm")
	fill(t, l, "npm", 120)
	l.addPackage(t, "npm", "@acme/top", []storage.Artifact{art("@acme/top/-/top-3.0.0.tgz", "3.0.0", 10)}, 0, time.Time{})

	tests := []struct {
		name   string
		target string
		status int
		first  string // first row, "" for none
		rows   int
		wants  []string
	}{
		{"the first page has 50 packages by name", "/r/npm", 200, "@acme/top", 50, []string{"121 packages; showing 1–50.", `aria-current="page">1</a>`, `href="/r/npm?page=2" rel="next"`, `href="/r/npm?page=3">3</a>`}},
		{"a middle page links both ways", "/r/npm?page=2", 200, "pkg-049", 50, []string{"showing 51–100", `href="/r/npm" rel="prev"`, `href="/r/npm?page=3" rel="next"`}},
		{"the last page is short", "/r/npm?page=3", 200, "pkg-099", 21, []string{"showing 101–121", `rel="prev"`}},
		{"a page past the end says so and links to the last", "/r/npm?page=9", 200, "", 0, []string{"There is no page 9", `href="/r/npm?page=3">Go to the last page`}},
		{"per_page sets the page size", "/r/npm?per_page=10&page=13", 200, "pkg-119", 1, []string{"showing 121–121"}},
		{"a substring search", "/r/npm?q=11", 200, "pkg-011", 11, []string{"11 packages contain “11”", `value="11"`, `<a href="/r/npm">Clear</a>`}},
		{"a search ignores case", "/r/npm?q=PKG-11", 200, "pkg-110", 10, nil},
		{"a prefix search", "/r/npm?q=%40acme&match=prefix", 200, "@acme/top", 1, []string{"1 package start with “@acme”", `<option value="prefix" selected>`}},
		{"a search that finds nothing says so", "/r/npm?q=zzz", 200, "", 0, []string{"No package name contains “zzz”"}},
		{"sorting by hits starts with the most", "/r/npm?sort=hits", 200, "pkg-119", 50, []string{`aria-sort="descending"><a href="/r/npm?dir=asc&amp;sort=hits">Hits</a>`}},
		{"sorting by hits ascending", "/r/npm?sort=hits&dir=asc", 200, "@acme/top", 50, nil},
		{"sorting by last use puts the latest first", "/r/npm?sort=last_used", 200, "pkg-001", 50, nil},
		{"sorting by size", "/r/npm?sort=size", 200, "pkg-118", 50, nil},
		{"name descending", "/r/npm?dir=desc", 200, "pkg-119", 50, []string{`aria-sort="descending"><a href="/r/npm">Name</a>`}},
		{"the search keeps the sort", "/r/npm?q=1&sort=hits", 200, "", -1, []string{`<input type="hidden" name="sort" value="hits">`}},
		{"page 0 is a bad request", "/r/npm?page=0", 400, "", 0, []string{"page: &#34;0&#34; is not a number", `href="/r/npm">All packages of npm`}},
		{"a page that is no number", "/r/npm?page=two", 400, "", 0, nil},
		{"a huge page number", "/r/npm?page=99999999999999999999", 400, "", 0, nil},
		{"per_page over the limit", "/r/npm?per_page=1001", 400, "", 0, nil},
		{"an unknown sort", "/r/npm?sort=colour", 400, "", 0, []string{"sort: &#34;colour&#34; is not name"}},
		{"an unknown direction", "/r/npm?dir=up", 400, "", 0, nil},
		{"an unknown match", "/r/npm?match=regex", 400, "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := l.get(t, tt.target)
			wantPage(t, r, tt.status, tt.wants...)
			names := rowNames(r.body)
			if tt.rows >= 0 && len(names) != tt.rows {
				t.Errorf("%d rows, want %d", len(names), tt.rows)
			}
			if tt.first != "" && (len(names) == 0 || names[0] != tt.first) {
				t.Errorf("rows %q, want %s first", names, tt.first)
			}
		})
	}
	t.Run("a registry's own slash redirects", func(t *testing.T) {
		r := l.get(t, "/r/npm/")
		if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/r/npm" {
			t.Errorf("%d %s", r.StatusCode, r.Header.Get("Location"))
		}
	})
}

func TestAnEmptyRegistrySaysHowToFillIt(t *testing.T) {
	l := newTestLarder(t, "npm")
	r := l.get(t, "/r/npm")
	wantPage(t, r, http.StatusOK, "0 packages.", "Nothing here yet", `href="/setup#setup-npm"`)
	wantAbsent(t, r, `class="pager"`)
}

func npmLeaf() registries.PackageInfo {
	return registries.PackageInfo{
		Registry: "npm", Name: "@acme/top",
		Tags:            map[string]string{"latest": "3.0.0", "next": "4.0.0-rc.1"},
		MetadataFetched: now.Add(-5 * time.Minute),
		Versions: []registries.VersionInfo{
			{Version: "4.0.0-rc.1", Published: now.Add(-24 * time.Hour), Files: []registries.FileInfo{{Name: "top-4.0.0-rc.1.tgz", Path: "@acme/top/-/top-4.0.0-rc.1.tgz"}}},
			{Version: "3.0.0", Cached: true, Published: now.Add(-48 * time.Hour), Files: []registries.FileInfo{{
				Name: "top-3.0.0.tgz", Path: "@acme/top/-/top-3.0.0.tgz", Cached: true, Size: 4096,
				SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", FirstFetch: now.Add(-2 * time.Hour), LastServed: now.Add(-3 * time.Minute), Hits: 7,
			}}},
			{Version: "2.0.0", Deprecated: "use 3", Files: []registries.FileInfo{{Name: "top-2.0.0.tgz", Path: "@acme/top/-/top-2.0.0.tgz"}}},
		},
	}
}

func pypiGamma() registries.PackageInfo {
	return registries.PackageInfo{
		Registry: "pypi", Name: "gamma", MetadataFetched: now.Add(-time.Hour),
		Versions: []registries.VersionInfo{
			{Version: "2.0.0", Yanked: true, YankedReason: "broken", RequiresPython: ">=3.8", Files: []registries.FileInfo{
				{Name: "gamma-2.0.0-py3-none-any.whl", Path: "files/gamma/gamma-2.0.0-py3-none-any.whl", Size: 900},
			}},
			{Version: "1.0.0", Cached: true, RequiresPython: ">=3.8", Files: []registries.FileInfo{
				{Name: "gamma-1.0.0-py3-none-any.whl", Path: "files/gamma/gamma-1.0.0-py3-none-any.whl", Cached: true, Size: 800, SHA256: "abc123", FirstFetch: now.Add(-time.Hour), Hits: 2},
				{Name: "gamma-1.0.0.tar.gz", Path: "files/gamma/gamma-1.0.0.tar.gz", Size: 700},
			}},
		},
	}
}

func TestPackagePageShowsVersionsFilesAndDistTags(t *testing.T) {
	l := newTestLarder(t, "npm", "pypi")
	l.regs["npm"].pkgs["@acme/top"] = npmLeaf()
	l.addPackage(t, "npm", "@acme/top", []storage.Artifact{art("@acme/top/-/top-3.0.0.tgz", "3.0.0", 4096)}, 12, now.Add(-3*time.Minute))
	for _, target := range []string{"/r/npm/p/@acme/top", "/r/npm/p/@acme%2Ftop", "/r/npm/p/%40acme/top"} {
		t.Run(target, func(t *testing.T) {
			r := l.get(t, target)
			wantPage(t, r, http.StatusOK,
				"<title>@acme/top · npm · larder</title>",
				`<a href="/r/npm">npm</a> › <span aria-current="page">@acme/top</span>`,
				`<dt>Metadata refreshed</dt><dd><time datetime="2025-06-01T11:55:00Z" title="2025-06-01 11:55:00 UTC">5 minutes ago</time>`,
				"3 known, 1 cached",
				"<dt>Hits</dt><dd>12; last served",
				`<tr><td>latest</td><td><a href="#v-3.0.0">3.0.0</a></td></tr>`,
				`<tr><td>next</td><td><a href="#v-4.0.0-rc.1">4.0.0-rc.1</a></td></tr>`,
				`<tbody id="v-3.0.0" class="cached">`,
				`<span class="badge ok">cached</span>`, `<span class="badge">not cached</span>`,
				`<a href="http://mirror.test:7070/npm/@acme/top/-/top-3.0.0.tgz" download>top-3.0.0.tgz</a>`,
				"4.0 KiB", `title="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"`,
				`<span class="badge warn">deprecated</span> <span class="reason">use 3</span>`,
				"(fetched on download)",
				`<a href="/api/v1/registries/npm/packages/@acme/top">`,
			)
			// Newest first, as Describe gave them.
			if a, b := strings.Index(r.body, `id="v-4.0.0-rc.1"`), strings.Index(r.body, `id="v-2.0.0"`); a < 0 || b < a {
				t.Error("versions are not newest first")
			}
		})
	}
	t.Run("cached only", func(t *testing.T) {
		r := l.get(t, "/r/npm/p/@acme/top?cached=1")
		wantPage(t, r, http.StatusOK, "<strong>cached only (1)</strong>", `id="v-3.0.0"`)
		wantAbsent(t, r, `id="v-2.0.0"`)
	})
	t.Run("pypi: yanked and requires-python", func(t *testing.T) {
		l.regs["pypi"].pkgs["gamma"] = pypiGamma()
		r := l.get(t, "/r/pypi/p/gamma")
		wantPage(t, r, http.StatusOK,
			"<th scope=\"col\">Requires Python</th>", "<code>&gt;=3.8</code>",
			`<span class="badge bad">yanked</span> <span class="reason">broken</span>`,
			`rowspan="2"`, "gamma-1.0.0.tar.gz", "900 B",
			`href="http://mirror.test:7070/pypi/files/gamma/gamma-1.0.0-py3-none-any.whl"`,
		)
		wantAbsent(t, r, "Dist-tags", "<th scope=\"col\" class=\"wide\">Published</th>")
	})
	t.Run("metadata never fetched says never", func(t *testing.T) {
		info := pypiGamma()
		info.MetadataFetched = time.Time{}
		l.regs["pypi"].pkgs["gamma"] = info
		wantPage(t, l.get(t, "/r/pypi/p/gamma"), http.StatusOK, `<dt>Metadata refreshed</dt><dd><span class="never">never</span>`)
	})
}

func TestUnknownThingsAre404PagesWithAWayBack(t *testing.T) {
	l := newTestLarder(t, "npm")
	tests := []struct {
		target string
		wants  []string
	}{
		{"/r/nope", []string{"No such registry", "no registry named “nope”", `<a href="/">Back to the overview</a>`}},
		{"/r/nope/p/leaf", []string{"No such registry"}},
		{"/r/npm/p/left-pad", []string{"Package not found", "larder holds nothing of “left-pad” in npm", `href="/r/npm?q=left-pad"`, `<a href="/r/npm">All packages of npm</a>`, `<a href="/">Back to the overview</a>`}},
		{"/r/npm/p/", []string{"Package not found"}},
		{"/no/such/page", []string{"Page not found", "There is no page at /no/such/page."}},
		{"/static/nothing.css", nil},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := l.get(t, tt.target)
			if tt.target == "/static/nothing.css" {
				if r.StatusCode != http.StatusNotFound {
					t.Errorf("status %d", r.StatusCode)
				}
				return
			}
			wantPage(t, r, http.StatusNotFound, tt.wants...)
		})
	}
}

func TestAFailingDescribeIsAnErrorPageNotAStackTrace(t *testing.T) {
	l := newTestLarder(t, "npm")
	l.regs["npm"].err = errBoom
	r := l.get(t, "/r/npm/p/leaf")
	wantPage(t, r, http.StatusInternalServerError, "Something went wrong", "the disk caught fire", "Back to the overview")
	wantAbsent(t, r, "goroutine", ".go:")
	var e struct{ Error string }
	if getJSON(t, l, "/api/v1/registries/npm/packages/leaf", 500, &e); e.Error != "the disk caught fire" {
		t.Errorf("API error %q", e.Error)
	}
}

// hostile are names no registry accepts, but a database may hold (an import,
// a bug): every page must show them as text.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(2)>`,
	`javascript:alert(3)`,
}

func TestHostileNamesAreEscapedEverywhere(t *testing.T) {
	l := newTestLarder(t, "npm")
	for _, name := range hostile {
		l.addPackage(t, "npm", name, nil, 1, now)
		l.regs["npm"].pkgs[name] = registries.PackageInfo{
			Name: name, Tags: map[string]string{"<b>tag</b>": "<i>1</i>"},
			Versions: []registries.VersionInfo{{Version: "<i>1</i>", Yanked: true, YankedReason: "<script>alert(4)</script>", RequiresPython: "<3", Deprecated: "<u>old</u>",
				Files: []registries.FileInfo{{Name: "<img src=y>", Path: `"><script>alert(5)</script>`, Cached: true, SHA256: "<sha>"}}}},
		}
	}
	unsafe := []string{"<script>alert", "<img src=", `onerror=alert(2)>`, "<b>tag", "<i>1", "<u>old", `href="javascript:`}
	pages := []string{"/r/npm", "/r/npm?q=%3Cscript%3E", "/r/npm?q=%22%3E%3Cimg%20src%3Dx%3E"}
	for _, name := range hostile {
		pages = append(pages, "/r/npm/p/"+escapeSegments(name))
	}
	for _, p := range pages {
		t.Run(p, func(t *testing.T) {
			r := l.get(t, p)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("status %d", r.StatusCode)
			}
			wantAbsent(t, r, unsafe...)
		})
	}
	r := l.get(t, "/r/npm")
	wantPage(t, r, http.StatusOK, "&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;")
	r = l.get(t, "/r/npm/p/"+escapeSegments(hostile[0]))
	wantPage(t, r, http.StatusOK, "<h1 class=\"pkg\">&lt;script&gt;alert(1)&lt;/script&gt;</h1>", "&lt;script&gt;alert(4)&lt;/script&gt;")
	// An unknown hostile name on the 404 page, and in the API.
	r = l.get(t, "/r/npm/p/%3Cscript%3Ealert(9)%3C%2Fscript%3E")
	wantPage(t, r, http.StatusNotFound, "&lt;script&gt;alert(9)&lt;/script&gt;")
	wantAbsent(t, r, "<script>alert(9)")
	for _, p := range []string{"/api/v1/registries/npm/packages", "/api/v1/registries/npm/packages/" + escapeSegments(hostile[0]), "/api/v1/registries/npm/packages/%3Cscript%3E"} {
		r := l.get(t, p)
		if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<img") {
			t.Errorf("%s: JSON holds raw markup:\n%s", p, r.body)
		}
	}
}

func TestSetupGivesEachRegistrysSnippetsForTheAddressInUse(t *testing.T) {
	l := newTestLarder(t, "npm", "pypi")
	r := l.get(t, "/setup")
	wantPage(t, r, http.StatusOK,
		`<section class="setup" id="setup-npm"`, `<section class="setup" id="setup-pypi"`,
		"<pre><code>npm config set registry http://mirror.test:7070/npm/</code></pre>",
		"<pre><code>export INDEX=http://mirror.test:7070/pypi/</code></pre>",
		`<p class="note">for pypi</p>`,
		"the address this page was opened at",
		`<script src="/static/app.js?v=`,
	)
	t.Run("public_url wins, and prefixes the UI's links", func(t *testing.T) {
		l.reconfigure(func(c *Config) { c.PublicURL = "https://mirror.example.com/larder/" })
		r := l.get(t, "/setup")
		wantPage(t, r, http.StatusOK,
			"npm config set registry https://mirror.example.com/larder/npm/",
			"the <code>public_url</code> larder is configured with",
			`<a href="/larder/r/npm">`, `href="/larder/static/style.css?v=`,
		)
	})
}

func TestTheAPIAnswersWhatThePagesShow(t *testing.T) {
	l := newTestLarder(t, "npm", "pypi")
	fill(t, l, "npm", 7)
	l.regs["npm"].pkgs["@acme/top"] = npmLeaf()
	l.addPackage(t, "npm", "@acme/top", []storage.Artifact{art("@acme/top/-/top-3.0.0.tgz", "3.0.0", 4096)}, 0, time.Time{})

	var regs struct {
		Registries []struct {
			Name, Kind, URL, Upstream string
			Packages, Files, Bytes    int64
			Health                    struct{ Up bool }
			Traffic                   struct {
				Hour struct {
					Cached   int64
					HitRatio *float64 `json:"hit_ratio"`
				} `json:"last_hour"`
			}
			Setup       []struct{ Client, Shell string }
			PackagesURL string `json:"packages_url"`
		}
		Disk *struct {
			Free  int64 `json:"free_bytes"`
			Total int64 `json:"total_bytes"`
		}
	}
	getJSON(t, l, "/api/v1/registries", 200, &regs)
	if len(regs.Registries) != 2 || regs.Registries[0].Name != "npm" || regs.Registries[0].Packages != 8 || regs.Registries[0].Files != 8 ||
		regs.Registries[0].URL != "http://mirror.test:7070/npm/" || !regs.Registries[0].Health.Up || regs.Registries[0].Traffic.Hour.HitRatio != nil ||
		regs.Registries[0].PackagesURL != "/api/v1/registries/npm/packages" || len(regs.Registries[0].Setup) != 2 {
		t.Errorf("registries: %+v", regs)
	}
	if regs.Disk == nil || regs.Disk.Free <= 0 || regs.Disk.Total < regs.Disk.Free {
		t.Errorf("disk: %+v", regs.Disk)
	}

	var one struct{ Name string }
	getJSON(t, l, "/api/v1/registries/pypi", 200, &one)
	if one.Name != "pypi" {
		t.Errorf("one registry: %+v", one)
	}

	type list struct {
		Total, Page, Pages int
		PerPage            int `json:"per_page"`
		Sort, Dir, Match   string
		Packages           []struct {
			Name, URL string
			HTMLURL   string `json:"html_url"`
			Bytes     int64
		}
		Prev, Next *string
	}
	tests := []struct {
		target             string
		total, pages, rows int
		first, prev, next  string
	}{
		{"/api/v1/registries/npm/packages", 8, 1, 8, "@acme/top", "", ""},
		{"/api/v1/registries/npm/packages?per_page=3", 8, 3, 3, "@acme/top", "", "/api/v1/registries/npm/packages?page=2&per_page=3"},
		{"/api/v1/registries/npm/packages?per_page=3&page=3", 8, 3, 2, "pkg-005", "/api/v1/registries/npm/packages?page=2&per_page=3", ""},
		{"/api/v1/registries/npm/packages?per_page=3&page=4", 8, 3, 0, "", "/api/v1/registries/npm/packages?page=3&per_page=3", ""},
		{"/api/v1/registries/npm/packages?per_page=3&page=2&sort=size&dir=asc", 8, 3, 3, "pkg-003", "/api/v1/registries/npm/packages?dir=asc&per_page=3&sort=size", "/api/v1/registries/npm/packages?dir=asc&page=3&per_page=3&sort=size"},
		{"/api/v1/registries/npm/packages?q=PKG-00&match=prefix", 7, 1, 7, "pkg-000", "", ""},
		{"/api/v1/registries/npm/packages?q=nothing", 0, 1, 0, "", "", ""},
		{"/api/v1/registries/npm/packages?per_page=1000", 8, 1, 8, "@acme/top", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			var got list
			getJSON(t, l, tt.target, 200, &got)
			if got.Total != tt.total || got.Pages != tt.pages || len(got.Packages) != tt.rows || got.Packages == nil {
				t.Errorf("total %d pages %d rows %d (%v), want %d %d %d", got.Total, got.Pages, len(got.Packages), got.Packages, tt.total, tt.pages, tt.rows)
			}
			if tt.first != "" && (len(got.Packages) == 0 || got.Packages[0].Name != tt.first) {
				t.Errorf("packages %+v, want %s first", got.Packages, tt.first)
			}
			if s := deref(got.Prev); s != tt.prev {
				t.Errorf("prev %q, want %q", s, tt.prev)
			}
			if s := deref(got.Next); s != tt.next {
				t.Errorf("next %q, want %q", s, tt.next)
			}
		})
	}
	var got list
	getJSON(t, l, "/api/v1/registries/npm/packages?per_page=1", 200, &got)
	if p := got.Packages[0]; p.URL != "/api/v1/registries/npm/packages/@acme/top" || p.HTMLURL != "/r/npm/p/@acme/top" || p.Bytes != 4096 {
		t.Errorf("a row: %+v", p)
	}
	if got.Sort != "name" || got.Dir != "asc" || got.Match != "contains" || got.PerPage != 1 {
		t.Errorf("echoed query: %+v", got)
	}

	for _, target := range []string{"/api/v1/registries/npm/packages/@acme/top", "/api/v1/registries/npm/packages/@acme%2Ftop"} {
		var pkg struct {
			Name     string
			Tags     map[string]string `json:"dist_tags"`
			Files    int64
			Bytes    int64
			Versions []struct {
				Version string
				Cached  bool
				Files   []struct {
					URL        string
					SHA256     string
					LastServed *string `json:"last_served"`
					FirstFetch *string `json:"first_fetched"`
				}
			}
			MetadataFetched string `json:"metadata_fetched"`
		}
		getJSON(t, l, target, 200, &pkg)
		if pkg.Name != "@acme/top" || pkg.Tags["latest"] != "3.0.0" || len(pkg.Versions) != 3 || pkg.Files != 1 || pkg.Bytes != 4096 ||
			pkg.MetadataFetched != "2025-06-01T11:55:00Z" {
			t.Errorf("%s: %+v", target, pkg)
			continue
		}
		v := pkg.Versions[1]
		if !v.Cached || v.Files[0].URL != "http://mirror.test:7070/npm/@acme/top/-/top-3.0.0.tgz" || v.Files[0].FirstFetch == nil {
			t.Errorf("version 3.0.0: %+v", v)
		}
		if pkg.Versions[0].Files[0].LastServed != nil {
			t.Errorf("a file never served has last_served %v, want null", *pkg.Versions[0].Files[0].LastServed)
		}
	}

	for _, tt := range []struct {
		target string
		status int
	}{
		{"/api/v1/registries/nope", 404},
		{"/api/v1/registries/nope/packages", 404},
		{"/api/v1/registries/nope/packages/leaf", 404},
		{"/api/v1/registries/npm/packages/left-pad", 404},
		{"/api/v1/registries/npm/packages?page=0", 400},
		{"/api/v1/registries/npm/packages?per_page=0", 400},
		{"/api/v1/registries/npm/packages?per_page=1001", 400},
		{"/api/v1/registries/npm/packages?sort=random", 400},
		{"/api/v1/nothing", 404},
		{"/api/v2/registries", 404},
	} {
		var e struct{ Error string }
		getJSON(t, l, tt.target, tt.status, &e)
		if e.Error == "" {
			t.Errorf("%s: no error message", tt.target)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func getJSON(t *testing.T, l *testLarder, target string, status int, v any) {
	t.Helper()
	r := l.get(t, target)
	if r.StatusCode != status {
		t.Errorf("%s: status %d, want %d\n%s", target, r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", target, ct)
	}
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Errorf("%s: %v\n%s", target, err, r.body)
	}
}

func TestAssetsAreEmbeddedAndCachedForGood(t *testing.T) {
	l := newTestLarder(t, "npm")
	page := l.get(t, "/")
	for _, name := range []string{"style.css", "app.js", "favicon.svg"} {
		p, _ := assetPath(name)
		if !strings.Contains(page.body, strings.ReplaceAll(p, "&", "&amp;")) {
			t.Errorf("the page does not link %s", p)
		}
		r := l.get(t, p)
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || len(r.body) == 0 {
			t.Errorf("%s: %d %q", p, r.StatusCode, r.Header.Get("Cache-Control"))
		}
		if stale := l.get(t, "/static/"+name+"?v=old"); stale.Header.Get("Cache-Control") != "public, max-age=300" {
			t.Errorf("%s with an old version: %q", name, stale.Header.Get("Cache-Control"))
		}
	}
	if r := l.get(t, "/static/style.css"); r.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("CSS type %q", r.Header.Get("Content-Type"))
	}
	if r := l.get(t, "/favicon.ico"); r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("favicon.ico: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	csp := page.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	if page.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
}

func TestEveryPageAnswersHEADAndRefusesPOST(t *testing.T) {
	l := newTestLarder(t, "npm")
	fill(t, l, "npm", 1)
	for _, p := range []string{"/", "/setup", "/r/npm", "/api/v1/registries", "/api/v1/registries/npm/packages"} {
		if r := l.do(t, http.MethodHead, p); r.StatusCode != 200 || r.body != "" {
			t.Errorf("HEAD %s: %d with %d bytes", p, r.StatusCode, len(r.body))
		}
		if r := l.do(t, http.MethodPost, p); r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d", p, r.StatusCode)
		}
	}
}

func TestPagesAreWholeDocumentsThatLinkTheirNeighbours(t *testing.T) {
	l := newTestLarder(t, "npm", "pypi")
	fill(t, l, "npm", 3)
	l.regs["npm"].pkgs["pkg-001"] = npmLeaf()
	for _, p := range []string{"/", "/setup", "/r/npm", "/r/npm/p/pkg-001", "/r/nope"} {
		r := l.get(t, p)
		for _, want := range []string{"<!DOCTYPE html>", `<html lang="en">`, `<meta name="viewport"`, `<main id="main">`, "</html>",
			`<a href="/r/npm"`, `<a href="/r/pypi"`, `<a href="/setup"`, `rel="icon"`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("%s lacks %q", p, want)
			}
		}
		if strings.Contains(r.body, " style=") || strings.Contains(r.body, "<style") || strings.Contains(r.body, "<script>") {
			t.Errorf("%s has inline style or script, which the CSP refuses", p)
		}
	}
	r := l.get(t, "/r/npm")
	wantPage(t, r, http.StatusOK, `<a href="/r/npm" aria-current="page">npm</a>`, `<a href="/r/npm/p/pkg-001">pkg-001</a>`)
}

func TestWarmReadsThePackageListsAheadAndPagesAnswerFromThem(t *testing.T) {
	l := newTestLarder(t, "npm")
	fill(t, l, "npm", 2)
	l.reconfigure(func(c *Config) { c.CatalogMaxAge = time.Hour })
	l.h.Warm(t.Context())
	wantPage(t, l.get(t, "/r/npm"), http.StatusOK, "2 packages; showing 1–2.")
	// However fresh the list read ahead, a package larder fetches after it
	// is listed at once, as the summary above the list counts it.
	fill(t, l, "npm", 3)
	wantPage(t, l.get(t, "/r/npm"), http.StatusOK, "3 packages, 3 files held", "3 packages; showing 1–3.", `<a href="/r/npm/p/pkg-002">pkg-002</a>`)
	// The package page reads the database, not the list.
	l.regs["npm"].pkgs["pkg-002"] = npmLeaf()
	wantPage(t, l.get(t, "/r/npm/p/pkg-002"), http.StatusOK, "@acme/top")
}
