// Package cargotest is a fake Cargo sparse registry on 127.0.0.1, for the
// tests of cargo and e2e: config.json, index files at their prefix paths
// (one JSON line per version, answered with an ETag that If-None-Match
// revalidates), and the .crate files at
// crates/{crate}/{crate}-{version}.crate, as static.crates.io keeps them.
// Its fault modes are registriestest/faults'.
package cargotest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// Server is a fake sparse registry. Its methods are safe for concurrent
// use.
type Server struct {
	// URL is the index's base URL, "http://127.0.0.1:PORT/".
	URL string

	sw *faults.Switch

	mu     sync.Mutex
	crates map[string][]*Version // lower-case name → versions, in publishing order
	counts map[string]int        // "GET /path" → requests
}

// Version is one published version, as the registry serves it.
type Version struct {
	Name, Vers string
	Crate      []byte
	// Line is its index line, without the newline.
	Line []byte
}

// Dep is a dependency, as an index line lists it.
type Dep struct {
	Name            string   `json:"name"`
	Req             string   `json:"req"`
	Features        []string `json:"features"`
	Optional        bool     `json:"optional"`
	DefaultFeatures bool     `json:"default_features"`
	Target          *string  `json:"target"`
	Kind            string   `json:"kind"`
	Package         string   `json:"package,omitempty"`
}

// New starts a fake registry; Close stops it.
func New() *Server {
	s := &Server{sw: faults.NewSwitch(), crates: map[string][]*Version{}, counts: map[string]int{}}
	s.URL = "http://" + s.sw.Listen(http.HandlerFunc(s.serve)) + "/"
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.sw.Close() }

// SetMode switches the fake to a fault mode.
func (s *Server) SetMode(m faults.Mode) { s.sw.Set(m) }

// DownloadURL is the fake's download template, as a cargo registry's
// download_url takes it.
func (s *Server) DownloadURL() string { return s.URL + "crates/{crate}/{crate}-{version}.crate" }

// CratePath is the fake's own path of a .crate, with the leading "/".
func CratePath(name, version string) string {
	return "/crates/" + name + "/" + name + "-" + version + ".crate"
}

// Count is how many requests of method the fake received for path (its
// own path, with the leading "/").
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method+" "+path]
}

// Publish publishes a version whose .crate is a tiny library crate made
// here, depending on deps; it returns the .crate's bytes.
func (s *Server) Publish(name, version string, deps ...Dep) []byte {
	crate := Crate(name, version, map[string]string{"src/lib.rs": "pub fn name() -> &'static str { \"" + name + "\" }\n"})
	s.PublishBytes(name, version, crate, deps...)
	return crate
}

// PublishBytes publishes a version whose .crate is exactly body, which
// need not be a crate at all; its line's cksum is body's sha256.
func (s *Server) PublishBytes(name, version string, body []byte, deps ...Dep) {
	sum := sha256.Sum256(body)
	s.publish(name, version, body, hex.EncodeToString(sum[:]), deps)
}

// PublishUndeclared publishes a version whose index line has no cksum.
func (s *Server) PublishUndeclared(name, version string) []byte {
	crate := Crate(name, version, map[string]string{"src/lib.rs": "\n"})
	s.publish(name, version, crate, "", nil)
	return crate
}

// PublishCrate publishes a .crate that cargo packaged, with the line a
// registry makes of its Cargo.toml: its name, version and dependencies.
func (s *Server) PublishCrate(crate []byte) (*Version, error) {
	manifest, err := CrateManifest(crate)
	if err != nil {
		return nil, err
	}
	var m struct {
		Package struct {
			Name    string `toml:"name"`
			Version string `toml:"version"`
		} `toml:"package"`
		Dependencies      map[string]any `toml:"dependencies"`
		BuildDependencies map[string]any `toml:"build-dependencies"`
	}
	if err := toml.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("the crate's Cargo.toml: %w", err)
	}
	var deps []Dep
	for kind, table := range map[string]map[string]any{"normal": m.Dependencies, "build": m.BuildDependencies} {
		for key, spec := range table {
			d := Dep{Name: key, Req: "*", Features: []string{}, DefaultFeatures: true, Kind: kind}
			switch spec := spec.(type) {
			case string:
				d.Req = spec
			case map[string]any:
				if v, ok := spec["version"].(string); ok {
					d.Req = v
				}
				if v, ok := spec["optional"].(bool); ok {
					d.Optional = v
				}
				if v, ok := spec["default-features"].(bool); ok {
					d.DefaultFeatures = v
				}
				if v, ok := spec["package"].(string); ok {
					d.Package = v
				}
			}
			deps = append(deps, d)
		}
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].Name < deps[j].Name })
	s.PublishBytes(m.Package.Name, m.Package.Version, crate, deps...)
	return s.Version(m.Package.Name, m.Package.Version), nil
}

