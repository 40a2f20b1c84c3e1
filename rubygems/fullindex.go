package rubygems

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"unicode"

	"github.com/larder-mirror/larder/registries"
)

// The full index (RubyGems' Gem::Indexer): every release as
// [name, Gem::Version, platform], Marshal-dumped and gzip'd. Neither
// bundler nor gem install reads it from a source that has the compact
// index; `gem sources --add` loads specs.4.8.gz to check a new source, and
// `gem search --remote` and `gem list --remote` read latest_specs.4.8.gz.
const (
	fullIndexAll        = "specs.4.8.gz"            // every release but pre-releases
	fullIndexLatest     = "latest_specs.4.8.gz"     // the newest release of each gem and platform
	fullIndexPrerelease = "prerelease_specs.4.8.gz" // pre-releases
	keyFullIndex        = "/full-index"
	mediaGzip           = "application/octet-stream"
)

// fullIndexView is one file of the full index: the upstream's while it
// can be asked; else written from the releases /versions lists then, so
// that gem offers only what larder holds, as bundler is.
func (g *Registry) fullIndexView(ctx context.Context, file string) (*registries.Rendered, registries.CacheStatus, error) {
	doc, err := g.up.Document(ctx, registries.DocRequest{
		Key: keyFullIndex, Variant: file, URL: g.upstreamURL(file),
		Prepare: func(body []byte, _ string) (registries.Prepared, error) {
			if !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
				return registries.Prepared{}, errors.New(file + " is not gzip")
			}
			return registries.Prepared{Body: body, ContentType: mediaGzip}, nil
		},
	})
	if err != nil && !errors.Is(err, registries.ErrNotCached) {
		return nil, "", err
	}
	if err == nil && !doc.Degraded && g.up.Reachable() {
		r, err := g.render(ctx, doc.Document)
		return r, doc.Status, err
	}
	gems, err2 := g.heldGems(ctx)
	if err2 != nil {
		return nil, "", err2
	}
	if len(gems) == 0 && err != nil {
		return nil, "", err
	}
	return newRenderedAs(marshalSpecs(fullIndexOf(gems, file)), mediaGzip), staleUnless(doc, err), nil
}

// fullIndexOf lists what file of the full index says of gems.
func fullIndexOf(gems []heldGem, file string) []specsTuple {
	var list []specsTuple
	for _, h := range gems {
		newest := map[string]string{} // platform → version
		for _, rel := range h.releases {
			version, platform, _ := splitRelease(rel)
			if platform == "" {
				platform = "ruby"
			}
			// Gem::Version#prerelease?: a letter anywhere.
			pre := strings.ContainsFunc(version, unicode.IsLetter)
			switch {
			case file == fullIndexPrerelease && pre, file == fullIndexAll && !pre:
				list = append(list, specsTuple{h.name, version, platform})
			case file == fullIndexLatest && !pre:
				if cur, ok := newest[platform]; !ok || compareVersions(version, cur) > 0 {
					newest[platform] = version
				}
			}
		}
		platforms := make([]string, 0, len(newest))
		for p := range newest {
			platforms = append(platforms, p)
		}
		sort.Strings(platforms)
		for _, p := range platforms {
			list = append(list, specsTuple{h.name, newest[p], p})
		}
	}
	return list
}
