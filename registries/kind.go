package registries

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// A Kind describes an ecosystem to cmd/larder, which wires every kind from
// one table of them: its defaults, its own [[registry]] keys, how to mount
// it, and the lockfiles it reads for `larder warm` and `export --lockfile`.
// Adding an ecosystem is writing its Kind and adding it to that table.
type Kind struct {
	// Name is the kind's name in the configuration (kind = "npm") and its
	// default mount name, unless Mount says another.
	Name string
	// Mount is the default mount name when it is not Name (kind
	// "rubygems" is mounted at /gems/); "" for Name.
	Mount string
	// Upstream is the default upstream URL, MetadataTTL the default time a
	// document is fresh; both are used when a [[registry]] leaves them out.
	Upstream    string
	MetadataTTL time.Duration
	// Default says whether larder mounts the kind when the configuration
	// names no registry.
	Default bool

	// Keys are the [[registry]] keys of this kind alone (npm's
	// tarball_hosts), beside those every registry has. A key of another
	// kind is an error in a table of this one.
	Keys []string
	// Decode checks the kind's own keys of one [[registry]] table (absent
	// keys take their defaults), sets on o what they mean to the upstream
	// client (AlsoFrom), and returns what New needs of them. Its errors are
	// *ConfigError naming the key. Nil: the kind has no keys of its own.
	Decode func(keys KindKeys, o *Options) (any, error)
	// Verify makes the verifier of each download (see VerifyFunc): how the
	// kind checks an artifact's bytes before they are kept.
	Verify VerifyFunc
	// New mounts a registry of this kind on its upstream link. publicURL,
	// when set, is larder's external base URL; opts is what Decode returned.
	New func(up *Upstream, publicURL string, opts any) Registry

	// Lockfiles are the lockfile formats the kind reads.
	Lockfiles []LockfileReader

	// DatesReleases says the kind implements the release-age hook (see
	// cooldown.go): it records its releases' dates, filters its listings
	// and names the release of each artifact. A kind that does not cannot
	// have min_release_age (a configuration error) nor /@{date}/ views
	// (404), rather than silently serve what the policy would hold back.
	DatesReleases bool

	// Proofs names the documents an export by lockfile carries beside the
	// held files it keeps (paths, under their registries' mounts), when
	// what verifies those files offline is not keyed by their package's
	// name: Go's checksum-database records and the tiles that prove them.
	// notes are files it found no proof of. Nil: the kind needs none.
	Proofs func(ctx context.Context, s *storage.Store, paths []string) (docs []storage.DocumentKey, notes []error, err error)
}

// KindKeys are a [[registry]] table's keys that belong to its kind, as TOML
// decodes them (string, int64, float64, bool, []any, map[string]any), or as
// Go code writes them ([]string).
type KindKeys map[string]any

// Strings reads a list of strings; ok is false when the key is absent.
func (k KindKeys) Strings(key string) (list []string, ok bool, err error) {
	v, ok := k[key]
	if !ok {
		return nil, false, nil
	}
	switch v := v.(type) {
	case []string:
		return v, true, nil
	case []any:
		list = make([]string, 0, len(v))
		for i, e := range v {
			s, isString := e.(string)
			if !isString {
				return nil, true, &ConfigError{Key: fmt.Sprintf("%s[%d]", key, i), Err: fmt.Errorf("%v is not a string", e)}
			}
			list = append(list, s)
		}
		return list, true, nil
	}
	return nil, true, &ConfigError{Key: key, Err: fmt.Errorf("want a list of strings, such as [\"a\", \"b\"]")}
}

// Hosts reads a list of hosts ("host", "host:port" or a URL; see
// ParseHost); def is the list when the key is absent.
func (k KindKeys) Hosts(key string, def []string) ([]*url.URL, error) {
	list, ok, err := k.Strings(key)
	if err != nil {
		return nil, err
	}
	if !ok {
		list = def
	}
	var hosts []*url.URL
	for i, h := range list {
		u, err := ParseHost(h)
		if err != nil {
			return nil, &ConfigError{Key: fmt.Sprintf("%s[%d]", key, i), Err: err}
		}
		hosts = append(hosts, u)
	}
	return hosts, nil
}

// ConfigError is a problem with one key of a [[registry]] table; Key may
// carry an index ("file_hosts[2]").
type ConfigError struct {
	Key string
	Err error
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// ParseHTTPURL accepts an absolute http(s) URL without user info, and ends
// its path in "/".
func ParseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q: user info in a URL is not supported", s)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// ParseHost accepts "host", "host:port" or a URL, and keeps its host.
func ParseHost(s string) (*url.URL, error) {
	if strings.Contains(s, "://") {
		return ParseHTTPURL(s)
	}
	if s == "" || strings.ContainsAny(s, "/@ ") {
		return nil, fmt.Errorf("%q is not a host name", s)
	}
	return &url.URL{Scheme: "https", Host: s, Path: "/"}, nil
}

// LockfileReader reads one lockfile format for `larder warm` and `larder
// export --lockfile`.
type LockfileReader interface {
	// Format names the format as its users know it: "package-lock.json".
	Format() string
	// Match says how surely a file is in this format, from its base name,
	// or failing that from head, its first bytes (at most 8 KiB). A file
	// that two formats claim equally surely is refused, never guessed.
	Match(name string, head []byte) LockMatch
	// Read reads the lockfile at path. pins are what it names; skipped are
	// its entries that cannot be warmed or exported (not pinned, not from
	// a registry, invalid); err is for a file that cannot be read at all.
	Read(path string) (pins []Pin, skipped []error, err error)
}

// LockMatch is how surely a file is in a lockfile format.
type LockMatch int

const (
	NoMatch   LockMatch = iota
	ByContent           // its first bytes look like the format
	ByName              // its name is the format's
)

// A Pin is one thing a lockfile names.
type Pin struct {
	// Label names it in progress and errors: "lodash@4.17.21",
	// "requests==2.31.0".
	Label string
	// File is the one artifact the pin names, when its path follows from
	// the lockfile alone (an npm tarball).
	File PinnedFile
	// Release, when File.Path is "", is a release whose files are found on
	// a document (a requirements.txt pin names a version, not a file; a
	// pylock.toml file is found on its project's page).
	Release *Release
}

// PinnedFile is an artifact and what the lockfile says it hashes to.
type PinnedFile struct {
	Path      string    // under the registry's mount
	Integrity Integrity // "" when the lockfile records nothing checkable
}

// Release is a pinned release whose files are listed on a document.
type Release struct {
	// Package is the package's name as larder stores it (normalized).
	Package string
	// Document is the path under the mount of the document that lists the
	// release's files, asked for with Accept; Files picks from its body the
	// files to fetch (warm).
	Document string
	Accept   string
	Files    func(doc []byte) ([]PinnedFile, error)
	// Held gives, for an artifact of Package that larder holds, the paths
	// to keep if it is one of the release's files, none otherwise (export).
	Held func(a storage.Artifact) []string
	// Needs, when set, reads from the document the other releases that
	// installing this one needs but a lockfile does not name (Maven's
	// parent POMs and imported BOMs): warmed and exported with it, and
	// theirs in turn. Nil: none.
	Needs func(doc []byte) ([]Pin, error)
}
