package cargo

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/larder-mirror/larder/registries"
)

// Kind describes Cargo to cmd/larder's table of kinds, mounted by default
// at /cargo/.
var Kind = registries.Kind{
	Name:        "cargo",
	Upstream:    "https://index.crates.io/",
	MetadataTTL: 5 * time.Minute,
	Default:     true,
	Keys:        []string{"download_url"},
	Decode:      decodeKeys,
	// The index line's cksum, recorded as the .crate's sha256 when its
	// index file is fetched.
	Verify: registries.VerifyDeclared,
	New: func(up *registries.Upstream, publicURL string, opts any) registries.Registry {
		o, _ := opts.(Options)
		return New(up, publicURL, o)
	},
	Lockfiles: []registries.LockfileReader{cargoLock{}},
	// An index line's pubtime, else first sight (releases.go).
	DatesReleases: true,
}

// DefaultDownloadURL is where crates.io keeps its .crate files: the dl of
// index.crates.io's config.json, with the markers spelled out.
const DefaultDownloadURL = "https://static.crates.io/crates/{crate}/{crate}-{version}.crate"

// Options are a cargo registry's own keys, decoded.
type Options struct {
	// DownloadURL is the upstream's download template, in the form of
	// config.json's dl; "" is DefaultDownloadURL.
	DownloadURL string
}

// decodeKeys reads download_url. Its host becomes one the registry may
// fetch from.
func decodeKeys(keys registries.KindKeys, o *registries.Options) (any, error) {
	opts := Options{DownloadURL: DefaultDownloadURL}
	if raw, ok := keys["download_url"]; ok {
		s, isString := raw.(string)
		if !isString {
			return nil, &registries.ConfigError{Key: "download_url", Err: fmt.Errorf("want a string, such as %q", DefaultDownloadURL)}
		}
		opts.DownloadURL = s
	}
	u, err := checkTemplate(opts.DownloadURL)
	if err != nil {
		return nil, &registries.ConfigError{Key: "download_url", Err: err}
	}
	if o.Upstream == nil || !registries.SameHost(u, o.Upstream) {
		o.AlsoFrom = append(o.AlsoFrom, u)
	}
	return opts, nil
}

// templateMarkers are the markers config.json's dl may hold.
var templateMarkers = []string{"{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}"}

// checkTemplate accepts an http(s) download template whose markers are
// all in its path, and returns the URL of its host, where downloads go.
func checkTemplate(tmpl string) (*url.URL, error) {
	_, rest, _ := strings.Cut(tmpl, "://")
	host, _, _ := strings.Cut(rest, "/")
	if strings.ContainsAny(host, "{}") {
		return nil, fmt.Errorf("%q: markers in the host are not supported", tmpl)
	}
	probe := tmpl
	for _, m := range templateMarkers {
		probe = strings.ReplaceAll(probe, m, "x")
	}
	if strings.ContainsAny(probe, "{}") {
		return nil, fmt.Errorf("%q: a marker other than %s", tmpl, strings.Join(templateMarkers, ", "))
	}
	u, err := url.Parse(probe)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL template without user, query or fragment, such as %q", tmpl, DefaultDownloadURL)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}, nil
}

// expandTemplate is a download URL, as cargo makes it from dl: with no
// marker, "/{crate}/{version}/download" is appended.
func expandTemplate(tmpl, crate, version, cksum string) string {
	if !strings.Contains(tmpl, "{") {
		return strings.TrimSuffix(tmpl, "/") + "/" + crate + "/" + version + "/download"
	}
	prefix := prefixOf(crate)
	return strings.NewReplacer(
		"{crate}", crate, "{version}", version, "{prefix}", prefix,
		"{lowerprefix}", strings.ToLower(prefix), "{sha256-checksum}", cksum,
	).Replace(tmpl)
}
