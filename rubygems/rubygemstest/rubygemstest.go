// Package rubygemstest is a fake rubygems.org for tests: the compact index
// (/versions, /info/NAME, /names), .gem files and gemspecs
// (/quick/Marshal.4.8/NAME-VERSION.gemspec.rz), and the full index
// (specs.4.8.gz and its two siblings) when a test sets one, served on 127.0.0.1 as
// rubygems.org serves them — /versions only ever appended to, every file
// with the quoted MD5 of its bytes as ETag, ranges and If-None-Match
// answered (http.ServeContent) — with the fault modes of
// registriestest/faults.
//
// It knows nothing of Ruby: what it serves are the bytes a test publishes
// (a `gem build` of a tiny gemspec, or any bytes at all).
package rubygemstest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// Gem is one release of a gem, as a test publishes it.
type Gem struct {
	Name    string
	Version string // "1.0.0"
	// Platform is "" for a pure-Ruby gem, else "java", "x86_64-linux"…
	Platform string
	// Body is the .gem's bytes; Spec the gemspec gem asks for
	// (quick/Marshal.4.8), nil when the test has none to serve.
	Body, Spec []byte
	// Deps are the run-time requirements, "name:REQ&REQ" each, as the
	// info line writes them; Ruby the required Ruby version ("" none).
	Deps []string
	Ruby string
	// Undeclared publishes the release without a checksum in its info
	// line.
	Undeclared bool
}

// Release is the gem's version and platform as the index writes them.
func (g Gem) Release() string {
	if g.Platform == "" {
		return g.Version
	}
	return g.Version + "-" + g.Platform
}

// FileName is the .gem's name: "rack-2.2.8.gem".
func (g Gem) FileName() string { return g.Name + "-" + g.Release() + ".gem" }

func (g Gem) infoLine() string {
	var reqs []string
	if !g.Undeclared {
		sum := sha256.Sum256(g.Body)
		reqs = append(reqs, "checksum:"+hex.EncodeToString(sum[:]))
	}
	if g.Ruby != "" {
		reqs = append(reqs, "ruby:"+g.Ruby)
	}
	return g.Release() + " " + strings.Join(g.Deps, ",") + "|" + strings.Join(reqs, ",")
}

// Server is a fake rubygems.org.
type Server struct {
	URL string // "http://127.0.0.1:PORT/"
	sw  *faults.Switch

	mu       sync.Mutex
	gems     map[string][]Gem  // name → releases, in order of publication
	files    map[string]Gem    // "gems/NAME-REL.gem" and "quick/…rz" → release
	versions []byte            // /versions, appended to by every publication
	counts   map[string]int    // "GET /path" → requests
	ranges   int               // 206 answers of /versions and /info
	full     map[string][]byte // "specs.4.8.gz" … → bytes
}

// New starts a fake rubygems.org; Close stops it.
func New() *Server {
	s := &Server{sw: faults.NewSwitch(), gems: map[string][]Gem{}, files: map[string]Gem{}, counts: map[string]int{}, full: map[string][]byte{},
		versions: []byte("created_at: 2026-01-01T00:00:00Z\n---\n")}
	s.URL = "http://" + s.sw.Listen(http.HandlerFunc(s.serve)) + "/"
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.sw.Close() }

// SetMode switches the fake to a fault mode.
func (s *Server) SetMode(m faults.Mode) { s.sw.Set(m) }

// Count is how many requests of method the fake received for path (its
// own path, with the leading "/": "/info/rack").
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method+" "+path]
}

// Ranges is how many partial answers (206) the fake gave.
func (s *Server) Ranges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ranges
}

// Publish publishes a release (again: its bytes replace the old ones) and
// appends the gem's line to /versions, as rubygems.org does.
func (s *Server) Publish(g Gem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.gems[g.Name]
	replaced := false
	for i, old := range list {
		if old.Release() == g.Release() {
			list[i], replaced = g, true
		}
	}
	if !replaced {
		list = append(list, g)
	}
	s.gems[g.Name] = list
	s.files["gems/"+g.FileName()] = g
	s.files["quick/Marshal.4.8/"+g.Name+"-"+g.Release()+".gemspec.rz"] = g
	sum := md5.Sum(s.info(g.Name))
	s.versions = append(s.versions, fmt.Sprintf("%s %s %s\n", g.Name, g.Release(), hex.EncodeToString(sum[:]))...)
}

// SetFullIndex sets what the fake serves as file of the full index
// ("specs.4.8.gz", "latest_specs.4.8.gz", "prerelease_specs.4.8.gz"): the
// fake writes no Marshal, a test gives the bytes (Ruby's Gem::Indexer
// writes them on rubygems.org). Unset, the file is a 404.
func (s *Server) SetFullIndex(file string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.full[file] = body
}

// Info is the info file of a gem as the fake serves it.
func (s *Server) Info(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info(name)
}

func (s *Server) info(name string) []byte {
	var b bytes.Buffer
	b.WriteString("---\n")
	for _, g := range s.gems[name] {
		b.WriteString(g.infoLine() + "\n")
	}
	return b.Bytes()
}

// Versions is /versions as the fake serves it.
func (s *Server) Versions() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.versions...)
}

func (s *Server) names() []byte {
	names := make([]string, 0, len(s.gems))
	for n := range s.gems {
		names = append(names, n)
	}
	sort.Strings(names)
	return []byte("---\n" + strings.Join(append(names, ""), "\n"))
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
	s.mu.Lock()
	var body []byte
	found, index := true, true
	switch {
	case p == "versions":
		body = append([]byte(nil), s.versions...)
	case p == "names":
		body = s.names()
	case strings.HasPrefix(p, "info/"):
		_, found = s.gems[strings.TrimPrefix(p, "info/")]
		body = s.info(strings.TrimPrefix(p, "info/"))
	case s.full[p] != nil:
		body, index = s.full[p], false
	default:
		var g Gem
		g, found = s.files[p]
		index = false
		body = g.Body
		if strings.HasSuffix(p, ".rz") {
			body = g.Spec
			found = found && g.Spec != nil
		}
	}
	s.mu.Unlock()
	if !found {
		http.Error(w, "This gem could not be found", http.StatusNotFound)
		return
	}
	if !index {
		switch mode {
		case faults.Truncate:
			faults.Truncated(w, body)
			return
		case faults.WrongDigest:
			body = faults.Flipped(body)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
		return
	}
	sum := md5.Sum(body)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Accept-Ranges", "bytes")
	rec := &statusWriter{ResponseWriter: w}
	http.ServeContent(rec, r, "", time.Time{}, bytes.NewReader(body))
	if rec.status == http.StatusPartialContent {
		s.mu.Lock()
		s.ranges++
		s.mu.Unlock()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
