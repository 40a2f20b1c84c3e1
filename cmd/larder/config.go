package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Config is larder's configuration: a TOML file, then flags on top.
type Config struct {
	Listen    string           `toml:"listen"`
	Data      string           `toml:"data"`
	PublicURL string           `toml:"public_url"`
	Offline   bool             `toml:"offline"`
	LogLevel  string           `toml:"log_level"`
	LogFormat string           `toml:"log_format"`
	Registry  []RegistryConfig `toml:"registry"`

	// Access: client networks allowed, read tokens (plain, or SHA-256 in a
	// file), and optional TLS.
	Allow      []string `toml:"allow"`
	Tokens     []string `toml:"tokens"`
	TokensFile string   `toml:"tokens_file"`
	TLSCert    string   `toml:"tls_cert"`
	TLSKey     string   `toml:"tls_key"`

	// HTTPEngine serves plain HTTP: "fasthttp" (the default) or "net/http".
	// TLS is always served by net/http.
	HTTPEngine string `toml:"http_engine"`

	// RenderCache bounds the memory kept for rendered documents.
	RenderCache string `toml:"render_cache_size"`
	// MaxCacheSize bounds the artifacts kept on disk; the least recently
	// served are evicted while serving. "" or 0: no bound.
	MaxCacheSize string `toml:"max_cache_size"`
	// MinFreeSpace is the free space below which /readyz says larder is not
	// ready: a mirror that cannot store what it fetches fails every first
	// download. "0": no floor.
	MinFreeSpace string `toml:"min_free_space"`
	// MemoryCache keeps rows, small blobs and open blob files in memory
	// (the default). false reads rows from the database on every request
	// and keeps no blob bytes or descriptors: for several larder nodes over
	// one database and blob store.
	MemoryCache bool `toml:"memory_cache"`

	// MinReleaseAge and MinReleaseAgeExempt are every registry's
	// release-age policy, unless a [[registry]] sets its own.
	MinReleaseAge       string   `toml:"min_release_age"`
	MinReleaseAgeExempt []string `toml:"min_release_age_exempt"`
	// Database is a postgres:// URL: metadata on a PostgreSQL server that
	// several larder nodes share. Empty: SQLite in the data folder.
	Database string `toml:"database"`
	// BlobStore is an s3:// URL: blobs in an S3-compatible bucket that
	// several nodes share. Empty: blobs/ in the data folder.
	BlobStore string `toml:"blob_store"`
	// BlobRedirect answers a client's GET of a held artifact with a
	// redirect to a presigned URL of its object in blob_store, good for
	// BlobRedirectExpiry (default defaultBlobRedirectExpiry).
	BlobRedirect       bool   `toml:"blob_redirect"`
	BlobRedirectExpiry string `toml:"blob_redirect_expiry"`
}

// defaultBlobRedirectExpiry is how long a presigned URL stays good: a
// client follows a redirect at once, and a download under way when the
// URL expires goes on (S3 checks the signature when the request starts),
// so minutes leave room for clocks that disagree and little for a URL
// that leaked into a log.
const defaultBlobRedirectExpiry = 5 * time.Minute

// maxBlobRedirectExpiry is the longest a presigned URL may be good for
// (AWS S3's limit for Signature Version 4).
const maxBlobRedirectExpiry = 7 * 24 * time.Hour

// blobRedirect is how long the presigned URLs of blob_redirect stay good;
// 0 when it is off. validate has checked the values.
func (c Config) blobRedirect() time.Duration {
	if !c.BlobRedirect {
		return 0
	}
	if d, _ := parseDuration(c.BlobRedirectExpiry); d > 0 {
		return d
	}
	return defaultBlobRedirectExpiry
}

// backends is where the metadata and blobs live.
func (c Config) backends() storage.Backends {
	return storage.Backends{Database: c.Database, BlobStore: c.BlobStore}
}

// defaultMemoryCache is memory_cache's default; TestMain turns it off when
// LARDER_TEST_MEMORY_CACHE=off, to run the package's tests that way.
var defaultMemoryCache = true

