package pypi

import (
	"strings"
	"testing"
)

func TestMergeNamesUnitesByNormalizedNameAndSorts(t *testing.T) {
	for _, tc := range []struct {
		why  string
		a, b []string
		want []string
	}{
		{"two lists are united and sorted by normalized name",
			[]string{"requests", "Django"}, []string{"numpy"},
			[]string{"Django", "numpy", "requests"}},
		{"a name in both lists is listed once, as the first list spells it",
			[]string{"Foo_Bar"}, []string{"foo-bar", "foo.bar"},
			[]string{"Foo_Bar"}},
		{"invalid names are dropped",
			[]string{"ok", "-bad", "../x", ""}, []string{"b\u212a"},
			[]string{"ok"}},
		{"empty lists give an empty list",
			nil, nil,
			[]string{}},
		{"sorting is by normalized name, not by spelling",
			[]string{"b", "A_c", "a-b"}, nil,
			[]string{"a-b", "A_c", "b"}},
	} {
		got := mergeNames(tc.a, tc.b)
		if got == nil || !sameStrings(got, tc.want) {
			t.Errorf("%s: mergeNames(%q, %q) = %q, want %q", tc.why, tc.a, tc.b, got, tc.want)
		}
	}
}

func TestParseRootReadsBothFormats(t *testing.T) {
	for _, tc := range []struct {
		why, contentType, body string
		want                   []string
	}{
		{"a PEP 691 JSON root", "application/vnd.pypi.simple.v1+json",
			`{"meta":{"api-version":"1.1","_last-serial":9},"projects":[{"name":"Django","_last-serial":3},{"name":"foo.bar"}]}`,
			[]string{"Django", "foo.bar"}},
		{"a PEP 503 HTML root", "text/html; charset=utf-8",
			"<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Simple index</title></head><body>\n" +
				"<a href=\"/simple/django/\">Django</a>\n<a href=\"/simple/foo-bar/\">foo.bar</a>\n<a href=\"/simple/a-b/\">a&amp;b</a>\n</body></html>",
			[]string{"Django", "foo.bar", "a&b"}},
		{"a root without a Content-Type is HTML", "",
			`<a href="/simple/x/">x</a>`,
			[]string{"x"}},
		{"an empty JSON root", "application/json", `{"meta":{"api-version":"1.0"},"projects":[]}`, []string{}},
	} {
		got, err := parseRoot([]byte(tc.body), tc.contentType)
		if err != nil {
			t.Errorf("%s: %v", tc.why, err)
			continue
		}
		if !sameStrings(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.why, got, tc.want)
		}
	}
}

func TestParseRootRefusesMalformedLists(t *testing.T) {
	for _, tc := range []struct{ why, contentType, body string }{
		{"invalid JSON", "application/json", `{"projects":[`},
		{"HTML that is not UTF-8", "text/html", "<a href=\"/simple/x/\">\xff</a>"},
		{"HTML of repository version 2", "text/html", `<meta name="pypi:repository-version" content="2.0"><a href="/simple/x/">x</a>`},
	} {
		if got, err := parseRoot([]byte(tc.body), tc.contentType); err == nil {
			t.Errorf("%s: accepted, gave %q", tc.why, got)
		}
	}
}

func TestRenderRootLinksEveryProjectByNormalizedName(t *testing.T) {
	g := &Registry{mount: "/pypi"}
	names := []string{"Django", "foo.bar", "a<b"}
	html := string(g.renderRoot(names, mediaHTML).Body)
	for _, want := range []string{
		`<a href="/pypi/simple/django/">Django</a>`,
		`<a href="/pypi/simple/foo-bar/">foo.bar</a>`,
		`<a href="/pypi/simple/a&lt;b/">a&lt;b</a>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("root page lacks %s:\n%s", want, html)
		}
	}
	back, err := parseRoot(g.renderRoot(names, mediaJSON).Body, mediaJSON)
	if err != nil || !sameStrings(back, names) {
		t.Errorf("JSON root read back as %q, %v", back, err)
	}
	back, err = parseRoot([]byte(html), mediaHTML)
	if err != nil || !sameStrings(back, names) {
		t.Errorf("HTML root read back as %q, %v", back, err)
	}
}
