package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// chromiumPath is Debian's chromium, which `make deps` installs.
const chromiumPath = "/usr/bin/chromium"

// browser is a headless Chromium with a fresh profile, and every console
// error, uncaught exception and failed load the pages cause.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is not installed; run `make deps` (or `make test`, which installs it)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// No traffic of its own: the network is closed, and chromium
		// retries what fails.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, base: base}
	// The first action starts the browser; it must not carry a time-out.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s (%s)", m.String(), m.URL))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// open loads a path of larder's and waits for an element of the page.
func (b *browser) open(t *testing.T, path, waitFor string) {
	t.Helper()
	b.do(t, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) attr(t *testing.T, sel, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil || !a.Exists {
		t.Fatalf("%s of %s: %v (exists %v)", name, sel, err, a.Exists)
	}
	return a.Value
}

func (b *browser) eval(t *testing.T, js string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return ok
}

// wantText checks that the element's visible text holds every want.
func (b *browser) wantText(t *testing.T, sel string, wants ...string) {
	t.Helper()
	got := b.text(t, sel)
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not show %q; it shows:\n%s", sel, w, got)
		}
	}
}

// screenshot keeps the whole page as out/web-NAME.png: test output to look at.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll("out", 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join("out", "web-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: e2e/%s", p)
}

// noConsoleErrors fails on anything the pages wrote to the console as an
// error since the last call (a failed load, a CSP refusal, an exception).
func (b *browser) noConsoleErrors(t *testing.T) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // let late events arrive
	b.mu.Lock()
	errs := b.errors
	b.errors = nil
	b.mu.Unlock()
	for _, e := range errs {
		t.Errorf("console: %s", e)
	}
}

