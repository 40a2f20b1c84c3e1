package gomod

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/larder-mirror/larder/registries"
)

// Kind describes Go modules to cmd/larder's table of kinds. It is mounted
// by default, at /go/: a configuration without [[registry]] tables serves
// every ecosystem larder knows, each asking its upstream only once a
// client asks it.
var Kind = registries.Kind{
	Name:        "go",
	Upstream:    "https://proxy.golang.org/",
	MetadataTTL: 5 * time.Minute,
	Default:     true,
	Keys:        []string{"sumdb", "private", "exclude"},
	Decode:      decodeKeys,
	// The h1: hashes of the checksum database, recorded on each version's
	// rows when it is first asked for (see Registry.announce).
	Verify: verify,
	New: func(up *registries.Upstream, publicURL string, opts any) registries.Registry {
		o, _ := opts.(Options)
		return New(up, publicURL, o)
	},
	DatesReleases: true,
	Lockfiles:     []registries.LockfileReader{goSum{}, goMod{}},
	Proofs:        proofs,
}

// SumGolangOrg is the public checksum database's verifier key, as the go
// command knows it (cmd/go/internal/modfetch/key.go).
const SumGolangOrg = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

// Options are a go registry's own keys, decoded.
type Options struct {
	// SumDB is the checksum database: its verifier key and the URL larder
	// fetches it from. A nil SumDB is "off": nothing is checked against a
	// database, and every module falls under the unverifiable policy. The
	// zero Options (Decode never ran) mean the default: sum.golang.org,
	// through the upstream proxy.
	SumDB *SumDBConfig
	// Off is sumdb = "off".
	Off bool
	// Private are GONOSUMDB-style patterns (comma-separated globs of path
	// prefixes): modules matching them are never looked up in the
	// database. "" matches nothing.
	Private string
	// Exclude are GONOPROXY-style patterns: modules matching them are not
	// served, nor asked of the upstream or the database (their paths do not
	// leave the site); a 404 that says so, and go moves to its next GOPROXY
	// entry. "" matches nothing.
	Exclude string
}

// SumDBConfig names a checksum database.
type SumDBConfig struct {
	Key  string // verifier key: "name+hash+key"
	Name string // the name in the key
	// URL is where its latest, lookup/ and tile/ paths are fetched, ending
	// in "/"; nil: the upstream proxy's sumdb/<name>/.
	URL *url.URL
}

// ParseSumDB reads the sumdb key, in GOSUMDB's own form: "off", a known
// database name ("sum.golang.org"), or a verifier key, each optionally
// followed by the URL to fetch it from.
func ParseSumDB(s string) (cfg *SumDBConfig, off bool, err error) {
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > 2 {
		return nil, false, fmt.Errorf("%q: want \"off\", or a verifier key (or sum.golang.org) optionally followed by a URL", s)
	}
	if fields[0] == "off" && len(fields) == 1 {
		return nil, true, nil
	}
	key := fields[0]
	if key == "sum.golang.org" {
		key = SumGolangOrg
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return nil, false, fmt.Errorf("%q is not a checksum database verifier key: %v", fields[0], err)
	}
	cfg = &SumDBConfig{Key: key, Name: v.Name()}
	if len(fields) == 2 {
		if cfg.URL, err = registries.ParseHTTPURL(fields[1]); err != nil {
			return nil, false, err
		}
	}
	return cfg, false, nil
}

// decodeKeys reads sumdb, private and exclude. A database on a host other than the
// upstream's becomes a host the registry may fetch from.
func decodeKeys(keys registries.KindKeys, o *registries.Options) (any, error) {
	opts := Options{}
	if raw, ok := keys["sumdb"]; ok {
		s, isString := raw.(string)
		if !isString {
			return nil, &registries.ConfigError{Key: "sumdb", Err: fmt.Errorf("want a string, such as \"sum.golang.org\"")}
		}
		cfg, off, err := ParseSumDB(s)
		if err != nil {
			return nil, &registries.ConfigError{Key: "sumdb", Err: err}
		}
		opts.SumDB, opts.Off = cfg, off
		if cfg != nil && cfg.URL != nil && (o.Upstream == nil || !registries.SameHost(cfg.URL, o.Upstream)) {
			o.AlsoFrom = append(o.AlsoFrom, cfg.URL)
		}
	}
	var err error
	if opts.Private, err = patterns(keys, "private"); err != nil {
		return nil, err
	}
	if opts.Exclude, err = patterns(keys, "exclude"); err != nil {
		return nil, err
	}
	return opts, nil
}

// patterns reads a list of glob patterns of module path prefixes into the
// comma-separated form of GONOSUMDB, GOPRIVATE and GONOPROXY.
func patterns(keys registries.KindKeys, key string) (string, error) {
	list, _, err := keys.Strings(key)
	if err != nil {
		return "", err
	}
	for i, p := range list {
		if p == "" || strings.ContainsAny(p, ", \t") {
			return "", &registries.ConfigError{Key: fmt.Sprintf("%s[%d]", key, i), Err: fmt.Errorf("%q: want one glob pattern of module path prefixes, such as \"*.corp.example.com\"", p)}
		}
		if _, err := path.Match(p, p); err != nil {
			return "", &registries.ConfigError{Key: fmt.Sprintf("%s[%d]", key, i), Err: fmt.Errorf("%q: %v", p, err)}
		}
	}
	return strings.Join(list, ","), nil
}
