package pypi

import (
	"encoding/json"
	"fmt"

	"github.com/larder-mirror/larder/storage"
)

// ArtifactURL holds a file URL an archive brings to the rules of a
// project page's links: the upstream or one of file_hosts.
func (g *Registry) ArtifactURL(raw string) (string, error) {
	if err := g.files.check(raw); err != nil {
		return "", err
	}
	return raw, nil
}

// Declared lists the files, and PEP 658 metadata files, a stored project
// page names, with the hashes it declares; other documents (the index of
// projects, the legacy JSON API) declare none. A link larder may not follow
// is left out, as at fetch time.
func (g *Registry) Declared(key, variant string, body []byte) ([]storage.Artifact, error) {
	if variant != variantPage || ValidateName(key) != nil || Normalize(key) != key {
		return nil, nil
	}
	var p Project
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("project page %s: %w", key, err)
	}
	return g.announce(key, g.acceptFiles(key, p.Files)), nil
}
