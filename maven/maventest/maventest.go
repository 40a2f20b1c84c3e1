// Package maventest is a fake Maven repository on 127.0.0.1, for the tests
// of maven and e2e: it serves the files a test publishes, and any folders
// of a Maven repository layout it is given (Debian's /usr/share/maven-repo,
// whose real plugins and libraries are enough for `mvn package`), in the
// layout of Maven Central: every file with its .sha1, .md5, .sha256 and
// .sha512 beside it (computed), and maven-metadata.xml for each artifact
// (written from the versions it has). Documents answer If-None-Match with
// 304. Its fault modes are registriestest/faults'; a file can also be
// tampered with alone (Tamper).
package maventest

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// Server is a fake Maven repository. Its methods are safe for concurrent
// use.
type Server struct {
	// URL is the repository's base URL, "http://127.0.0.1:PORT/".
	URL string

	sw *faults.Switch

	mu         sync.Mutex
	files      map[string][]byte   // published: path → bytes
	undeclared map[string]bool     // published without checksum files
	tampered   map[string]bool     // served with other bytes than its checksums sum
	versions   map[string][]string // "g/r/o/u/p/artifact" → versions, in the order published
	dirs       []string            // folders in the repository layout, served below the root
	counts     map[string]int      // "GET /path" → requests
	updated    map[string]string   // "g/r/o/u/p/artifact" → its metadata's lastUpdated
	answers    map[string]answer   // path → what it is answered, whatever is published
}

type answer struct {
	status int
	body   []byte
}

// New starts a fake repository; Close stops it.
func New() *Server {
	s := &Server{sw: faults.NewSwitch(), files: map[string][]byte{}, undeclared: map[string]bool{},
		tampered: map[string]bool{}, versions: map[string][]string{}, counts: map[string]int{}, updated: map[string]string{},
		answers: map[string]answer{}}
	s.URL = "http://" + s.sw.Listen(http.HandlerFunc(s.serve)) + "/"
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.sw.Close() }

// SetMode switches the fake to a fault mode. Truncate and WrongDigest
// touch files, never checksums or metadata.
func (s *Server) SetMode(m faults.Mode) { s.sw.Set(m) }

// ServeDir serves a folder in the repository layout below the root, after
// what is published; symbolic links are followed (Debian's point into
// /usr/share/java).
func (s *Server) ServeDir(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirs = append(s.dirs, dir)
}

// Count is how many requests of method the fake received for path (with
// the leading "/").
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method+" "+path]
}

// Dir is the folder of an artifact's version: "com/example/lib/1.0".
func Dir(group, artifact, version string) string {
	return strings.ReplaceAll(group, ".", "/") + "/" + artifact + "/" + version
}

// Publish publishes a version of group:artifact whose files are named by
// what follows "artifact-version" (".jar", ".pom", "-sources.jar"), and
// lists the version in the artifact's maven-metadata.xml. It returns the
// files' paths by those names.
func (s *Server) Publish(group, artifact, version string, files map[string][]byte) map[string]string {
	return s.publish(group, artifact, version, files, false)
}

// PublishUndeclared is Publish without checksum files beside the files.
func (s *Server) PublishUndeclared(group, artifact, version string, files map[string][]byte) map[string]string {
	return s.publish(group, artifact, version, files, true)
}

func (s *Server) publish(group, artifact, version string, files map[string][]byte, undeclared bool) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := Dir(group, artifact, version)
	paths := map[string]string{}
	for suffix, body := range files {
		p := dir + "/" + artifact + "-" + version + suffix
		s.files[p] = append([]byte(nil), body...)
		s.undeclared[p] = undeclared
		paths[suffix] = p
	}
	adir := path.Dir(dir)
	vs := s.versions[adir]
	found := false
	for _, v := range vs {
		found = found || v == version
	}
	if !found {
		s.versions[adir] = append(vs, version)
	}
	s.updated[adir] = time.Now().UTC().Format("20060102150405.000000000")
	return paths
}

// PublishFile publishes the file at path (no leading "/") as it is, with
// its checksum files: a snapshot's maven-metadata.xml, say, which the fake
// does not write itself.
func (s *Server) PublishFile(path string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = append([]byte(nil), body...)
	s.undeclared[path] = false
}

