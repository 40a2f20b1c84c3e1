package rubygems

import (
	"fmt"
	"net/url"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// ArtifactURL holds a file URL an archive brings to the rule of the info
// files' releases: every file is on the upstream.
func (g *Registry) ArtifactURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || !registries.SameHost(u, g.up.Options().Upstream) {
		return "", fmt.Errorf("%q is not on the upstream %s", raw, g.up.Options().Upstream.Host)
	}
	return raw, nil
}

// Declared lists the files a stored info file names, each .gem with the
// sha256 its line declares, as when the file was fetched; /versions and
// /names declare none.
func (g *Registry) Declared(key, variant string, body []byte) ([]storage.Artifact, error) {
	if variant != variantInfo || !validName(key) {
		return nil, nil
	}
	inf, err := parseInfo(body)
	if err != nil {
		return nil, fmt.Errorf("info file of %s: %w", key, err)
	}
	return g.announced(key, inf), nil
}