// RegistryConfig is one [[registry]] table.
type RegistryConfig struct {
	Name            string `toml:"name"`
	Kind            string `toml:"kind"`
	Upstream        string `toml:"upstream"`
	MetadataTTL     string `toml:"metadata_ttl"`
	Offline         bool   `toml:"offline"`
	ConnectTimeout  string `toml:"connect_timeout"`
	ResponseTimeout string `toml:"response_timeout"`
	IdleTimeout     string `toml:"idle_timeout"`
	MaxDocumentSize string `toml:"max_document_size"`
	MaxArtifactSize string `toml:"max_artifact_size"`
	Unverifiable    string `toml:"unverifiable"`
	MaxConnections  int    `toml:"max_connections"`
	// MinReleaseAge overrides the global one ("0" turns it off here);
	// MinReleaseAgeExempt adds to the global list.
	MinReleaseAge       *string  `toml:"min_release_age"`
	MinReleaseAgeExempt []string `toml:"min_release_age_exempt"`

	// Keys are the table's keys that belong to its kind (registries.Kind
	// Keys, such as npm's tarball_hosts), read by the kind's Decode.
	Keys registries.KindKeys `toml:"-"`
}

func defaultConfig() Config {
	return Config{Listen: "127.0.0.1:7070", Data: "./larder-data", LogLevel: "info", LogFormat: "text", RenderCache: "64MiB", MinFreeSpace: "1GiB", MemoryCache: defaultMemoryCache}
}

// defaultRegistries are mounted when the configuration names none: the
// kinds of the table that say so, in its order.
func defaultRegistries() []RegistryConfig {
	var regs []RegistryConfig
	for _, k := range kinds {
		if k.Default {
			regs = append(regs, kindDefaults(k))
		}
	}
	return regs
}

