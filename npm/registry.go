package npm

import (
	"strings"
	"sync"

	"github.com/larder-mirror/larder/registries"
)

// Registry is one mounted npm registry.
type Registry struct {
	up        *registries.Upstream
	name      string
	publicURL string // "" means: from each request's Host
	tarballs  tarballResolver

	optionalSlots chan struct{} // see keepOptionalPackuments
	withOptional  sync.Map      // package name: whether its packument names optional dependencies (noteOptional)
}

// DefaultTarballHosts are the hosts whose tarball URLs larder fetches from
// the upstream at the same path when tarball_hosts is not set.
var DefaultTarballHosts = []string{"registry.npmjs.org"}

// New mounts an npm registry on up. publicURL, when set, is larder's
// external base URL (behind a reverse proxy); tarball URLs are rewritten to
// it instead of the request's Host.
func New(up *registries.Upstream, publicURL string) *Registry {
	o := up.Options()
	g := &Registry{
		up:            up,
		name:          o.Name,
		publicURL:     strings.TrimSuffix(publicURL, "/"),
		tarballs:      tarballResolver{upstream: o.Upstream, hosts: o.AlsoFrom},
		optionalSlots: make(chan struct{}, maxOptionalLookups),
	}
	up.OnKept(g.keepOptionalPackuments)
	return g
}

func (g *Registry) Kind() string { return "npm" }
func (g *Registry) Name() string { return g.name }

// ClientSetup gives the commands that point npm, pnpm and yarn at larder.
func (g *Registry) ClientSetup(base string) []registries.Snippet {
	return []registries.Snippet{
		{Client: "npm", Shell: "npm config set registry " + base},
		{Client: "pnpm", Shell: "pnpm config set registry " + base},
		{Client: "yarn (classic)", Shell: "yarn config set registry " + base},
		{Client: "yarn (berry)", Shell: "yarn config set npmRegistryServer " + base},
		{Client: ".npmrc", Shell: "registry=" + base, Note: "in a project's .npmrc, for npm and pnpm"},
	}
}

// upstreamURL is the upstream URL of a path such as "lodash" or "-/ping".
func (g *Registry) upstreamURL(escapedPath string) string {
	base := g.up.Options().Upstream.String()
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + escapedPath
}
