package cargo

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// ArtifactURL holds a .crate URL an archive brings to the rules of an
// index file's: on the upstream's host or download_url's, the only hosts
// the registry downloads from.
func (g *Registry) ArtifactURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q is not an http(s) URL larder may fetch", raw)
	}
	dl, err := checkTemplate(g.download)
	if err != nil {
		return "", err
	}
	if registries.SameHost(u, g.up.Options().Upstream) || registries.SameHost(u, dl) {
		return raw, nil
	}
	return "", fmt.Errorf("%q is on neither the upstream %s nor download_url's %s", raw, g.up.Options().Upstream.Host, dl.Host)
}

// Declared lists the .crate files a stored index file announces, with the
// sha256 each line's cksum declares, as when it was fetched.
func (g *Registry) Declared(key, variant string, body []byte) ([]storage.Artifact, error) {
	if variant != variantIndex || checkName(key) != nil || key != strings.ToLower(key) {
		return nil, nil
	}
	lines, err := parseIndex(body, key)
	if err != nil {
		return nil, fmt.Errorf("index file of %s: %w", key, err)
	}
	arts := make([]storage.Artifact, len(lines))
	for i, l := range lines {
		arts[i] = l.artifact(g.name, g.download)
	}
	return arts, nil
}
