// Package gomodtest is a fake Go module proxy and checksum database on
// 127.0.0.1, for the tests of gomod and e2e: a proxy that serves the
// modules a test publishes (the GOPROXY protocol: $module/@v/list,
// $module/@v/$version.info, .mod, .zip, $module/@latest), and under
// /sumdb/<name>/ a checksum database that records their h1: hashes and
// signs its tree with a key made for the test, as proxy.golang.org serves
// sum.golang.org. Its fault modes are registriestest/faults'.
package gomodtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	modzip "golang.org/x/mod/zip"

	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// DBName is the name of the fake checksum database.
const DBName = "sum.larder.test"

// The database's keys are the same for every fake, made from a fixed
// seed: a test can name the verifier key before it starts the fake.
// VerifierKey is the fake checksum database's public key, as GOSUMDB and
// larder's sumdb key take it.
var signerKey, VerifierKey = func() (string, string) {
	skey, vkey, err := note.GenerateKey(rand.NewChaCha8([32]byte{'l', 'a', 'r', 'd', 'e', 'r'}), DBName)
	if err != nil {
		panic(err)
	}
	return skey, vkey
}()

// Server is a fake module proxy with its checksum database. Its methods
// are safe for concurrent use.
type Server struct {
	// URL is the proxy's base URL, "http://127.0.0.1:PORT/".
	URL string

	sw    *faults.Switch
	sumdb http.Handler

	mu      sync.Mutex
	modules map[string]map[string]*Version // path → version → files
	counts  map[string]int                 // "GET /path" → requests
	unknown map[string]bool                // module@version the database does not know
	fail    map[string]int                 // path → the status it is answered with
}

// Version is one published module version, as the proxy serves it.
type Version struct {
	Info, Mod, Zip []byte
	// H1Zip and H1Mod are the go.sum hashes the checksum database records.
	H1Zip, H1Mod string
	// Tampered are the bytes served for the zip in fault mode WrongDigest:
	// another valid zip of the module, whose hash is not H1Zip.
	Tampered []byte
}

// New starts a fake proxy and database; Close stops them.
func New() *Server {
	s := &Server{sw: faults.NewSwitch(),
		modules: map[string]map[string]*Version{}, counts: map[string]int{}, unknown: map[string]bool{}, fail: map[string]int{}}
	s.sumdb = http.StripPrefix("/sumdb/"+DBName, sumdb.NewServer(sumdb.NewTestServer(signerKey, s.gosum)))
	s.URL = "http://" + s.sw.Listen(http.HandlerFunc(s.serve)) + "/"
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.sw.Close() }

// SetMode switches the fake to a fault mode: every answer of the proxy
// and of the database obeys it.
func (s *Server) SetMode(m faults.Mode) { s.sw.Set(m) }

// SetDelay delays every answer by d.
func (s *Server) SetDelay(d time.Duration) { s.sw.SetDelay(d) }

// SumDBURL is the database's URL as the proxy serves it.
func (s *Server) SumDBURL() string { return s.URL + "sumdb/" + DBName + "/" }

// Count is how many requests of method the fake received for path (its
// own path, with the leading "/": "/example.com/m/@v/v1.0.0.zip").
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method+" "+path]
}

// Publish publishes a module version whose files are go.mod (written for
// the path when files has none) and files; it returns what the proxy
// serves for it. A +incompatible version has no go.mod in its zip, and
// the proxy serves one that names the module, as proxy.golang.org does.
func (s *Server) Publish(path, version string, files map[string]string) *Version {
	all := map[string]string{}
	for k, v := range files {
		all[k] = v
	}
	mod := "module " + path + "\n\ngo 1.21\n"
	if m, ok := all["go.mod"]; ok {
		mod = m
	} else if strings.HasSuffix(version, "+incompatible") {
		mod = "module " + path + "\n"
	} else {
		all["go.mod"] = mod
	}
	v := &Version{Mod: []byte(mod)}
	v.Zip = zipOf(path, version, all)
	all["tampered.go"] = "package tampered\n"
	v.Tampered = zipOf(path, version, all)
	v.finish(path, version)
	s.put(path, version, v)
	return v
}

// PublishZip publishes a module version whose zip is exactly zipBytes,
// which need not be a valid zip: the database then does not know the
// version (a lookup is a 404), as for a private module.
func (s *Server) PublishZip(path, version string, zipBytes []byte) *Version {
	v := &Version{Mod: []byte("module " + path + "\n\ngo 1.21\n"), Zip: zipBytes}
	v.Tampered = append([]byte("tampered "), zipBytes...)
	v.finish(path, version)
	s.put(path, version, v)
	if v.H1Zip == "" {
		s.mu.Lock()
		s.unknown[path+"@"+version] = true
		s.mu.Unlock()
	}
	return v
}

// Version is what the fake serves for a published version, nil if none.
func (s *Server) Version(path, version string) *Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modules[path][version]
}

// SetTime dates a published version at t in its .info (and so in @latest),
// as tests of the release-age policy choose publish times.
func (s *Server) SetTime(path, version string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.modules[path][version]
	if v == nil {
		panic("gomodtest: SetTime: " + path + "@" + version + " was never published")
	}
	v.Info, _ = json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, t.UTC()})
}

