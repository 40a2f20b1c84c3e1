package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// hostileReadme is a README written to run code, load remote things or
// steal a click, in every way Markdown allows.
const hostileReadme = "# Title\n\n" +
	"<script>alert(1)</script>\n\n" +
	"<img src=\"http://evil.test/track.png\" onerror=\"alert(2)\">\n\n" +
	"<iframe src=\"http://evil.test/\"></iframe>\n\n" +
	"<a href=\"javascript:alert(3)\" onclick=\"alert(4)\">raw link</a>\n\n" +
	"[js link](javascript:alert(5)) [JS upper](JAVASCRIPT:alert(6)) [data link](data:text/html;base64,PHNjcmlwdD4=)\n\n" +
	"[vb](vbscript:msgbox) [tab](java\tscript:alert(7)) [entity](&#106;avascript:alert(8))\n\n" +
	"![remote image](http://evil.test/pixel.gif) ![data image](data:image/png;base64,iVBORw0KGgo=)\n\n" +
	"[![badge](https://img.test/badge.svg)](https://ci.test/build)\n\n" +
	"<div onmouseover=\"alert(9)\" style=\"position:fixed\">styled</div>\n\n" +
	"<svg><script>alert(10)</script></svg>\n\n" +
	"<style>body{display:none}</style>\n\n" +
	"<form action=\"http://evil.test/\"><input name=q></form>\n\n" +
	"A [good link](https://example.test/docs \"Docs\") and <https://auto.test/x> and a [relative](docs/x.md).\n\n" +
	"```js\nconsole.log(\"<b>not bold</b>\")\n```\n"

