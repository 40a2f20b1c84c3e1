package rubygems

import (
	"bytes"
	"errors"
	"sort"
	"strings"
	"unicode"
)

// The full index (RubyGems' Gem::Indexer): every release as
// [name, Gem::Version, platform], Marshal-dumped and gzip'd. Neither
// bundler nor gem install reads it from a source that has the compact
// index; `gem sources --add` loads specs.4.8.gz to check a new source, and
// `gem search --remote` and `gem list --remote` read latest_specs.4.8.gz.
// It is an index file (indexView): offline, written from what is held.
const (
	fullIndexAll        = "specs.4.8.gz"            // every release but pre-releases
	fullIndexLatest     = "latest_specs.4.8.gz"     // the newest release of each gem and platform
	fullIndexPrerelease = "prerelease_specs.4.8.gz" // pre-releases
	keyFullIndex        = "/full-index"
	mediaGzip           = "application/octet-stream"
)

// checkGzip accepts a file of the full index: gzip'd.
func checkGzip(body []byte) error {
	if !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		return errors.New("not gzip")
	}
	return nil
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