// POM is a minimal POM of group:artifact:version; extra goes inside
// <project> (a <parent>, <packaging>, <dependencies>).
func POM(group, artifact, version, extra string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>` + group + `</groupId>
  <artifactId>` + artifact + `</artifactId>
  <version>` + version + `</version>
` + extra + `
</project>
`)
}

// Answer answers GET and HEAD of path (no leading "/") with status and
// body, whatever the fake publishes there: a checksum file in another
// form than the bare hex the fake writes (Maven Central's older
// "SHA1(a-1.0.jar)= …"), or the 401 or 403 a repository manager answers
// for a side file it keeps to itself. Path "" is the root, which larder's
// health probe asks.
func (s *Server) Answer(path string, status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[path] = answer{status, append([]byte(nil), body...)}
}

// Tamper serves other bytes for the file at path (no leading "/") than
// its checksum files sum, in every mode.
func (s *Server) Tamper(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tampered[path] = true
}

// Untamper serves the file at path as published again.
func (s *Server) Untamper(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tampered, path)
}

// Body is what the fake holds at path, published or in a folder, and
// whether it publishes checksums for it.
func (s *Server) Body(p string) (body []byte, declared, ok bool) {
	s.mu.Lock()
	b, published := s.files[p]
	undeclared := s.undeclared[p]
	dirs := append([]string(nil), s.dirs...)
	s.mu.Unlock()
	if published {
		return b, !undeclared, true
	}
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, filepath.FromSlash(p))); err == nil {
			return b, true, true
		}
	}
	return nil, false, false
}

var checksums = map[string]func() hash.Hash{"sha1": sha1.New, "md5": md5.New, "sha256": sha256.New, "sha512": sha512.New}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counts[r.Method+" "+r.URL.Path]++
	s.mu.Unlock()
	mode, ok := s.sw.Admit(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	a, answered := s.answers[p]
	s.mu.Unlock()
	if answered {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(a.status)
		if r.Method == http.MethodGet {
			w.Write(a.body)
		}
		return
	}
	if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") {
		http.NotFound(w, r)
		return
	}
	for algo, newHash := range checksums {
		if base, ok := strings.CutSuffix(p, "."+algo); ok {
			body, declared, ok := s.document(base)
			if !ok || !declared {
				http.NotFound(w, r)
				return
			}
			h := newHash()
			h.Write(body)
			serveDocument(w, r, "text/plain", []byte(hex.EncodeToString(h.Sum(nil))))
			return
		}
	}
	if path.Base(p) == "maven-metadata.xml" {
		body, _, ok := s.document(p)
		if !ok {
			http.NotFound(w, r)
			return
		}
		serveDocument(w, r, "text/xml", body)
		return
	}
	body, _, ok := s.Body(p)
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	tampered := s.tampered[p]
	s.mu.Unlock()
	if tampered || mode == faults.WrongDigest {
		body = faults.Flipped(body)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if mode == faults.Truncate && r.Method == http.MethodGet {
		faults.Truncated(w, body)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// document is the bytes at p as the repository holds them: a file, or
// the metadata it writes.
func (s *Server) document(p string) ([]byte, bool, bool) {
	s.mu.Lock()
	_, published := s.files[p]
	s.mu.Unlock()
	if path.Base(p) == "maven-metadata.xml" && !published {
		body, ok := s.metadata(path.Dir(p))
		return body, true, ok
	}
	return s.Body(p)
}

// metadata writes an artifact's maven-metadata.xml from its published
// versions, or the versions its folders hold a POM of.
func (s *Server) metadata(adir string) ([]byte, bool) {
	s.mu.Lock()
	versions := append([]string(nil), s.versions[adir]...)
	updated := s.updated[adir]
	dirs := append([]string(nil), s.dirs...)
	s.mu.Unlock()
	if len(versions) == 0 {
		artifact := path.Base(adir)
		for _, d := range dirs {
			entries, err := os.ReadDir(filepath.Join(d, filepath.FromSlash(adir)))
			if err != nil {
				continue
			}
			for _, e := range entries {
				if _, err := os.Stat(filepath.Join(d, filepath.FromSlash(adir), e.Name(), artifact+"-"+e.Name()+".pom")); err == nil {
					versions = append(versions, e.Name())
				}
			}
		}
		sort.Strings(versions)
		updated = "20240101000000"
	}
	if len(versions) == 0 {
		return nil, false
	}
	artifact, group := path.Base(adir), strings.ReplaceAll(path.Dir(adir), "/", ".")
	release := ""
	for _, v := range versions {
		if !strings.HasSuffix(v, "-SNAPSHOT") {
			release = v
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n  <groupId>%s</groupId>\n  <artifactId>%s</artifactId>\n  <versioning>\n", group, artifact)
	fmt.Fprintf(&b, "    <latest>%s</latest>\n", versions[len(versions)-1])
	if release != "" {
		fmt.Fprintf(&b, "    <release>%s</release>\n", release)
	}
	b.WriteString("    <versions>\n")
	for _, v := range versions {
		fmt.Fprintf(&b, "      <version>%s</version>\n", v)
	}
	fmt.Fprintf(&b, "    </versions>\n    <lastUpdated>%s</lastUpdated>\n  </versioning>\n</metadata>\n", updated)
	return []byte(b.String()), true
}

// serveDocument answers with body, or 304 when the client holds it.
func serveDocument(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}