func TestReadmesAreRenderedWithoutAnythingThatRunsOrLoads(t *testing.T) {
	got := string(renderReadme(hostileReadme, "markdown").HTML)
	lower := strings.ToLower(got)
	for _, bad := range []string{
		"<script", "onerror", "onclick", "onmouseover", "<iframe", "javascript:", "vbscript:",
		"data:", "<img", "<svg", "<style", "style=", "<form", "<input", "<div",
		`href="docs/x.md"`,
	} {
		if strings.Contains(lower, bad) {
			t.Errorf("the rendered README holds %q:\n%s", bad, got)
		}
	}
	for _, want := range []string{
		"<h3>Title</h3>",
		`<a href="https://example.test/docs" title="Docs" rel="noopener noreferrer nofollow">good link</a>`,
		`<a href="https://auto.test/x" rel="noopener noreferrer nofollow">https://auto.test/x</a>`,
		// An image is a link to it, never loaded.
		`<a class="img" href="http://evil.test/pixel.gif" rel="noopener noreferrer nofollow">[remote image]</a>`,
		// Inside a link, only its text.
		`<a href="https://ci.test/build" rel="noopener noreferrer nofollow"><span class="img">[badge]</span></a>`,
		`<span class="img">[data image]</span>`,
		"js link", "raw link", "relative",
		`<code class="language-js">console.log(&#34;&lt;b&gt;not bold&lt;/b&gt;&#34;)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the rendered README lacks %q:\n%s", want, got)
		}
	}
}

func TestTheSanitiserKeepsOnlyItsAllowList(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"an event handler on an allowed element", `<p onclick="x()">a</p>`, `<p>a</p>`},
		{"a class that is not a language", `<code class="x onload">a</code>`, `<code>a</code>`},
		{"a link inside a link", `<a href="https://a.test/"><a href="https://b.test/">b</a></a>`, `<a href="https://a.test/" rel="noopener noreferrer nofollow"></a><a href="https://b.test/" rel="noopener noreferrer nofollow">b</a>`},
		{"a link's own rel and target", `<a href="https://a.test/" rel="opener" target="_blank">a</a>`, `<a href="https://a.test/" rel="noopener noreferrer nofollow">a</a>`},
		{"a protocol-relative link", `<a href="//evil.test/">a</a>`, `a`},
		{"an object", `<object data="x.swf"><p>fallback</p></object>`, ``},
		{"a comment", `<!-- <script>alert(1)</script> -->ok`, `ok`},
		{"a quote in a URL", `<a href="https://a.test/&quot;onclick=&quot;x">a</a>`, `<a href="https://a.test/%22onclick=%22x" rel="noopener noreferrer nofollow">a</a>`},
		{"a heading sits below the page's", `<h1>a</h1><h6>b</h6>`, `<h3>a</h3><h6>b</h6>`},
		{"a list start that is not a number", `<ol start="1;x"><li>a</li></ol>`, `<ol><li>a</li></ol>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitizeHTML(tt.in); got != tt.want {
				t.Errorf("sanitizeHTML(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadmesInOtherFormatsAreShownAsText(t *testing.T) {
	v := renderReadme("Title\n=====\n\n.. raw:: html\n\n   <script>alert(1)</script>\n", "rst")
	if v.HTML != "" || !strings.Contains(v.Text, "<script>") {
		t.Errorf("rst: %+v", v)
	}
	long := renderReadme(strings.Repeat("a", maxReadme+10), "markdown")
	if !long.Truncated {
		t.Error("a huge README is not cut")
	}
}

func TestPackagePageShowsAboutInstallDependenciesAndTheReadme(t *testing.T) {
	l := newTestLarder(t, "npm", "pypi")
	info := npmLeaf()
	info.Description = "The top <b>package</b>"
	info.License = "MIT"
	info.Homepage = "https://top.test/"
	info.Repository = "javascript:alert(1)"
	info.Readme, info.ReadmeFormat = hostileReadme, "markdown"
	for i := range info.Versions {
		info.Versions[i].Install = "npm install @acme/top@" + info.Versions[i].Version
	}
	info.Versions[1].Dependencies = []registries.Dependency{{Name: "@acme/util", Constraint: "^1.0.0"}, {Name: "leaf", Constraint: "~2", Note: "optional"}}
	info.Versions[1].DependenciesKnown = true
	l.regs["npm"].pkgs["@acme/top"] = info
	l.addPackage(t, "npm", "@acme/top", []storage.Artifact{art("@acme/top/-/top-3.0.0.tgz", "3.0.0", 4096)}, 1, now)

	r := l.get(t, "/r/npm/p/@acme/top")
	wantPage(t, r, http.StatusOK,
		`<p class="description">The top &lt;b&gt;package&lt;/b&gt;</p>`,
		`<dt>License</dt><dd>MIT</dd>`,
		`<dt>Homepage</dt><dd><a class="url" href="https://top.test/" rel="noopener noreferrer nofollow">https://top.test/</a></dd>`,
		// The newest held version is the one shown.
		`<h2 id="h-version">Version 3.0.0</h2>`,
		`<pre><code>npm install @acme/top@3.0.0</code></pre>`,
		`<li><a href="/r/npm/p/@acme/util">@acme/util</a> <code>^1.0.0</code></li>`,
		`<li><a href="/r/npm/p/leaf">leaf</a> <code>~2</code> <span class="reason">optional</span></li>`,
		`<h2 id="h-readme">README</h2>`, `<div class="markdown"><h3>Title</h3>`,
	)
	wantAbsent(t, r, "<dt>Repository</dt>", "<script>alert", "javascript:", "onerror", "http://evil.test/track.png")

	t.Run("another version is chosen by a link in the table", func(t *testing.T) {
		r := l.get(t, "/r/npm/p/@acme/top?v=2.0.0")
		wantPage(t, r, http.StatusOK,
			`<h2 id="h-version">Version 2.0.0 <span class="badge">not cached</span></h2>`,
			`<pre><code>npm install @acme/top@2.0.0</code></pre>`,
			"larder holds no metadata of 2.0.0 that lists them.",
			`<a href="/r/npm/p/@acme/top?v=4.0.0-rc.1#version"`,
		)
	})
	t.Run("the API gives the same", func(t *testing.T) {
		r := l.get(t, "/api/v1/registries/npm/packages/@acme/top")
		for _, want := range []string{`"license": "MIT"`, `"install": "npm install @acme/top@3.0.0"`, `"readme_format": "markdown"`,
			`"name": "leaf"`, `"note": "optional"`, `"dependencies": null`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("the API lacks %s", want)
			}
		}
		if strings.Contains(r.body, `"repository"`) {
			t.Error("the API gives a javascript: repository")
		}
	})
}

func TestHeldVersionsComeFirstAndAloneWhenFewAreHeld(t *testing.T) {
	l := newTestLarder(t, "npm")
	info := npmLeaf() // 4.0.0-rc.1, 3.0.0 (held), 2.0.0
	l.regs["npm"].pkgs["@acme/top"] = info
	l.addPackage(t, "npm", "@acme/top", nil, 0, now)
	r := l.get(t, "/r/npm/p/@acme/top")
	wantPage(t, r, http.StatusOK, "<strong>all 3</strong>, cached first", `<th colspan="10" scope="rowgroup">Not cached</th>`)
	held, rc, old := strings.Index(r.body, `id="v-3.0.0"`), strings.Index(r.body, `id="v-4.0.0-rc.1"`), strings.Index(r.body, `id="v-2.0.0"`)
	if !(held < rc && rc < old) {
		t.Errorf("order: held %d, rc %d, old %d: want the held one first, then newest first", held, rc, old)
	}

	// Many versions, one held: only it, unless all are asked for.
	for i := 0; i < manyUnheld+1; i++ {
		v := "1.0." + string(rune('a'+i))
		info.Versions = append(info.Versions, registries.VersionInfo{Version: v, Files: []registries.FileInfo{{Name: "top-" + v + ".tgz", Path: "@acme/top/-/top-" + v + ".tgz"}}})
	}
	l.regs["npm"].pkgs["@acme/top"] = info
	r = l.get(t, "/r/npm/p/@acme/top")
	wantPage(t, r, http.StatusOK, "<strong>cached only (1)</strong>", `id="v-3.0.0"`, `<a href="/r/npm/p/@acme/top?cached=0">all 14</a>`)
	wantAbsent(t, r, `id="v-2.0.0"`)
	r = l.get(t, "/r/npm/p/@acme/top?cached=0")
	wantPage(t, r, http.StatusOK, "<strong>all 14</strong>", `id="v-2.0.0"`, `id="v-1.0.k"`)
}