// loadConfig reads a TOML file over the defaults. Every problem names the
// file, the key and what is wrong with it.
func loadConfig(path string) (Config, error) {
	cfg := defaultConfig()
	if path == "" {
		cfg.Registry = defaultRegistries()
		return cfg, cfg.validate("defaults")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return parseConfig(path, b)
}

func parseConfig(path string, b []byte) (Config, error) {
	cfg := defaultConfig()
	md, err := toml.Decode(string(b), &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Config{}, fmt.Errorf("%s: line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	// A kind's own keys are not fields of RegistryConfig: they are read
	// again as they are, for the kind to decode.
	owners := kindKeyOwners()
	var keys []string
	for _, k := range md.Undecoded() {
		if len(k) >= 2 && k[0] == "registry" && owners[k[1]] != nil {
			continue
		}
		keys = append(keys, k.String())
	}
	if len(keys) > 0 {
		return Config{}, fmt.Errorf("%s: unknown key %s", path, strings.Join(keys, ", "))
	}
	var raw struct {
		Registry []map[string]any `toml:"registry"`
	}
	if _, err := toml.Decode(string(b), &raw); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(cfg.Registry) == 0 {
		cfg.Registry = defaultRegistries()
	}
	for i := range cfg.Registry {
		r := &cfg.Registry[i]
		def, ok := kindNamed(r.Kind)
		if !ok {
			return Config{}, fmt.Errorf("%s: registry[%d].kind: unknown kind %q (known: %s)", path, i, r.Kind, knownKinds())
		}
		if i < len(raw.Registry) {
			for key, v := range raw.Registry[i] {
				if owners[key] == nil {
					continue
				}
				if r.Keys == nil {
					r.Keys = registries.KindKeys{}
				}
				r.Keys[key] = v
			}
		}
		d := kindDefaults(def)
		if r.Name == "" {
			r.Name = d.Name
		}
		if r.Upstream == "" {
			r.Upstream = d.Upstream
		}
		if r.MetadataTTL == "" {
			r.MetadataTTL = d.MetadataTTL
		}
	}
	// Paths in a file are read from the file's folder, wherever larder is
	// started: `larder serve --config /etc/larder/larder.toml` finds its
	// data = "data" under /etc/larder, not in the working directory.
	for _, p := range []struct {
		key string
		v   *string
	}{{"data", &cfg.Data}, {"tokens_file", &cfg.TokensFile}, {"tls_cert", &cfg.TLSCert}, {"tls_key", &cfg.TLSKey}} {
		if md.IsDefined(p.key) && *p.v != "" && !filepath.IsAbs(*p.v) {
			*p.v = filepath.Join(filepath.Dir(path), *p.v)
		}
	}
	if cfg.Database != "" && cfg.MemoryCache {
		// Rows kept in one node's memory go stale when another node
		// evicts, quarantines or fetches: with a shared database every
		// request reads it.
		if md.IsDefined("memory_cache") {
			return Config{}, fmt.Errorf("%s: memory_cache: true cannot be kept coherent across the nodes that share database; leave memory_cache out (it is off with a shared database) or set it to false", path)
		}
		cfg.MemoryCache = false
	}
	return cfg, cfg.validate(path)
}

var mountName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// reservedList is reservedNames in order, for messages.
func reservedList() []string {
	names := make([]string, 0, len(reservedNames))
	for n := range reservedNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// reservedNames are paths larder itself serves at the top level.
var reservedNames = map[string]bool{"r": true, "setup": true, "favicon.ico": true, "api": true, "metrics": true, "healthz": true, "readyz": true, "static": true, "-": true}

func (c *Config) validate(path string) error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("%s: %s: %s", path, key, fmt.Sprintf(format, a...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q is not host:port (%v)", c.Listen, err)
	}
	if c.Data == "" {
		return bad("data", "must name a folder")
	}
	if c.PublicURL != "" {
		if _, err := parseHTTPURL(c.PublicURL); err != nil {
			return bad("public_url", "%v", err)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return bad("tls_cert", "tls_cert and tls_key go together")
	}
	switch {
	case c.HTTPEngine != "" && c.HTTPEngine != engineFast && c.HTTPEngine != engineStd:
		return bad("http_engine", "%q is neither %q nor %q", c.HTTPEngine, engineFast, engineStd)
	case c.HTTPEngine == engineFast && c.TLSCert != "":
		return bad("http_engine", "%q serves plain HTTP only; with tls_cert, leave http_engine out (TLS is served by net/http)", engineFast)
	}
	if _, err := newAccess(*c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := parseSize(c.RenderCache); err != nil {
		return bad("render_cache_size", "%v", err)
	}
	if _, err := parseSize(c.MaxCacheSize); err != nil {
		return bad("max_cache_size", "%v", err)
	}
	if c.Database != "" && !storage.IsPostgresURL(c.Database) {
		return bad("database", "%q is not a postgres:// URL (leave database out for SQLite in the data folder)", storage.RedactedDatabase(c.Database))
	}
	if c.BlobStore != "" {
		if _, err := storage.ParseS3URL(c.BlobStore); err != nil {
			return bad("blob_store", "%v", err)
		}
	}
	if c.BlobStore != "" && c.Database == "" {
		// Each node's SQLite would hold rows of its own over one bucket:
		// gc on one would delete what another's rows point at.
		return bad("blob_store", "a shared blob store needs a shared database: set database = \"postgres://…\" too")
	}
	if c.BlobRedirect && c.BlobStore == "" {
		return bad("blob_redirect", "needs blob_store = \"s3://…\": a client can be sent to an object in an S3 store, not to a file in the data folder")
	}
	if c.BlobRedirectExpiry != "" {
		d, err := parseDuration(c.BlobRedirectExpiry)
		switch {
		case err != nil:
			return bad("blob_redirect_expiry", "%v", err)
		case d < time.Second || d > maxBlobRedirectExpiry:
			return bad("blob_redirect_expiry", "%q is not between 1s and 168h (7 days, S3's longest)", c.BlobRedirectExpiry)
		case !c.BlobRedirect:
			return bad("blob_redirect_expiry", "set without blob_redirect = true, it would do nothing")
		}
	}
	if _, err := parseSize(c.MinFreeSpace); err != nil {
		return bad("min_free_space", "%v", err)
	}
	if err := checkReleaseAge("", c.MinReleaseAge, c.MinReleaseAgeExempt); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		return bad("log_level", "%v", err)
	}
	if c.LogFormat != "" && c.LogFormat != "text" && c.LogFormat != "json" {
		return bad("log_format", "%q is neither \"text\" nor \"json\"", c.LogFormat)
	}
	seen := map[string]int{}
	for i, r := range c.Registry {
		key := func(k string) string { return fmt.Sprintf("registry[%d].%s", i, k) }
		if !mountName.MatchString(r.Name) || reservedNames[r.Name] {
			return bad(key("name"), "%q is not a usable mount name (lower-case letters, digits, . _ -; not %s)", r.Name, strings.Join(reservedList(), ", "))
		}
		if j, dup := seen[r.Name]; dup {
			return bad(key("name"), "duplicate name %q (also registry[%d])", r.Name, j)
		}
		seen[r.Name] = i
		kind, ok := kindNamed(r.Kind)
		if !ok {
			return bad(key("kind"), "unknown kind %q (known: %s)", r.Kind, knownKinds())
		}
		if _, err := parseHTTPURL(r.Upstream); err != nil {
			return bad(key("upstream"), "%v", err)
		}
		// Zero is refused rather than read as "the default": a file that
		// says 0s or 0 means something by it, and larder has no such setting.
		for _, d := range []struct{ k, v, def string }{{"metadata_ttl", r.MetadataTTL, shortDuration(kind.MetadataTTL)},
			{"connect_timeout", r.ConnectTimeout, "5s"}, {"response_timeout", r.ResponseTimeout, "15s"}, {"idle_timeout", r.IdleTimeout, "30s"}} {
			v, err := parseDuration(d.v)
			if err != nil {
				return bad(key(d.k), "%v", err)
			}
			if v == 0 && d.v != "" {
				return bad(key(d.k), "%q is zero; want a positive duration such as 1s (leave the key out for the default, %s)", d.v, d.def)
			}
		}
		for _, s := range []struct{ k, v, def string }{{"max_document_size", r.MaxDocumentSize, "256MiB"}, {"max_artifact_size", r.MaxArtifactSize, "4GiB"}} {
			v, err := parseSize(s.v)
			if err != nil {
				return bad(key(s.k), "%v", err)
			}
			if v == 0 && s.v != "" {
				return bad(key(s.k), "%q is zero, which would refuse everything; leave the key out for the default, %s", s.v, s.def)
			}
		}
		if r.MaxConnections < 0 {
			return bad(key("max_connections"), "%d is negative; want a positive number of connections (leave the key out for the default, 64)", r.MaxConnections)
		}
		if r.Unverifiable != "" && !slices.Contains(registries.UnverifiablePolicies, r.Unverifiable) {
			return bad(key("unverifiable"), "%q is not a policy; want one of %s", r.Unverifiable, strings.Join(registries.UnverifiablePolicies, ", "))
		}
		age := ""
		if r.MinReleaseAge != nil {
			age = *r.MinReleaseAge
		}
		if err := checkReleaseAge(fmt.Sprintf("registry[%d].", i), age, r.MinReleaseAgeExempt); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if d, _ := registries.ParseAge(age); d > 0 && !kind.DatesReleases {
			return bad(key("min_release_age"), "kind %s does not date its releases, so larder cannot hold young ones back (kinds that do: %s)", kind.Name, datingKinds())
		}
		if err := checkKindKeys(kind, r.Keys); err != nil {
			var ce *registries.ConfigError
			if errors.As(err, &ce) {
				return bad(key(ce.Key), "%v", ce.Err)
			}
			return bad(fmt.Sprintf("registry[%d]", i), "%v", err)
		}
	}
	return nil
}

// checkReleaseAge checks min_release_age and min_release_age_exempt; prefix
// names the table they are in.
func checkReleaseAge(prefix, age string, exempt []string) error {
	if _, err := registries.ParseAge(age); err != nil {
		return fmt.Errorf("%smin_release_age: %v", prefix, err)
	}
	for i, p := range exempt {
		if err := registries.CheckExempt(p); err != nil {
			return fmt.Errorf("%smin_release_age_exempt[%d]: %v", prefix, i, err)
		}
	}
	return nil
}

// datingKinds names the kinds that date their releases.
func datingKinds() string {
	var names []string
	for _, k := range kinds {
		if k.DatesReleases {
			names = append(names, k.Name)
		}
	}
	return strings.Join(names, ", ")
}

// releaseAge is the policy of one registry: its own age, or the global one;
// the global exemptions and its own. A kind that dates nothing has none
// (serve warns that the global one does not reach it).
func releaseAge(cfg Config, rc RegistryConfig) (time.Duration, []string) {
	if k, ok := kindNamed(rc.Kind); !ok || !k.DatesReleases {
		return 0, nil
	}
	age := cfg.MinReleaseAge
	if rc.MinReleaseAge != nil {
		age = *rc.MinReleaseAge
	}
	d, _ := registries.ParseAge(age) // checked by validate
	return d, append(slices.Clone(cfg.MinReleaseAgeExempt), rc.MinReleaseAgeExempt...)
}

// checkKindKeys has a kind decode its own keys, after refusing those of
// other kinds.
func checkKindKeys(kind registries.Kind, keys registries.KindKeys) error {
	owners := kindKeyOwners()
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Contains(kind.Keys, k) {
			if owners[k] == nil {
				return &registries.ConfigError{Key: k, Err: fmt.Errorf("unknown key for kind %s", kind.Name)}
			}
			return &registries.ConfigError{Key: k, Err: fmt.Errorf("only for kind %s", strings.Join(owners[k], ", "))}
		}
	}
	if kind.Decode == nil {
		return nil
	}
	_, err := kind.Decode(keys, &registries.Options{})
	return err
}

// parseLogLevel reads log_level; "" is info.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not a level: want debug, info, warn, error", s)
}

// loadTLS reads tls_cert and tls_key, so that a file larder cannot use stops
// start-up with the key that names it, before anything listens.
func (c *Config) loadTLS(path string) (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	for _, f := range []struct{ key, file string }{{"tls_cert", c.TLSCert}, {"tls_key", c.TLSKey}} {
		if _, err := os.ReadFile(f.file); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.key, err)
		}
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		// Both files were readable: what is wrong is their content, which
		// LoadX509KeyPair reports for the key in every case but a cert
		// without a certificate in it.
		key := "tls_key"
		if strings.Contains(err.Error(), "certificate input") {
			key = "tls_cert"
		}
		return nil, fmt.Errorf("%s: %s: %s and %s are not a usable certificate and key: %w", path, key, c.TLSCert, c.TLSKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

// parseHTTPURL accepts an absolute http(s) URL without user info.
func parseHTTPURL(s string) (*url.URL, error) { return registries.ParseHTTPURL(s) }

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30s or 5m", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

var sizeUnits = map[string]int64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}

var sizePattern = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$`)

// parseSize reads "4GiB", "500MB" or a number of bytes; "" is 0 (default).
// A size beyond what an int64 holds is an error, not a wrapped negative.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	m := sizePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size such as 500MB or 4GiB", s)
	}
	unit, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q", s, m[2])
	}
	tooLarge := fmt.Errorf("%q is too large (at most %d bytes, about 8 EiB)", s, int64(math.MaxInt64))
	if !strings.Contains(m[1], ".") {
		// Whole numbers stay integers: a float64 cannot tell 2^63-1 from 2^63.
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > math.MaxInt64/unit {
			return 0, tooLarge
		}
		return n * unit, nil
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || f*float64(unit) >= math.MaxInt64 {
		return 0, tooLarge
	}
	return int64(f * float64(unit)), nil
}

// allOffline reports whether no registry ever contacts its upstream.
func (c *Config) allOffline() bool {
	if c.Offline {
		return true
	}
	for _, r := range c.Registry {
		if !r.Offline {
			return false
		}
	}
	return true
}

const (
	engineFast = "fasthttp"
	engineStd  = "net/http"
)

// engine is the HTTP server larder runs: net/http for TLS (and HTTP/2),
// fasthttp for plain HTTP unless the configuration says otherwise.
func (c *Config) engine() string {
	if c.TLSCert != "" || c.HTTPEngine == engineStd {
		return engineStd
	}
	return engineFast
}
