package pypi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// The root list (/simple/) names every project: ~600k on PyPI, and no
// installer reads it during an install. larder serves it from what it has
// (its own projects plus the last upstream copy) and refreshes the upstream
// copy in the background; no request ever waits for it.

const (
	rootKey     = "-/simple"
	rootVariant = "root"
	rootMaxAge  = 6 * time.Hour
)

func (g *Registry) rootView(ctx context.Context, format string) (*registries.Rendered, registries.CacheStatus, error) {
	cached, err := g.up.Cached(ctx, rootKey, rootVariant)
	hasCopy := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, "", err
	}
	if !hasCopy || g.up.Now().Sub(cached.FetchedAt) > rootMaxAge {
		g.refreshRoot()
	}
	local, err := g.up.Store().PackageNames(ctx, g.name)
	if err != nil {
		return nil, "", err
	}
	key := strings.Join([]string{g.name, rootKey, format, string(cached.Body), strconv.Itoa(len(local)), strings.Join(lastOf(local, 3), ","), g.mount}, "\x00")
	rendered, err := g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		names := local
		if hasCopy {
			body, err := g.up.Body(ctx, cached)
			if err != nil {
				return nil, err
			}
			var upstream []string
			if err := json.Unmarshal(body, &upstream); err != nil {
				return nil, err
			}
			names = mergeNames(upstream, local)
		}
		return g.renderRoot(names, format), nil
	})
	if err != nil {
		return nil, "", err
	}
	status := registries.Hit
	if !hasCopy {
		status = registries.Stale
	}
	return rendered, status, nil
}

func lastOf(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// refreshRoot fetches the upstream's root list in the background, once at
// a time.
func (g *Registry) refreshRoot() {
	if !g.refreshingRoot.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer g.refreshingRoot.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		_, err := g.up.Document(ctx, registries.DocRequest{
			Key: rootKey, Variant: rootVariant, URL: g.up.Options().Upstream.String(), Accept: pageAccept,
			Prepare: func(body []byte, ct string) (registries.Prepared, error) {
				names, err := parseRoot(body, ct)
				if err != nil {
					return registries.Prepared{}, err
				}
				b, _ := json.Marshal(names)
				return registries.Prepared{Body: b, ContentType: "application/json"}, nil
			},
		})
		if err != nil {
			g.up.Env().Log.Info("root project list not refreshed", "registry", g.name, "err", err)
		}
	}()
}

// parseRoot reads the root list in either format into project names.
func parseRoot(body []byte, ct string) ([]string, error) {
	base, _ := url.Parse("http://upstream/simple/")
	if strings.Contains(ct, "json") {
		var page struct {
			Projects []struct {
				Name string `json:"name"`
			} `json:"projects"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		names := make([]string, 0, len(page.Projects))
		for _, p := range page.Projects {
			names = append(names, p.Name)
		}
		return names, nil
	}
	p, err := parseHTML(body, base)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(p.Files))
	for _, f := range p.Files {
		names = append(names, f.Filename) // an anchor's text is the project's name
	}
	return names, nil
}

// mergeNames unites two lists, by normalized name, sorted.
func mergeNames(a, b []string) []string {
	seen := make(map[string]bool, len(a)+len(b))
	out := make([]string, 0, len(a)+len(b))
	for _, list := range [][]string{a, b} {
		for _, n := range list {
			if k := Normalize(n); !seen[k] && ValidateName(n) == nil {
				seen[k] = true
				out = append(out, n)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return Normalize(out[i]) < Normalize(out[j]) })
	return out
}

func (g *Registry) renderRoot(names []string, format string) *registries.Rendered {
	var b bytes.Buffer
	if format == mediaJSON {
		type project struct {
			Name string `json:"name"`
		}
		page := struct {
			Meta     jsonMeta  `json:"meta"`
			Projects []project `json:"projects"`
		}{Meta: jsonMeta{APIVersion: "1.1"}, Projects: make([]project, len(names))}
		for i, n := range names {
			page.Projects[i].Name = n
		}
		json.NewEncoder(&b).Encode(page)
		return registries.NewRendered(b.Bytes(), mediaJSON)
	}
	b.WriteString("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Simple index</title>\n  </head>\n  <body>\n")
	for _, n := range names {
		b.WriteString(`    <a href="` + html.EscapeString(g.mount+"/simple/"+Normalize(n)+"/") + `">` + html.EscapeString(n) + "</a>\n")
	}
	b.WriteString("  </body>\n</html>\n")
	return registries.NewRendered(b.Bytes(), contentTypeOf(format))
}