// rows are the package names a registry page lists.
func (b *browser) rows(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.packages td.name a"), a => a.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestWebUIInABrowserOverALarderFilledByNpmAndPip(t *testing.T) {
	npmUp := npmtest.New()
	defer npmUp.Close()
	publishGraph(npmUp)
	pyUp := pypitest.New()
	defer pyUp.Close()
	publishPython(pyUp)
	l := startLarder(t, npmConfig(npmUp, "")+pypiConfig(pyUp, ""))

	// Fill it the way users do.
	c := newProject(t, graphPackageJSON)
	c.mustRun(l.URL+"/npm/", "npm", "install", "--no-audit")
	newPip(t, l.URL+"/pypi/simple/").mustRun("install", "--target", filepath.Join(t.TempDir(), "site"), "alpha", "gamma")
	// A warm install, so that the cache has hits to count.
	c.removeNodeModules()
	c.freshCache()
	c.mustRun(l.URL+"/npm/", "npm", "ci", "--no-audit")

	b := newBrowser(t, l.URL)
	percent := regexp.MustCompile(`\d+(\.\d)?% last hour`)

	t.Run("the overview shows each registry, its upstream's health and what it holds", func(t *testing.T) {
		b.open(t, "/", "section.card")
		b.wantText(t, "#registry-npm", "npm", npmUp.URL, "up", "Packages\n4", "Files held\n5", "last day", "from cache")
		b.wantText(t, "#registry-pypi", "pypi", pyUp.IndexURL, "up", "Packages\n3")
		if got := b.text(t, "#registry-npm"); !percent.MatchString(got) {
			t.Errorf("no hit ratio for npm after a warm install:\n%s", got)
		}
		b.wantText(t, "main", "Data volume:", "free of")
		// The traffic of the installs, charted on the server.
		for _, id := range []string{"chart-day-npm", "chart-week-npm", "chart-day-pypi"} {
			if !b.eval(t, `document.querySelectorAll("svg#`+id+` rect").length > 0`) {
				t.Errorf("the chart %s has no bars after installs", id)
			}
		}
		b.screenshot(t, "overview")
		b.noConsoleErrors(t)
	})

	t.Run("clicking goes from the overview to a registry to a package", func(t *testing.T) {
		b.open(t, "/", "section.card")
		b.do(t, chromedp.Click(chromedp.CSS("#h-npm a")), chromedp.WaitVisible(chromedp.CSS("table.packages")))
		if got := b.rows(t); strings.Join(got, " ") != "@acme/top @acme/util leaf mid" {
			t.Errorf("npm lists %q", got)
		}
		b.wantText(t, "#count", "4 packages")
		b.screenshot(t, "registry-npm")
		b.do(t, chromedp.Click(chromedp.CSS(`td.name a[href="/r/npm/p/@acme/top"]`)), chromedp.WaitVisible(chromedp.CSS("h1.pkg")))
		b.wantText(t, "h1", "@acme/top")
		b.wantText(t, "main", "Dist-tags", "latest", "3.0.0", "cached", "top-3.0.0.tgz", "Metadata refreshed")
		// What the package says of itself, how to install the version
		// held, what it depends on, and its README.
		b.wantText(t, "dl.facts", "License", "MIT")
		b.wantText(t, "#version", "Version 3.0.0", "npm install @acme/top@3.0.0", "@acme/util", "^1.0.0", "mid", "^2.0.0")
		b.wantText(t, "#readme", "README", "@acme/top")
		if got := b.attr(t, `#version ul.deps a[href="/r/npm/p/mid"]`, "href"); got != "/r/npm/p/mid" {
			t.Errorf("the dependency mid links to %q", got)
		}
		href := b.attr(t, `tbody[id="v-3.0.0"] td.file a`, "href")
		if href != l.URL+"/npm/@acme/top/-/top-3.0.0.tgz" {
			t.Errorf("download link %q", href)
		}
		resp, err := http.Get(href)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Larder-Cache") != "HIT" {
			t.Errorf("the download link: %d %s", resp.StatusCode, resp.Header.Get("X-Larder-Cache"))
		}
		b.screenshot(t, "package-npm")
		// Back up through the breadcrumbs.
		b.do(t, chromedp.Click(chromedp.CSS(`nav.crumbs a[href="/r/npm"]`)), chromedp.WaitVisible(chromedp.CSS("table.packages")))
		b.noConsoleErrors(t)
	})

	t.Run("search finds packages by substring and by prefix", func(t *testing.T) {
		b.open(t, "/r/npm", "form.search")
		b.do(t,
			chromedp.SendKeys(chromedp.CSS("#q"), "ACME"),
			chromedp.Click(chromedp.CSS("form.search button")),
			chromedp.WaitVisible(chromedp.CSS("form.search a")), // "Clear" shows with a query
		)
		if got := b.rows(t); strings.Join(got, " ") != "@acme/top @acme/util" {
			t.Errorf("searching ACME lists %q", got)
		}
		b.wantText(t, "#count", "2 packages contain “ACME”")
		b.screenshot(t, "search")
		b.do(t,
			chromedp.Navigate(l.URL+"/r/npm"),
			chromedp.SendKeys(chromedp.CSS("#q"), "le"),
			chromedp.SetValue(chromedp.CSS(`select[name="match"]`), "prefix"),
			chromedp.Click(chromedp.CSS("form.search button")),
			chromedp.WaitVisible(chromedp.CSS("form.search a")),
		)
		if got := b.rows(t); strings.Join(got, " ") != "leaf" {
			t.Errorf("names starting with le: %q", got)
		}
		b.noConsoleErrors(t)
	})

	t.Run("a PyPI project shows its yanked release and requires-python", func(t *testing.T) {
		b.open(t, "/r/pypi", "table.packages")
		if got := b.rows(t); strings.Join(got, " ") != "alpha beta gamma" {
			t.Errorf("pypi lists %q", got)
		}
		b.do(t, chromedp.Click(chromedp.CSS(`td.name a[href="/r/pypi/p/gamma"]`)), chromedp.WaitVisible(chromedp.CSS("h1.pkg")))
		b.wantText(t, `tbody[id="v-2.0.0"]`, "yanked", "broken", "not cached")
		b.wantText(t, `tbody[id="v-1.0.0"]`, "cached", "gamma-1.0.0-py3-none-any.whl")
		b.wantText(t, "#version", "Version 1.0.0", "pip install gamma==1.0.0")
		// The held version comes first.
		if !b.eval(t, `(() => { const ids = Array.from(document.querySelectorAll("table.versions tbody[id]"), e => e.id); return ids.indexOf("v-1.0.0") < ids.indexOf("v-2.0.0") })()`) {
			t.Error("the held version 1.0.0 is not listed before 2.0.0")
		}
		b.screenshot(t, "package-pypi")
		b.open(t, "/r/pypi/p/alpha", "h1.pkg")
		b.wantText(t, "table.versions", "Requires Python", ">=3.8")
		// Its dependencies, from the core metadata pip fetched (PEP 658).
		b.wantText(t, "#version", "pip install alpha==1.0.0", "beta", ">=1.0")
		b.noConsoleErrors(t)
	})

	t.Run("set-up gives every client's snippet for this address, with a copy button", func(t *testing.T) {
		b.open(t, "/setup", "#setup-npm")
		b.wantText(t, "#setup-npm",
			"npm config set registry "+l.URL+"/npm/",
			"pnpm config set registry "+l.URL+"/npm/",
			"yarn config set registry "+l.URL+"/npm/")
		b.wantText(t, "#setup-pypi",
			"pip config set global.index-url "+l.URL+"/pypi/simple/",
			"UV_DEFAULT_INDEX="+l.URL+"/pypi/simple/",
			"poetry source add --priority=primary larder "+l.URL+"/pypi/simple/")
		b.do(t, chromedp.WaitVisible(chromedp.CSS("#setup-npm button.copy")), chromedp.Click(chromedp.CSS("#setup-npm button.copy")))
		if !b.eval(t, `new Promise(r => setTimeout(() => r(["Copied", "Select and copy"].includes(document.querySelector("#setup-npm button.copy").textContent)), 300))`) {
			t.Error("the copy button did not answer")
		}
		b.screenshot(t, "setup")
		b.noConsoleErrors(t)
	})

	t.Run("an unknown package is a 404 page with a way back", func(t *testing.T) {
		resp, err := http.Get(l.URL + "/r/npm/p/no-such-package")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
		b.open(t, "/r/npm/p/no-such-package", "ul.ways")
		b.wantText(t, "main", "Package not found", "no-such-package")
		b.screenshot(t, "not-found")
		b.do(t, chromedp.Click(chromedp.CSS(`ul.ways a[href="/"]`)), chromedp.WaitVisible(chromedp.CSS("section.card")))
		// The 404 of the page itself is what was asked for; nothing else may fail.
		b.mu.Lock()
		kept := b.errors[:0]
		for _, e := range b.errors {
			if !strings.Contains(e, "404") || !strings.Contains(e, "no-such-package") {
				kept = append(kept, e)
			}
		}
		b.errors = kept
		b.mu.Unlock()
		b.noConsoleErrors(t)
	})

	t.Run("pages fit a phone and a 4K screen", func(t *testing.T) {
		b.do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile))
		for _, p := range []struct{ path, wait, name string }{
			{"/", "section.card", "phone-overview"},
			{"/r/npm", "table.packages", "phone-registry"},
			{"/r/npm/p/@acme/top", "h1.pkg", "phone-package"},
			{"/r/pypi/p/gamma", "h1.pkg", "phone-package-pypi"},
		} {
			b.open(t, p.path, p.wait)
			if !b.eval(t, `document.documentElement.scrollWidth <= window.innerWidth`) {
				t.Errorf("%s is wider than a phone's screen", p.path)
			}
			// A file name keeps the width of the screen: at most two
			// lines, never a letter a line.
			if !b.eval(t, `Array.from(document.querySelectorAll("td.file a")).every(a => a.getClientRects().length <= 2 && a.closest("td").getBoundingClientRect().width > window.innerWidth * 0.6)`) {
				t.Errorf("%s: a file name wraps on a phone", p.path)
			}
			b.screenshot(t, p.name)
		}
		b.do(t, chromedp.EmulateViewport(3840, 2160))
		b.open(t, "/", "section.card")
		b.screenshot(t, "4k-overview")
		b.do(t, chromedp.ResetViewport())
		b.noConsoleErrors(t)
	})
}
