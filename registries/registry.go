package registries

import (
	"net/http"
	"strings"
)

// Registry is what an ecosystem supplies to be mounted under /{name}/.
type Registry interface {
	// Kind names the ecosystem: "npm", "pypi".
	Kind() string
	// Name is the mount name, unique per larder.
	Name() string
	// Resolver reads request paths below "/{name}"; Mount serves them.
	Resolver
	// ClientSetup returns copy-paste set-up for the ecosystem's clients,
	// given the registry's public base URL (ending in "/").
	ClientSetup(baseURL string) []Snippet
	// Upstream is the registry's link to its upstream: options, health,
	// traffic.
	Upstream() *Upstream
	Describer
}

// Snippet is one client's set-up, for the UI.
type Snippet struct {
	Client string // "npm", "pip", …
	Shell  string // commands or a file's text
	Note   string
}

// BaseURL is a mounted registry's public base URL, ending in "/": from
// publicURL when larder sits behind a reverse proxy, else from the request
// (its Host, and https when it came over TLS).
func BaseURL(r *http.Request, publicURL, name string) string {
	return BaseURLOf(r.Host, r.TLS != nil, publicURL, name)
}

// BaseURLOf is BaseURL for a request that came for host, over TLS or not.
func BaseURLOf(host string, tls bool, publicURL, name string) string {
	if publicURL != "" {
		return strings.TrimSuffix(publicURL, "/") + "/" + name + "/"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + host + "/" + name + "/"
}
