package pypi

import (
	"bytes"
	"encoding/json"
	"html"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// fileLink is the path-only URL larder serves a file under. No query string:
// pip appends ".metadata" to the whole URL, uv to the path, and both must
// land on the metadata file.
func fileLink(filesPrefix string, f File) string {
	return filesPrefix + f.Filename
}

// preferredHash picks the hash for an HTML fragment: sha256 when given.
func preferredHash(h map[string]string) (string, string) {
	if v, ok := h["sha256"]; ok {
		return "sha256", v
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "", ""
	}
	return keys[0], h[keys[0]]
}

// renderHTML writes a PEP 503 page (repository version 1.1). Attribute
// values are escaped (data-requires-python="&gt;=3.8").
func renderHTML(p Project, filesPrefix string) []byte {
	var b bytes.Buffer
	name := html.EscapeString(p.Name)
	b.WriteString("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n")
	b.WriteString("    <title>Links for " + name + "</title>\n  </head>\n  <body>\n    <h1>Links for " + name + "</h1>\n")
	for _, f := range p.Files {
		href := fileLink(filesPrefix, f)
		if algo, sum := preferredHash(f.Hashes); algo != "" {
			// Escaped, so that a client reads back the same value; a hex
			// digest is left as it is.
			href += "#" + (&url.URL{Fragment: algo + "=" + sum}).EscapedFragment()
		}
		b.WriteString(`    <a href="` + attrEscape(href) + `"`)
		if f.RequiresPython != "" {
			b.WriteString(` data-requires-python="` + attrEscape(f.RequiresPython) + `"`)
		}
		if f.Yanked {
			b.WriteString(` data-yanked="` + attrEscape(f.YankedReason) + `"`)
		}
		if f.CoreMetadata {
			v := "true"
			if algo, sum := preferredHash(f.CoreMetadataHashes); algo != "" {
				v = algo + "=" + sum
			}
			// PEP 714: both names, so that old and new clients see it.
			b.WriteString(` data-dist-info-metadata="` + attrEscape(v) + `" data-core-metadata="` + attrEscape(v) + `"`)
		}
		b.WriteString(">" + html.EscapeString(f.Filename) + "</a><br />\n")
	}
	b.WriteString("  </body>\n</html>\n")
	if p.Serial > 0 {
		b.WriteString("<!--SERIAL " + strconv.FormatInt(p.Serial, 10) + "-->\n")
	}
	return b.Bytes()
}

// attrEscape escapes an attribute value, and CR as well: an HTML parser
// turns a raw CR into LF (a yank reason typed in a form may hold CR LF).
func attrEscape(s string) string {
	return strings.ReplaceAll(html.EscapeString(s), "\r", "&#13;")
}

type jsonPage struct {
	Meta     jsonMeta   `json:"meta"`
	Name     string     `json:"name"`
	Versions []string   `json:"versions"`
	Files    []jsonFile `json:"files"`
}

type jsonMeta struct {
	APIVersion string `json:"api-version"`
	LastSerial int64  `json:"_last-serial,omitempty"`
}

type jsonFile struct {
	Filename       string            `json:"filename"`
	URL            string            `json:"url"`
	Hashes         map[string]string `json:"hashes"`
	RequiresPython *string           `json:"requires-python,omitempty"`
	// Only core-metadata: the key dist-info-metadata crashes pip 22.3–23.1.
	CoreMetadata any    `json:"core-metadata,omitempty"`
	Yanked       any    `json:"yanked"`
	Size         *int64 `json:"size,omitempty"`
	UploadTime   string `json:"upload-time,omitempty"`
}

// renderJSON writes a PEP 691 page, api-version 1.1 (PEP 700 fields where
// the upstream gave them).
func renderJSON(p Project, filesPrefix string) []byte {
	page := jsonPage{
		Meta:     jsonMeta{APIVersion: "1.1", LastSerial: p.Serial},
		Name:     Normalize(p.Name),
		Versions: p.Versions,
		Files:    make([]jsonFile, 0, len(p.Files)),
	}
	if page.Versions == nil {
		page.Versions = versionsOf(p)
	}
	for _, f := range p.Files {
		jf := jsonFile{Filename: f.Filename, URL: fileLink(filesPrefix, f), Hashes: f.Hashes, Size: f.Size, UploadTime: f.UploadTime, Yanked: false}
		if jf.Hashes == nil {
			jf.Hashes = map[string]string{}
		}
		if f.RequiresPython != "" {
			rp := f.RequiresPython
			jf.RequiresPython = &rp
		}
		if f.Yanked {
			jf.Yanked = true
			if f.YankedReason != "" {
				jf.Yanked = f.YankedReason
			}
		}
		if f.CoreMetadata {
			jf.CoreMetadata = true
			if len(f.CoreMetadataHashes) > 0 {
				jf.CoreMetadata = f.CoreMetadataHashes
			}
		}
		page.Files = append(page.Files, jf)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(page)
	return b.Bytes()
}

// versionsOf lists the versions named by a page's file names, for pages
// from upstreams that predate PEP 700.
func versionsOf(p Project) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, f := range p.Files {
		if v := versionFromFilename(p.Name, f.Filename); v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}
