package pypi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

const (
	mediaJSON   = "application/vnd.pypi.simple.v1+json"
	mediaV1HTML = "application/vnd.pypi.simple.v1+html"
	mediaHTML   = "text/html"
)

// parsePage reads an upstream project page in either format, chosen by its
// Content-Type (PEP 691). A page that is neither is an error: it is never
// cached.
func parsePage(body []byte, contentType string, pageURL *url.URL) (Project, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil && contentType != "" {
		return Project{}, fmt.Errorf("bad Content-Type %q", contentType)
	}
	switch {
	case mt == mediaJSON || mt == "application/json":
		return parseJSON(body, pageURL)
	case mt == mediaV1HTML || mt == mediaHTML || mt == "":
		return parseHTML(body, pageURL)
	}
	return Project{}, fmt.Errorf("upstream page is %s, neither HTML nor JSON", mt)
}

// parseJSON reads a PEP 691 project page.
func parseJSON(body []byte, pageURL *url.URL) (Project, error) {
	var page struct {
		Meta struct {
			APIVersion string          `json:"api-version"`
			LastSerial json.RawMessage `json:"_last-serial"`
		} `json:"meta"`
		Name     string   `json:"name"`
		Versions []string `json:"versions"`
		Files    []struct {
			Filename         string            `json:"filename"`
			URL              string            `json:"url"`
			Hashes           map[string]string `json:"hashes"`
			RequiresPython   *string           `json:"requires-python"`
			CoreMetadata     json.RawMessage   `json:"core-metadata"`
			DistInfoMetadata json.RawMessage   `json:"dist-info-metadata"`
			DataDistInfo     json.RawMessage   `json:"data-dist-info-metadata"`
			Yanked           json.RawMessage   `json:"yanked"`
			Size             *int64            `json:"size"`
			UploadTime       *string           `json:"upload-time"`
		} `json:"files"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return Project{}, fmt.Errorf("upstream JSON page: %w", err)
	}
	if major, _, _ := strings.Cut(page.Meta.APIVersion, "."); major != "1" {
		return Project{}, fmt.Errorf("upstream JSON page: api-version %q is not 1.x", page.Meta.APIVersion)
	}
	if page.Name == "" {
		return Project{}, errors.New("upstream JSON page has no name")
	}
	p := Project{Name: page.Name, Versions: page.Versions, Files: []File{}}
	p.Serial, _ = strconv.ParseInt(strings.Trim(string(page.Meta.LastSerial), `"`), 10, 64)
	for _, f := range page.Files {
		u, err := pageURL.Parse(f.URL)
		if err != nil {
			return Project{}, fmt.Errorf("upstream JSON page: file URL %q: %w", f.URL, err)
		}
		u.Fragment, u.RawFragment = "", ""
		file := File{Filename: f.Filename, URL: u.String(), Hashes: lowerHashes(f.Hashes), Size: f.Size}
		if f.RequiresPython != nil {
			file.RequiresPython = *f.RequiresPython
		}
		if f.UploadTime != nil {
			file.UploadTime = *f.UploadTime
		}
		file.Yanked, file.YankedReason = jsonYanked(f.Yanked)
		// PEP 714: core-metadata is the name; older servers sent the others.
		for _, raw := range []json.RawMessage{f.CoreMetadata, f.DistInfoMetadata, f.DataDistInfo} {
			if present, hashes, ok := jsonMetadata(raw); ok {
				file.CoreMetadata, file.CoreMetadataHashes = present, hashes
				break
			}
		}
		p.Files = append(p.Files, file)
	}
	return p, nil
}

func lowerHashes(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		k, v = strings.ToLower(k), strings.ToLower(v)
		// A hash is a hashlib name and a hex digest (PEP 503). Anything
		// else has nothing to check and no way to be written in a link's
		// "#name=value" (a name with "=" in it reads back as another hash).
		if hashName(k) && hexDigits(v) {
			out[k] = v
		}
	}
	return out
}

func hashName(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == ""
}

func hexDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789abcdef") == ""
}

// jsonYanked reads PEP 691's yanked: false, true, or a reason string.
func jsonYanked(raw json.RawMessage) (bool, string) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, ""
	}
	var reason string
	if json.Unmarshal(raw, &reason) == nil {
		return true, reason
	}
	return false, ""
}

// jsonMetadata reads core-metadata: false, true, or a hashes object. ok is
// false when the key is absent.
func jsonMetadata(raw json.RawMessage) (present bool, hashes map[string]string, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, nil, false
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, nil, true
	}
	var h map[string]string
	if json.Unmarshal(raw, &h) == nil {
		return true, lowerHashes(h), true
	}
	return false, nil, false
}

// parseHTML reads a PEP 503 project page: every anchor is a file.
func parseHTML(body []byte, pageURL *url.URL) (Project, error) {
	if !utf8.Valid(body) {
		return Project{}, errors.New("upstream HTML page is not UTF-8")
	}
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		return Project{}, fmt.Errorf("upstream HTML page: %w", err)
	}
	p := Project{Files: []File{}}
	base := pageURL
	var walkErr error
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if walkErr != nil {
			return
		}
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Base:
				if href, ok := attr(n, "href"); ok {
					if b, err := pageURL.Parse(href); err == nil {
						base = b
					}
				}
			case atom.Meta:
				if name, _ := attr(n, "name"); name == "pypi:repository-version" {
					v, _ := attr(n, "content")
					if major, _, _ := strings.Cut(v, "."); major != "1" {
						walkErr = fmt.Errorf("upstream HTML page: repository version %q is not 1.x", v)
						return
					}
				}
			case atom.Title:
				if n.FirstChild != nil {
					p.Name = strings.TrimSpace(strings.TrimPrefix(n.FirstChild.Data, "Links for "))
				}
			case atom.A:
				f, err := htmlFile(n, base)
				if err != nil {
					walkErr = err
					return
				}
				if f.Filename != "" {
					p.Files = append(p.Files, f)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return p, walkErr
}

func htmlFile(n *html.Node, base *url.URL) (File, error) {
	href, ok := attr(n, "href")
	if !ok {
		return File{}, nil
	}
	u, err := base.Parse(href)
	if err != nil {
		return File{}, fmt.Errorf("upstream HTML page: link %q: %w", href, err)
	}
	f := File{Hashes: map[string]string{}}
	if algo, sum, ok := strings.Cut(u.Fragment, "="); ok {
		f.Hashes = lowerHashes(map[string]string{algo: sum})
	}
	u.Fragment, u.RawFragment = "", ""
	f.URL = u.String()
	f.Filename = strings.TrimSpace(text(n))
	if f.Filename == "" {
		f.Filename = path.Base(u.Path)
	}
	f.RequiresPython, _ = attr(n, "data-requires-python")
	if reason, ok := attr(n, "data-yanked"); ok {
		f.Yanked, f.YankedReason = true, reason
	}
	for _, key := range []string{"data-core-metadata", "data-dist-info-metadata"} {
		v, ok := attr(n, key)
		if !ok {
			continue
		}
		if algo, sum, isHash := strings.Cut(v, "="); isHash && algo != "" && sum != "" {
			f.CoreMetadata, f.CoreMetadataHashes = true, map[string]string{strings.ToLower(algo): strings.ToLower(sum)}
		} else {
			f.CoreMetadata = v == "" || strings.EqualFold(v, "true")
		}
		break
	}
	return f, nil
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}
