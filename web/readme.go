package web

import (
	"bytes"
	"html/template"
	"net/url"
	"regexp"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// A README is whatever a package's author published: the UI renders it as
// untrusted. Markdown goes through goldmark without its unsafe option (raw
// HTML in the source is dropped, not passed through), then every element of
// the result through an allow-list: only plain text markup survives, links
// keep only http, https and mailto addresses and open with
// rel="noopener noreferrer nofollow", and images become links to them, so
// the page loads nothing from elsewhere. The page's Content-Security-Policy
// (no inline script, images from larder only) stands behind this.
// Other formats (reStructuredText, plain text) are shown as text.

// maxReadme bounds what is rendered; the rest is cut with a note.
const maxReadme = 512 << 10

var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// readmeView is a README ready for the page: HTML when it was rendered,
// Text otherwise.
type readmeView struct {
	HTML      template.HTML
	Text      string
	Truncated bool
}

// renderReadme renders a README of format ("markdown", "rst", "text", "").
func renderReadme(src, format string) readmeView {
	var v readmeView
	if len(src) > maxReadme {
		src, v.Truncated = src[:maxReadme], true
	}
	if format != "markdown" {
		v.Text = src
		return v
	}
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(src), &buf); err != nil {
		v.Text = src
		return v
	}
	v.HTML = template.HTML(sanitizeHTML(buf.String()))
	return v
}

// sanitizeHTML keeps the allowed elements and attributes of an HTML
// fragment and drops everything else.
func sanitizeHTML(fragment string) string {
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(fragment), ctx)
	if err != nil {
		return template.HTMLEscapeString(fragment)
	}
	var s sanitizer
	for _, n := range nodes {
		s.node(n)
	}
	return s.out.String()
}

type sanitizer struct {
	out    strings.Builder
	inLink int // depth of open <a> elements: no link inside a link
}

// allowed are the elements kept, with the attributes each may keep
// (checked further by attr).
var allowed = map[atom.Atom][]string{
	atom.P: nil, atom.Br: nil, atom.Hr: nil,
	atom.H1: nil, atom.H2: nil, atom.H3: nil, atom.H4: nil, atom.H5: nil, atom.H6: nil,
	atom.Em: nil, atom.Strong: nil, atom.B: nil, atom.I: nil, atom.Del: nil, atom.S: nil,
	atom.Code: {"class"}, atom.Pre: nil, atom.Kbd: nil, atom.Sup: nil, atom.Sub: nil,
	atom.Blockquote: nil, atom.Ul: nil, atom.Ol: {"start"}, atom.Li: nil,
	atom.Dl: nil, atom.Dt: nil, atom.Dd: nil,
	atom.Table: nil, atom.Thead: nil, atom.Tbody: nil, atom.Tr: nil, atom.Th: nil, atom.Td: nil,
	atom.A:       {"href", "title"},
	atom.Details: nil, atom.Summary: nil,
}

// dropped are elements removed with everything inside them.
var dropped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Iframe: true, atom.Object: true, atom.Embed: true,
	atom.Template: true, atom.Noscript: true, atom.Svg: true, atom.Math: true, atom.Form: true,
	atom.Textarea: true, atom.Select: true, atom.Button: true, atom.Input: true, atom.Frame: true,
	atom.Frameset: true, atom.Applet: true, atom.Audio: true, atom.Video: true, atom.Link: true,
	atom.Meta: true, atom.Base: true, atom.Title: true, atom.Head: true, atom.Picture: true, atom.Source: true,
}

var languageClass = regexp.MustCompile(`^language-[A-Za-z0-9_+-]{1,40}$`)

// rel is what every link of a README carries: the target gets no handle on
// the page, no referrer, and no endorsement.
const rel = "noopener noreferrer nofollow"

func (s *sanitizer) node(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		s.out.WriteString(html.EscapeString(n.Data))
		return
	case html.ElementNode:
	default: // comments, doctypes
		return
	}
	if dropped[n.DataAtom] || n.DataAtom == 0 && strings.Contains(n.Data, ":") {
		return
	}
	if n.DataAtom == atom.Img {
		s.image(n)
		return
	}
	attrs, ok := allowed[n.DataAtom]
	if !ok || n.DataAtom == atom.A && s.inLink > 0 {
		s.children(n) // an unknown wrapper: keep its text
		return
	}
	var href string
	if n.DataAtom == atom.A {
		href = safeURL(attrOf(n, "href"))
		if href == "" {
			s.children(n) // a link to nowhere safe is its text
			return
		}
	}
	tag := n.DataAtom.String()
	if h := headingLevel(n.DataAtom); h > 0 {
		// The page has its own h1 and h2: a README's headings sit below.
		tag = "h" + string(rune('0'+min(h+2, 6)))
	}
	s.out.WriteString("<" + tag)
	for _, a := range n.Attr {
		if a.Namespace != "" || !contains(attrs, a.Key) {
			continue
		}
		val := a.Val
		switch a.Key {
		case "href":
			val = href
		case "class":
			if !languageClass.MatchString(val) {
				continue
			}
		case "start":
			if strings.Trim(val, "0123456789") != "" || len(val) > 6 {
				continue
			}
		}
		s.out.WriteString(" " + a.Key + `="` + html.EscapeString(val) + `"`)
	}
	if n.DataAtom == atom.A {
		s.out.WriteString(` rel="` + rel + `"`)
	}
	s.out.WriteString(">")
	if n.DataAtom == atom.Br || n.DataAtom == atom.Hr {
		return
	}
	if n.DataAtom == atom.A {
		s.inLink++
	}
	s.children(n)
	if n.DataAtom == atom.A {
		s.inLink--
	}
	s.out.WriteString("</" + tag + ">")
}

func (s *sanitizer) children(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		s.node(c)
	}
}

// image is never loaded from the page: it becomes a link to its address
// (its text the alt text), or only that text when the address is not one a
// link may have or when it sits inside a link already.
func (s *sanitizer) image(n *html.Node) {
	label := strings.TrimSpace(attrOf(n, "alt"))
	if label == "" {
		label = "image"
	}
	label = "[" + label + "]"
	src := safeURL(attrOf(n, "src"))
	if src == "" || strings.HasPrefix(src, "mailto:") || s.inLink > 0 {
		s.out.WriteString(`<span class="img">` + html.EscapeString(label) + `</span>`)
		return
	}
	s.out.WriteString(`<a class="img" href="` + html.EscapeString(src) + `" rel="` + rel + `">` + html.EscapeString(label) + `</a>`)
}

// safeURL is raw as an absolute http, https or mailto URL, or "". Relative
// links are dropped: they point into the package's repository, which the
// page is not.
func safeURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" || strings.ContainsAny(raw, "\x00\t\r\n") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return ""
		}
	case "mailto":
	default:
		return ""
	}
	return u.String()
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}

func headingLevel(a atom.Atom) int {
	switch a {
	case atom.H1:
		return 1
	case atom.H2:
		return 2
	case atom.H3:
		return 3
	case atom.H4:
		return 4
	case atom.H5:
		return 5
	case atom.H6:
		return 6
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
