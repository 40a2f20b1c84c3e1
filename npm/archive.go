package npm

import (
	"fmt"

	"github.com/larder-mirror/larder/storage"
)

// ArtifactURL holds a tarball URL an archive brings to the rules of a
// packument's: the upstream, or one of tarball_hosts fetched from the
// upstream at the same path.
func (g *Registry) ArtifactURL(raw string) (string, error) { return g.tarballs.resolve(raw) }

// Declared lists the tarballs a stored packument (either variant) names,
// with their declared integrity; other documents (the registry's keys)
// declare none. A tarball on a host larder may not fetch from is left out,
// as at fetch time.
func (g *Registry) Declared(key, variant string, body []byte) ([]storage.Artifact, error) {
	if (variant != variantFull && variant != variantAbbreviated) || ValidateName(key) != nil {
		return nil, nil
	}
	if err := checkDocument(body, mediaJSON); err != nil {
		return nil, fmt.Errorf("packument %s: %w", key, err)
	}
	arts, _ := announcedTarballs(key, body, g.tarballs)
	return arts, nil
}
