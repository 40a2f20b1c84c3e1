package maven

import (
	"fmt"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// ArtifactURL holds a file's URL an archive brings to the upstream's:
// larder fetches a Maven repository's files from the upstream alone.
func (g *Registry) ArtifactURL(raw string) (string, error) {
	base := g.up.Options().Upstream.String()
	if rel, ok := strings.CutPrefix(raw, base); ok {
		if rt, err := parseRoute(rel); err == nil && rt.kind == routeArtifact && rt.sum == "" && rt.path == rel {
			return raw, nil
		}
	}
	return "", fmt.Errorf("%q is not a file of the layout on the upstream %s", raw, base)
}

// Declared lists what a stored checksum file of the upstream declares: the
// digest of the file beside it, as when larder fetched it before that
// file. Metadata and snapshots' moving files declare nothing.
func (g *Registry) Declared(key, variant string, body []byte) ([]storage.Artifact, error) {
	rt, err := parseRoute(variant)
	if err != nil || rt.sum == "" || rt.kind != routeArtifact || rt.docKey() != key || rt.sum == "md5" {
		return nil, nil
	}
	prep, err := checkChecksumFile(rt.sum)(body, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", variant, err)
	}
	return []storage.Artifact{{Registry: g.name, Path: rt.path, Package: rt.pkg(), Version: rt.version,
		UpstreamURL: g.upstreamURL(rt.path), Integrity: string(registries.SRIFromHex(rt.sum, string(prep.Body)))}}, nil
}