// Forget makes the database not know a version, as it does not know a
// private module: its lookups are 404s. The proxy still serves it.
func (s *Server) Forget(path, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unknown[path+"@"+version] = true
}

// Fail answers every request for path (the fake's own, with the leading
// "/") with status, as an upstream failing one file does.
func (s *Server) Fail(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[path] = status
}

func (s *Server) put(path, version string, v *Version) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.modules[path] == nil {
		s.modules[path] = map[string]*Version{}
	}
	s.modules[path][version] = v
}

func (v *Version) finish(path, version string) {
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)})
	v.Info = info
	v.H1Mod, _ = H1Mod(v.Mod)
	v.H1Zip, _ = H1Zip(v.Zip)
}

// H1Mod is the go.sum hash of a go.mod file: dirhash.Hash1 over the one
// file "go.mod".
func H1Mod(mod []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(mod)), nil
	})
}

// H1Zip is the go.sum hash of a module zip (dirhash.HashZip).
func H1Zip(zipBytes []byte) (string, error) {
	f, err := os.CreateTemp("", "gomodtest-*.zip")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(zipBytes); err != nil {
		return "", err
	}
	return dirhash.HashZip(f.Name(), dirhash.Hash1)
}

// Zip builds the module zip of path at version from files (name →
// content), as the go command would (golang.org/x/mod/zip.Create).
func Zip(path, version string, files map[string]string) []byte { return zipOf(path, version, files) }

func zipOf(path, version string, files map[string]string) []byte {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var list []modzip.File
	for _, n := range names {
		list = append(list, memFile{n, []byte(files[n])})
	}
	var buf bytes.Buffer
	if err := modzip.Create(&buf, module.Version{Path: path, Version: version}, list); err != nil {
		panic(fmt.Sprintf("gomodtest: zip of %s@%s: %v", path, version, err))
	}
	return buf.Bytes()
}

// gosum answers the database's look-ups: the go.sum lines of a version
// the proxy serves.
func (s *Server) gosum(path, version string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.modules[path][version]
	if !ok || s.unknown[path+"@"+version] {
		// Unwrapped: the sumdb server tells not-found by os.IsNotExist,
		// and answers 404 as sum.golang.org does.
		return nil, fs.ErrNotExist
	}
	return []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, version, v.H1Zip, path, version, v.H1Mod)), nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counts[r.Method+" "+r.URL.Path]++
	failWith := s.fail[r.URL.Path]
	s.mu.Unlock()
	if failWith != 0 {
		http.Error(w, http.StatusText(failWith), failWith)
		return
	}
	mode, ok := s.sw.Admit(w, r)
	if !ok {
		return
	}
	if strings.HasPrefix(r.URL.Path, "/sumdb/"+DBName+"/") {
		s.sumdb.ServeHTTP(w, r)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	if esc, ok := strings.CutSuffix(p, "/@latest"); ok {
		s.serveLatest(w, r, esc)
		return
	}
	esc, file, ok := strings.Cut(p, "/@v/")
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	path, err := module.UnescapePath(esc)
	if err != nil {
		http.Error(w, "not found: "+err.Error(), http.StatusNotFound)
		return
	}
	if file == "list" {
		s.serveList(w, r, path)
		return
	}
	ext := file[strings.LastIndexByte(file, '.')+1:]
	version, err := module.UnescapeVersion(strings.TrimSuffix(file, "."+ext))
	s.mu.Lock()
	v, found := s.modules[path][version]
	s.mu.Unlock()
	if err != nil || !found {
		http.Error(w, "not found: "+path+"@"+version, http.StatusNotFound)
		return
	}
	var body []byte
	switch ext {
	case "info":
		body = v.Info
	case "mod":
		body = v.Mod
		if mode == faults.WrongDigest {
			body = append(append([]byte{}, body...), "// tampered\n"...)
		}
	case "zip":
		body = v.Zip
		if mode == faults.WrongDigest {
			body = v.Tampered
		}
	default:
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if mode == faults.Truncate && ext != "info" {
		w.Write(body[:len(body)/2])
		panic(http.ErrAbortHandler)
	}
	w.Write(body)
}

func (s *Server) versions(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []string
	for v := range s.modules[path] {
		list = append(list, v)
	}
	semver.Sort(list)
	return list
}

// serveList answers the list of versions, with an ETag it honours.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request, path string) {
	list := s.versions(path)
	if len(list) == 0 {
		http.Error(w, "not found: "+path, http.StatusNotFound)
		return
	}
	body := []byte(strings.Join(list, "\n") + "\n")
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(body)
}

func (s *Server) serveLatest(w http.ResponseWriter, r *http.Request, esc string) {
	path, err := module.UnescapePath(esc)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	list := s.versions(path)
	if len(list) == 0 {
		http.Error(w, "not found: "+path, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	v := s.modules[path][list[len(list)-1]]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(v.Info)
}

// memFile is a file of a module zip, in memory.
type memFile struct {
	name string
	data []byte
}

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (os.FileInfo, error)  { return memInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type memInfo memFile

func (i memInfo) Name() string       { return i.name[strings.LastIndexByte(i.name, '/')+1:] }
func (i memInfo) Size() int64        { return int64(len(i.data)) }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