func (s *Server) publish(name, version string, crate []byte, cksum string, deps []Dep) {
	if deps == nil {
		deps = []Dep{}
	}
	line, err := json.Marshal(struct {
		Name     string              `json:"name"`
		Vers     string              `json:"vers"`
		Deps     []Dep               `json:"deps"`
		Cksum    string              `json:"cksum,omitempty"`
		Features map[string][]string `json:"features"`
		Yanked   bool                `json:"yanked"`
	}{name, version, deps, cksum, map[string][]string{}, false})
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	s.crates[key] = append(s.crates[key], &Version{Name: name, Vers: version, Crate: crate, Line: line})
}

// SetPubtime dates a published version's index line at t (its pubtime,
// as crates.io writes it), as tests of the release-age policy choose
// publish times.
func (s *Server) SetPubtime(name, version string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.crates[strings.ToLower(name)] {
		if v.Vers != version {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(v.Line, &fields); err != nil {
			panic(err)
		}
		fields["pubtime"], _ = json.Marshal(t.UTC().Format(time.RFC3339))
		line, err := json.Marshal(fields)
		if err != nil {
			panic(err)
		}
		v.Line = line
		return
	}
	panic("cargotest: SetPubtime: " + name + "@" + version + " was never published")
}

// Version is what the fake serves for a published version, nil if none.
func (s *Server) Version(name, version string) *Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.crates[strings.ToLower(name)] {
		if v.Vers == version {
			return v
		}
	}
	return nil
}

// Index is the index file the fake serves for a crate, nil if none.
func (s *Server) Index(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var body []byte
	for _, v := range s.crates[strings.ToLower(name)] {
		body = append(append(body, v.Line...), '\n')
	}
	return body
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counts[r.Method+" "+r.URL.Path]++
	s.mu.Unlock()
	mode, ok := s.sw.Admit(w, r)
	if !ok {
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	if p == "config.json" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"dl\":%q,\"api\":%q}\n", s.DownloadURL(), strings.TrimSuffix(s.URL, "/"))
		return
	}
	if rest, ok := strings.CutPrefix(p, "crates/"); ok {
		s.serveCrate(w, r, rest, mode)
		return
	}
	name := p[strings.LastIndexByte(p, '/')+1:]
	if p != indexPath(name) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body := s.Index(name)
	if body == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(body)
}

func (s *Server) serveCrate(w http.ResponseWriter, r *http.Request, rest string, mode faults.Mode) {
	name, file, _ := strings.Cut(rest, "/")
	version, ok := strings.CutSuffix(strings.TrimPrefix(file, name+"-"), ".crate")
	v := s.Version(name, version)
	if !ok || v == nil || v.Name != name {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body := v.Crate
	w.Header().Set("Content-Type", "application/gzip")
	switch mode {
	case faults.WrongDigest:
		body = faults.Flipped(body)
	case faults.Truncate:
		faults.Truncated(w, body)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// indexPath is the registry-index layout, which the fake keeps apart from
// larder's own code so that the two check each other.
func indexPath(name string) string {
	n := strings.ToLower(name)
	switch len(n) {
	case 0:
		return ""
	case 1:
		return "1/" + n
	case 2:
		return "2/" + n
	case 3:
		return "3/" + n[:1] + "/" + n
	}
	return n[:2] + "/" + n[2:4] + "/" + n
}

// Crate is a .crate as cargo package makes one: a gzipped tar of
// {name}-{version}/ holding Cargo.toml and files (path → content).
func Crate(name, version string, files map[string]string) []byte {
	all := map[string]string{"Cargo.toml": fmt.Sprintf("[package]\nname = %q\nversion = %q\nedition = \"2021\"\n", name, version)}
	for k, v := range files {
		all[k] = v
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: name + "-" + version + "/" + n, Mode: 0o644, Size: int64(len(all[n])),
			ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg})
		tw.Write([]byte(all[n]))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// CrateManifest is the Cargo.toml at the top of a .crate.
func CrateManifest(crate []byte) ([]byte, error) {
	gz, err := gzip.NewReader(bytes.NewReader(crate))
	if err != nil {
		return nil, fmt.Errorf("not a .crate: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("no Cargo.toml in the .crate: %w", err)
		}
		if parts := strings.Split(h.Name, "/"); len(parts) == 2 && parts[1] == "Cargo.toml" {
			return io.ReadAll(io.LimitReader(tr, 1<<20))
		}
	}
}

// Package runs `cargo package` in a crate's folder, with env (a CARGO_HOME
// of the test's, and a registry that serves its dependencies, if it has
// any), and returns the .crate it made.
func Package(ctx context.Context, dir string, env []string) ([]byte, error) {
	target := filepath.Join(dir, "target")
	os.RemoveAll(filepath.Join(target, "package"))
	cmd := exec.CommandContext(ctx, "cargo", "package", "--no-verify", "--allow-dirty", "--quiet")
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cargo package in %s: %v\n%s", dir, err, out)
	}
	made, err := filepath.Glob(filepath.Join(target, "package", "*.crate"))
	if err != nil || len(made) != 1 {
		return nil, fmt.Errorf("cargo package in %s made %v, want one .crate", dir, made)
	}
	return os.ReadFile(made[0])
}
