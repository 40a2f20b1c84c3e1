package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
)

func TestConfigWithoutAFileMountsEveryEcosystem(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7070" || cfg.Data != "./larder-data" {
		t.Errorf("defaults: %+v", cfg)
	}
	var names []string
	for _, rc := range cfg.Registry {
		names = append(names, rc.Name)
	}
	if !slices.Equal(names, []string{"npm", "pypi", "go", "cargo", "gems", "maven"}) ||
		cfg.Registry[0].Upstream != "https://registry.npmjs.org/" ||
		cfg.Registry[1].Upstream != "https://pypi.org/simple/" || cfg.Registry[1].MetadataTTL != "10m" ||
		cfg.Registry[2].Upstream != "https://proxy.golang.org/" {
		t.Errorf("registries: %+v", cfg.Registry)
	}
}

func TestConfigMountsTwoNpmUpstreams(t *testing.T) {
	cfg, err := parseConfig("larder.toml", []byte(`
listen = "127.0.0.1:8080"
data = "/var/lib/larder"
public_url = "https://npm-mirror.example.com"
[[registry]]
name = "npm"
kind = "npm"
upstream = "https://registry.npmjs.org/"
metadata_ttl = "5m"
[[registry]]
name = "internal"
kind = "npm"
upstream = "https://npm.internal.example.com/base"
tarball_hosts = ["registry.npmjs.org", "https://cdn.example.com/"]
response_timeout = "3s"
max_artifact_size = "1GiB"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Registry) != 2 || cfg.Registry[1].Name != "internal" {
		t.Fatalf("registries: %+v", cfg.Registry)
	}
	o, err := registryOptions(cfg, cfg.Registry[1])
	if err != nil {
		t.Fatal(err)
	}
	if o.Upstream.String() != "https://npm.internal.example.com/base/" {
		t.Errorf("upstream = %s, want a trailing slash added", o.Upstream)
	}
	if o.ResponseTimeout != 3*time.Second || o.MaxArtifactSize != 1<<30 || o.MetadataTTL != 5*time.Minute {
		t.Errorf("options: %+v", o)
	}
	if len(o.AlsoFrom) != 2 || o.AlsoFrom[0].Host != "registry.npmjs.org" || o.AlsoFrom[1].Host != "cdn.example.com" {
		t.Errorf("tarball hosts: %v", o.AlsoFrom)
	}
}

func TestBadConfigNamesTheFileTheKeyAndTheProblem(t *testing.T) {
	tests := []struct {
		name, toml string
		want       []string
	}{
		{"an unknown top-level key", `listn = "x"`, []string{"larder.toml", "unknown key", "listn"}},
		{"an unknown registry key", "[[registry]]\nkind = \"npm\"\nupstrem = \"x\"", []string{"larder.toml", "unknown key", "registry.upstrem"}},
		{"an unknown kind", "[[registry]]\nkind = \"conda\"", []string{"larder.toml", "registry[0].kind", "unknown kind \"conda\""}},
		{"a duplicate name", "[[registry]]\nkind = \"npm\"\n[[registry]]\nkind = \"npm\"", []string{"larder.toml", "registry[1].name", "duplicate name \"npm\""}},
		{"a bad upstream URL", "[[registry]]\nkind = \"npm\"\nupstream = \"ftp://x/\"", []string{"larder.toml", "registry[0].upstream", "http"}},
		{"an upstream with user info", "[[registry]]\nkind = \"npm\"\nupstream = \"https://u:p@x/\"", []string{"registry[0].upstream", "user info"}},
		{"a bad duration", "[[registry]]\nkind = \"npm\"\nmetadata_ttl = \"soon\"", []string{"registry[0].metadata_ttl", "not a duration"}},
		{"a bad size", "[[registry]]\nkind = \"npm\"\nmax_artifact_size = \"huge\"", []string{"registry[0].max_artifact_size", "not a size"}},
		{"a reserved name", "[[registry]]\nkind = \"npm\"\nname = \"metrics\"", []string{"registry[0].name", "metrics"}},
		{"a bad listen address", `listen = "7070"`, []string{"larder.toml", "listen"}},
		{"a syntax error", "listen = ", []string{"larder.toml", "line 1"}},
		{"an unknown HTTP engine", `http_engine = "nginx"`, []string{"larder.toml", "http_engine", "\"nginx\""}},
		{"fasthttp with TLS", "http_engine = \"fasthttp\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"", []string{"http_engine", "plain HTTP only"}},
		{"file_hosts on npm", "[[registry]]\nkind = \"npm\"\nfile_hosts = [\"x\"]", []string{"registry[0].file_hosts", "only for kind pypi"}},
		{"a size that overflows", "[[registry]]\nkind = \"npm\"\nmax_artifact_size = \"99999999999999999999\"", []string{"larder.toml", "registry[0].max_artifact_size", "too large"}},
		{"a size in units that overflows", `max_cache_size = "9000000TiB"`, []string{"larder.toml", "max_cache_size", "too large"}},
		{"a zero artifact size", "[[registry]]\nkind = \"npm\"\nmax_artifact_size = \"0\"", []string{"registry[0].max_artifact_size", "leave the key out"}},
		{"an unknown log level", `log_level = "verbose"`, []string{"larder.toml", "log_level", "\"verbose\"", "debug, info, warn, error"}},
		{"an unknown unverifiable policy", "[[registry]]\nkind = \"npm\"\nunverifiable = \"trust\"", []string{"larder.toml", "registry[0].unverifiable", "\"trust\"", "pin-first-seen, refuse"}},
		{"an unknown log format", `log_format = "xml"`, []string{"larder.toml", "log_format", "\"xml\"", "text", "json"}},
		{"a zero metadata_ttl", "[[registry]]\nkind = \"npm\"\nmetadata_ttl = \"0s\"", []string{"larder.toml", "registry[0].metadata_ttl", "\"0s\""}},
		{"a zero time-out", "[[registry]]\nkind = \"npm\"\nconnect_timeout = \"0\"", []string{"registry[0].connect_timeout", "\"0\""}},
		{"a bad free space floor", `min_free_space = "plenty"`, []string{"larder.toml", "min_free_space", "not a size"}},
		{"memory_cache not a boolean", `memory_cache = "off"`, []string{"larder.toml", "memory_cache", "boolean"}},
		{"a bad global release age", `min_release_age = "3 days"`, []string{"larder.toml", "min_release_age", "3d"}},
		{"a release age in months", "[[registry]]\nkind = \"npm\"\nmin_release_age = \"P1M\"", []string{"larder.toml", "registry[0].min_release_age", "months"}},
		{"an exemption naming no package", "[[registry]]\nkind = \"npm\"\nmin_release_age_exempt = [\"lodash\", \"@\"]", []string{"larder.toml", "registry[0].min_release_age_exempt[1]", "names no package"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig("larder.toml", []byte(tt.toml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestARegistryTakesTheGlobalReleaseAgeUnlessItSetsItsOwn(t *testing.T) {
	cfg, err := parseConfig("larder.toml", []byte(`min_release_age = "3d"
min_release_age_exempt = ["@our-org/*"]
[[registry]]
kind = "npm"
min_release_age_exempt = ["typescript@5.9.3"]
[[registry]]
kind = "pypi"
min_release_age = "P1W"
[[registry]]
kind = "go"
min_release_age = "0"
`))
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	for i, want := range []struct {
		age    time.Duration
		exempt []string
	}{{3 * day, []string{"@our-org/*", "typescript@5.9.3"}}, {7 * day, []string{"@our-org/*"}}, {0, []string{"@our-org/*"}}} {
		o, err := registryOptions(cfg, cfg.Registry[i])
		if err != nil {
			t.Fatal(err)
		}
		if o.MinReleaseAge != want.age || strings.Join(o.MinReleaseAgeExempt, " ") != strings.Join(want.exempt, " ") {
			t.Errorf("%s: min_release_age %v exempt %v, want %v %v", cfg.Registry[i].Name, o.MinReleaseAge, o.MinReleaseAgeExempt, want.age, want.exempt)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{{"", 0}, {"1024", 1024}, {"4GiB", 4 << 30}, {"500MB", 500e6}, {"1.5 MiB", 3 << 19}, {"64k", 64 << 10},
		{"9223372036854775807", 1<<63 - 1}, {"8388607TiB", 8388607 << 40}}
	for _, tt := range tests {
		if got, err := parseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"-1", "lots", "4 parsecs", "99999999999999999999", "9223372036854775808", "8388608TiB", "1e3"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

// FuzzParseConfig: any file either loads into a configuration that passes
// validation, or is refused with a message naming the file; never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add("listen = \"127.0.0.1:7070\"\n[[registry]]\nkind = \"npm\"\n")
	f.Add("[[registry]]\nkind = \"pypi\"\nfile_hosts = [\"https://files.pythonhosted.org/\"]\nmetadata_ttl = \"10m\"\n")
	f.Add("allow = [\"10.0.0.0/8\"]\ntokens = [\"x\"]\nlisten = \"0.0.0.0:1\"\n")
	f.Add("[[registry]]\nname = \"../etc\"\nkind = \"npm\"\n")
	f.Add("max_artifact_size = 1")
	f.Add("[[registry]]\nkind = \"npm\"\nmax_artifact_size = \"99999999999999999999\"\n")
	f.Add("log_level = \"verbose\"\nlog_format = \"xml\"\n")
	f.Fuzz(func(t *testing.T, body string) {
		cfg, err := parseConfig("fuzz.toml", []byte(body))
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, r := range cfg.Registry {
			if !mountName.MatchString(r.Name) {
				t.Fatalf("accepted mount name %q", r.Name)
			}
			if _, err := registryOptions(cfg, r); err != nil {
				t.Fatalf("validated config gives bad options: %v", err)
			}
		}
	})
}

func TestTheHTTPEngine(t *testing.T) {
	for _, c := range []struct {
		toml, want string
	}{
		{``, engineFast},
		{`http_engine = "net/http"`, engineStd},
		{`http_engine = "fasthttp"`, engineFast},
		{"tls_cert = \"c.pem\"\ntls_key = \"k.pem\"", engineStd},
	} {
		cfg, err := parseConfig("larder.toml", []byte(c.toml))
		if err != nil {
			t.Fatalf("%q: %v", c.toml, err)
		}
		if got := cfg.engine(); got != c.want {
			t.Errorf("%q: engine %q, want %q", c.toml, got, c.want)
		}
	}
}

// The log settings read as what was written, in any case.
func TestLogSettings(t *testing.T) {
	for _, c := range []struct {
		toml  string
		level slog.Level
		json  bool
	}{
		{``, slog.LevelInfo, false},
		{`log_level = "debug"`, slog.LevelDebug, false},
		{"log_level = \"WARN\"\nlog_format = \"json\"", slog.LevelWarn, true},
		{`log_level = "error"`, slog.LevelError, false},
	} {
		cfg, err := parseConfig("larder.toml", []byte(c.toml))
		if err != nil {
			t.Fatalf("%q: %v", c.toml, err)
		}
		var out bytes.Buffer
		log := newLogger(cfg, &out)
		if !log.Enabled(context.Background(), c.level) || (c.level > slog.LevelDebug && log.Enabled(context.Background(), c.level-1)) {
			t.Errorf("%q: not at level %v", c.toml, c.level)
		}
		log.Log(context.Background(), c.level, "hello")
		if got := strings.HasPrefix(out.String(), "{"); got != c.json {
			t.Errorf("%q: wrote %q", c.toml, out.String())
		}
	}
}

// A TLS file that cannot be read stops start-up, naming the file and the
// key, before larder listens or says it is serving.
func TestAMissingTLSFileStopsStartUp(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	for _, c := range []struct {
		name, cert, key, want string
	}{
		{"no cert", filepath.Join(dir, "missing-cert.pem"), key, "tls_cert"},
		{"no key", cert, filepath.Join(dir, "missing-key.pem"), "tls_key"},
		{"a key of another cert", cert, cert, "tls_key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conf := filepath.Join(dir, "larder.toml")
			data := filepath.Join(dir, "data-"+strings.ReplaceAll(c.name, " ", "-"))
			body := fmt.Sprintf("listen = \"127.0.0.1:0\"\ndata = %q\ntls_cert = %q\ntls_key = %q\n", data, c.cert, c.key)
			if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- serve([]string{"--config", conf}) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				syscall.Kill(os.Getpid(), syscall.SIGTERM) // serve is running: stop it
				err = <-done
				t.Fatalf("larder started serving with an unusable TLS file (then: %v)", err)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range []string{conf, c.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if _, serr := os.Stat(data); serr == nil {
				t.Errorf("the data folder was created before the TLS files were checked")
			}
		})
	}
}

// writeSelfSigned writes a certificate and its key for 127.0.0.1.
func writeSelfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// A kind that dates nothing (as a new one may, before it implements the
// hook) never silently serves what a policy would hold back.
func TestAKindThatDatesNothingCannotHaveAReleaseAgePolicy(t *testing.T) {
	saved := kinds
	t.Cleanup(func() { kinds = saved })
	kinds = slices.Clone(kinds)
	for i := range kinds {
		if kinds[i].Name == "go" {
			kinds[i].DatesReleases = false
		}
	}
	_, err := parseConfig("larder.toml", []byte("[[registry]]\nkind = \"go\"\nmin_release_age = \"3d\"\n"))
	if err == nil || !strings.Contains(err.Error(), "registry[0].min_release_age") || !strings.Contains(err.Error(), "does not date its releases") {
		t.Errorf("min_release_age on a kind that dates nothing: %v", err)
	}
	cfg, err := parseConfig("larder.toml", []byte("min_release_age = \"3d\"\n[[registry]]\nkind = \"go\"\n[[registry]]\nkind = \"npm\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []time.Duration{0, 72 * time.Hour} {
		if o, _ := registryOptions(cfg, cfg.Registry[i]); o.MinReleaseAge != want {
			t.Errorf("%s under the global policy: %v, want %v", cfg.Registry[i].Kind, o.MinReleaseAge, want)
		}
	}
}

func TestAViewOfAKindThatDatesNothingIsA404(t *testing.T) {
	saved := kinds
	t.Cleanup(func() { kinds = saved })
	kinds = slices.Clone(kinds)
	for i := range kinds {
		if kinds[i].Name == "npm" {
			kinds[i].DatesReleases = false
		}
	}
	up := registries.NewUpstream(registriestest.NewEnv(t), registries.Options{Name: "npm", Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/"}})
	t.Cleanup(up.Close)
	h := viewHandler([]registries.Registry{npm.New(up, "")})
	for path, want := range map[string]int{"/@P3D/npm/leaf": http.StatusNotFound, "/@P3D/nothing/leaf": http.StatusNotFound, "/@soon/npm/leaf": http.StatusBadRequest} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://larder.test"+path, nil))
		if w.Code != want {
			t.Errorf("%s: %d %s, want %d", path, w.Code, w.Body, want)
		}
	}
}

func TestSharedBackendsAreCheckedAndTurnTheMemoryCacheOff(t *testing.T) {
	cfg, err := parseConfig("larder.toml", []byte(`database = "postgres://larder@db:5432/larder"
blob_store = "s3://blobs/prod?endpoint=http://127.0.0.1:9000&region=eu-west-1"`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MemoryCache {
		t.Error("memory_cache is on with a shared database")
	}
	if b := cfg.backends(); !b.Shared() || b.Database == "" || b.BlobStore == "" {
		t.Errorf("backends = %+v", b)
	}
	for body, want := range map[string]string{
		`database = "mysql://db/larder"`:                                          `database: "mysql://db/larder" is not a postgres:// URL`,
		`database = "postgres://u:secret@db/larder"` + "\nblob_store = \"s3://\"": `blob_store: blob_store "s3://": no bucket named`,
		`blob_store = "s3://b?endpoint=http://h"`:                                 `a shared blob store needs a shared database`,
		`database = "postgres://db/l"` + "\nmemory_cache = true":                  `memory_cache: true cannot be kept coherent`,
	} {
		_, err := parseConfig("larder.toml", []byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant an error saying %q", body, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

func TestBlobRedirectNeedsAnS3BlobStoreAndAnExpiryS3Signs(t *testing.T) {
	shared := `database = "postgres://larder@db:5432/larder"
blob_store = "s3://blobs?endpoint=http://127.0.0.1:9000&region=eu-west-1"
`
	cfg, err := parseConfig("larder.toml", []byte(shared+"blob_redirect = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.blobRedirect(); got != defaultBlobRedirectExpiry {
		t.Errorf("blob_redirect = true redirects for %v, want the default %v", got, defaultBlobRedirectExpiry)
	}
	cfg, err = parseConfig("larder.toml", []byte(shared+"blob_redirect = true\nblob_redirect_expiry = \"90s\"\n"))
	if err != nil || cfg.blobRedirect() != 90*time.Second {
		t.Errorf("blob_redirect_expiry = 90s: %v, %v", cfg.blobRedirect(), err)
	}
	if cfg, _ := parseConfig("larder.toml", []byte(shared)); cfg.blobRedirect() != 0 {
		t.Errorf("without blob_redirect, artifacts are redirected for %v", cfg.blobRedirect())
	}
	for body, want := range map[string]string{
		"blob_redirect = true": `blob_redirect: needs blob_store = "s3://…"`,
		shared + "blob_redirect = true\nblob_redirect_expiry = \"soon\"": `blob_redirect_expiry: "soon" is not a duration`,
		shared + "blob_redirect = true\nblob_redirect_expiry = \"0s\"":   `blob_redirect_expiry: "0s" is not between 1s and 168h`,
		shared + "blob_redirect = true\nblob_redirect_expiry = \"200h\"": `blob_redirect_expiry: "200h" is not between 1s and 168h`,
		shared + "blob_redirect_expiry = \"5m\"":                         `blob_redirect_expiry: set without blob_redirect = true`,
	} {
		_, err := parseConfig("larder.toml", []byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant an error saying %q", body, err, want)
		}
	}
}
