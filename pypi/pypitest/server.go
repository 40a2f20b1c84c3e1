package pypitest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/larder-mirror/larder/registries/registriestest/faults"
	"github.com/larder-mirror/larder/registries/registriestest/wire"
)

// Mode is a fault the fake upstream plays: the fault modes every fake
// upstream shares (package faults). It applies to both hosts unless its
// description says otherwise.
type Mode = faults.Mode

const (
	// ModeNormal serves everything as pypi.org and files.pythonhosted.org do.
	ModeNormal = faults.Normal
	// ModeRefuse closes both listeners (and every open connection), so
	// connections are refused; their ports are kept, and any other mode
	// re-opens them on the same ports.
	ModeRefuse = faults.Refuse
	// ModeHang accepts connections and reads requests but never answers
	// until the mode changes (the request is then answered in the new mode)
	// or the server is closed.
	ModeHang = faults.Hang
	// Mode500 answers every request with 500 Internal Server Error.
	Mode500 = faults.Error500
	// ModeTruncate (files host only) sends a file's full Content-Length,
	// then half of its body, then closes the connection. The index host
	// answers normally.
	ModeTruncate = faults.Truncate
	// ModeBadHash (files host only) serves files and .metadata files whose
	// bytes (same length) do not match the sha256 the index declares. The
	// index host answers normally.
	ModeBadHash = faults.WrongDigest
)

// FileOpts describes how the index presents one file.
type FileOpts struct {
	// RequiresPython is served as data-requires-python (HTML),
	// requires-python (JSON) and requires_python (legacy JSON).
	RequiresPython string
	// Yanked marks the file yanked (PEP 592), with YankedReason if set.
	Yanked       bool
	YankedReason string
	// Metadata, if non-nil, is served as the PEP 658 "<file>.metadata" on
	// the files host and advertised with its sha256: in HTML as
	// data-core-metadata and data-dist-info-metadata, in JSON as
	// core-metadata and data-dist-info-metadata (the keys pypi.org sends).
	Metadata []byte
	// UploadTime is the PEP 700 upload-time; the zero value means the time
	// of AddFile.
	UploadTime time.Time
	// OmitHashes serves the file with no hash at all (a bare link in HTML,
	// empty hashes in JSON and digests in the legacy JSON), as some
	// self-hosted indexes do.
	OmitHashes bool
}

// Request is one request either host received.
type Request struct {
	Host     string // "index" or "files"
	Method   string
	Path     string // decoded URL path
	RawQuery string
	Header   http.Header
}

type fileEntry struct {
	project  string // normalized
	filename string
	version  string
	data     []byte
	sha256   string
	md5      string
	path     string // on the files host: /packages/xx/yy/zzz/filename
	url      string // absolute
	metaSHA  string
	opts     FileOpts
}

type projectEntry struct {
	name   string // display name, from the latest AddFile
	serial int
	files  map[string]*fileEntry // by filename
}

// Server is a fake PyPI: an index host (IndexURL) and a separate files host
// (FilesURL), both on 127.0.0.1. All methods are safe for concurrent use.
type Server struct {
	// IndexURL is the simple index, "http://127.0.0.1:P/simple/".
	IndexURL string
	// FilesURL is the root of the files host, "http://127.0.0.1:Q/".
	FilesURL string

	indexRoot string // "http://127.0.0.1:P/"

	faults *faults.Switch // the mode, and both hosts' listeners

	mu           sync.Mutex
	serial       int
	projects     map[string]*projectEntry
	paths        map[string]*fileEntry // files-host path -> file
	byName       map[string]*fileEntry // filename -> latest file of that name
	reqs         []Request
	distInfoJSON bool
	filesBase    string // "" means FilesURL
}

// New starts both hosts on 127.0.0.1 with ports chosen by the system.
func New() *Server {
	s := &Server{
		faults:   faults.NewSwitch(),
		projects: map[string]*projectEntry{},
		paths:    map[string]*fileEntry{},
		byName:   map[string]*fileEntry{},
	}
	s.indexRoot = "http://" + s.faults.Listen(s.handler("index")) + "/"
	s.IndexURL = s.indexRoot + "simple/"
	s.FilesURL = "http://" + s.faults.Listen(s.handler("files")) + "/"
	return s
}

// Close stops both hosts and drops every connection, including those
// hanging in ModeHang. It never blocks on clients and may be called twice.
func (s *Server) Close() { s.faults.Close() }

// SetMode switches the fault mode of both hosts. ModeRefuse closes both
// listeners and all connections; leaving it re-opens them on the same ports.
// Requests hanging in ModeHang are released and answered in the new mode.
func (s *Server) SetMode(m Mode) { s.faults.Set(m) }

// Mode returns the current fault mode.
func (s *Server) Mode() Mode { return s.faults.Mode() }

// SetDelay makes every answer of both hosts wait d before its response
// headers leave, as a slow but alive index does; 0 (the default) answers at
// once. It adds to the mode (ModeHang still waits for its change); a client
// that goes away, or Close, ends the wait.
func (s *Server) SetDelay(d time.Duration) { s.faults.SetDelay(d) }

// SetFilesBase makes the index's file links (HTML, JSON and legacy JSON)
// point at base instead of FilesURL, e.g. "https://files.example/" for a
// files host reached through a proxy under another name; a missing trailing
// slash is added. The files host still serves them at the same paths. ""
// restores FilesURL. FileURL and MetadataURL keep answering with FilesURL.
func (s *Server) SetFilesBase(base string) {
	if base != "" && !strings.HasSuffix(base, "/") {
		base += "/"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filesBase = base
}

// SetJSONDistInfoMetadata makes the JSON simple pages also carry the bare
// "dist-info-metadata" key (PEP 658's original JSON name, which pypi.org
// never sends and which crashes pip 22.3–23.1), to test that a mirror does
// not pass it on. Off by default.
func (s *Server) SetJSONDistInfoMetadata(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.distInfoJSON = on
}

// AddFile adds (or replaces, by filename) a file of project. project is the
// display name; the project is stored under Normalize(project). The version
// is taken from the filename. Each call bumps the global serial and sets the
// project's serial to it, as PyPI's journal does.
func (s *Server) AddFile(project, filename string, data []byte, opts FileOpts) {
	sum := sha256.Sum256(data)
	hexsum := hex.EncodeToString(sum[:])
	m := md5.Sum(data)
	if opts.UploadTime.IsZero() {
		opts.UploadTime = time.Now()
	}
	opts.UploadTime = opts.UploadTime.UTC().Truncate(time.Microsecond)
	if opts.Metadata != nil {
		opts.Metadata = bytes.Clone(opts.Metadata)
	}
	f := &fileEntry{
		project:  Normalize(project),
		filename: filename,
		version:  VersionFromFilename(filename),
		data:     bytes.Clone(data),
		sha256:   hexsum,
		md5:      hex.EncodeToString(m[:]),
		path:     "/packages/" + hexsum[0:2] + "/" + hexsum[2:4] + "/" + hexsum[4:] + "/" + filename,
		opts:     opts,
	}
	f.url = s.FilesURL + "packages/" + hexsum[0:2] + "/" + hexsum[2:4] + "/" + hexsum[4:] + "/" + url.PathEscape(filename)
	if opts.Metadata != nil {
		ms := sha256.Sum256(opts.Metadata)
		f.metaSHA = hex.EncodeToString(ms[:])
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[f.project]
	if p == nil {
		p = &projectEntry{files: map[string]*fileEntry{}}
		s.projects[f.project] = p
	}
	p.name = project
	if old := p.files[filename]; old != nil {
		delete(s.paths, old.path)
	}
	p.files[filename] = f
	s.paths[f.path] = f
	s.byName[filename] = f
	s.serial++
	p.serial = s.serial
}

// AddWheel builds Wheel(name, version, requires, requiresPython) and adds it
// with its METADATA as the PEP 658 metadata file and RequiresPython set. It
// returns the wheel's filename.
func (s *Server) AddWheel(name, version string, requires []string, requiresPython string) (filename string) {
	filename, data := Wheel(name, version, requires, requiresPython)
	s.AddFile(name, filename, data, FileOpts{
		RequiresPython: requiresPython,
		Metadata:       WheelMetadata(name, version, requires, requiresPython),
	})
	return filename
}

// AddSdist builds Sdist(name, version, requires) and adds it (no PEP 658
// metadata, as on PyPI). It returns the sdist's filename.
func (s *Server) AddSdist(name, version string, requires []string) (filename string) {
	filename, data := Sdist(name, version, requires)
	s.AddFile(name, filename, data, FileOpts{})
	return filename
}

// SetYanked yanks (with reason) or un-yanks a file, bumping the serials. It
// reports whether the file exists.
func (s *Server) SetYanked(project, filename string, yanked bool, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[Normalize(project)]
	if p == nil || p.files[filename] == nil {
		return false
	}
	f := *p.files[filename]
	f.opts.Yanked, f.opts.YankedReason = yanked, reason
	if !yanked {
		f.opts.YankedReason = ""
	}
	p.files[filename] = &f
	s.paths[f.path] = &f
	s.byName[filename] = &f
	s.serial++
	p.serial = s.serial
	return true
}

// RemoveFile deletes a file (its URL then 404s), bumping the serials; the
// project remains, possibly with no files. It reports whether it existed.
func (s *Server) RemoveFile(project, filename string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[Normalize(project)]
	if p == nil || p.files[filename] == nil {
		return false
	}
	f := p.files[filename]
	delete(p.files, filename)
	delete(s.paths, f.path)
	if s.byName[filename] == f {
		delete(s.byName, filename)
	}
	s.serial++
	p.serial = s.serial
	return true
}

// Serial is the global serial (X-PyPI-Last-Serial of /simple/).
func (s *Server) Serial() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serial
}

// ProjectSerial is a project's serial (its X-PyPI-Last-Serial), 0 if unknown.
func (s *Server) ProjectSerial(project string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.projects[Normalize(project)]; p != nil {
		return p.serial
	}
	return 0
}

// FileURL is the absolute URL of filename on the files host, or "" when no
// such file was added.
func (s *Server) FileURL(filename string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.byName[filename]; f != nil {
		return f.url
	}
	return ""
}

// MetadataURL is FileURL(filename) + ".metadata" when the file has PEP 658
// metadata, else "".
func (s *Server) MetadataURL(filename string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.byName[filename]; f != nil && f.opts.Metadata != nil {
		return f.url + ".metadata"
	}
	return ""
}

// Requests returns a copy of the log of every request either host received.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	copy(out, s.reqs)
	return out
}

// Count is how many requests host ("index" or "files") received with this
// method and (decoded) path.
func (s *Server) Count(host, method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.reqs {
		if r.Host == host && r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// Reset clears the request log. Projects, files, serials and the mode stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
}

// handler logs the request, applies the mode and dispatches to a host.
func (s *Server) handler(hostName string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, Request{Host: hostName, Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()})
		s.mu.Unlock()
		mode, ok := s.faults.Await(r)
		if !ok {
			panic(http.ErrAbortHandler) // drop the connection
		}
		if mode == Mode500 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "500 Internal Server Error\n")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			textError(w, http.StatusMethodNotAllowed)
			return
		}
		if hostName == "index" {
			s.serveIndex(w, r)
		} else {
			s.serveFiles(w, r, mode)
		}
	})
}

func textError(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "%d %s\n", code, http.StatusText(code))
}

func redirect(w http.ResponseWriter, r *http.Request, path string) {
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", path)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusMovedPermanently)
	io.WriteString(w, "301 Moved Permanently\n")
}

// ---- index host ----

const (
	// MediaHTML is text/html, the legacy PEP 503 form.
	MediaHTML = "text/html"
	// MediaV1HTML is PEP 691's HTML form.
	MediaV1HTML = "application/vnd.pypi.simple.v1+html"
	// MediaV1JSON is PEP 691's JSON form.
	MediaV1JSON = "application/vnd.pypi.simple.v1+json"
)

// offers in pypi.org's order: on equal q the first wins.
var offers = []string{MediaHTML, MediaV1HTML, MediaV1JSON}

// Negotiate picks the simple-API media type pypi.org would answer a request
// with this Accept header: the acceptable offer with the highest q (the most
// specific matching range decides an offer's q; ties go to text/html, then
// v1+html, then v1+json), and text/html when nothing is acceptable.
func Negotiate(accept string) string {
	type rng struct {
		typ, sub string
		q        float64
	}
	var ranges []rng
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(fields[0]))
		typ, sub, ok := strings.Cut(mt, "/")
		if !ok || typ == "" || sub == "" {
			continue
		}
		q := 1.0
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				} else {
					q = 0
				}
			}
		}
		ranges = append(ranges, rng{typ, sub, q})
	}
	best, bestQ := "", 0.0
	for _, o := range offers {
		ot, os, _ := strings.Cut(o, "/")
		spec, q := 0, 0.0
		for _, r := range ranges {
			s := 0
			switch {
			case r.typ == ot && r.sub == os:
				s = 3
			case r.typ == ot && r.sub == "*":
				s = 2
			case r.typ == "*" && r.sub == "*":
				s = 1
			}
			if s > spec {
				spec, q = s, r.q
			}
		}
		if spec > 0 && q > bestQ {
			best, bestQ = o, q
		}
	}
	if best == "" {
		return MediaHTML
	}
	return best
}

// contentType is the Content-Type header pypi.org sends for a media type.
func contentType(media string) string {
	if media == MediaHTML {
		return "text/html; charset=utf-8"
	}
	return media
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/simple":
		redirect(w, r, "/simple/")
	case p == "/simple/":
		s.serveRoot(w, r)
	case strings.HasPrefix(p, "/simple/"):
		rest := strings.TrimPrefix(p, "/simple/")
		name, tail, hasSlash := strings.Cut(rest, "/")
		if tail != "" || name == "" {
			textError(w, http.StatusNotFound)
			return
		}
		norm := Normalize(name)
		s.mu.Lock()
		_, known := s.projects[norm]
		s.mu.Unlock()
		switch {
		case known && name != norm:
			redirect(w, r, "/simple/"+norm+"/")
		case !hasSlash:
			redirect(w, r, "/simple/"+name+"/")
		case !known:
			textError(w, http.StatusNotFound)
		default:
			s.serveDetail(w, r, norm)
		}
	case strings.HasPrefix(p, "/pypi/") && strings.HasSuffix(p, "/json"):
		parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(p, "/pypi/"), "/json"), "/")
		switch len(parts) {
		case 1:
			s.serveLegacy(w, r, parts[0], "")
		case 2:
			s.serveLegacy(w, r, parts[0], parts[1])
		default:
			jsonNotFound(w)
		}
	default:
		textError(w, http.StatusNotFound)
	}
}

// snapshot copies a project's files, sorted by (version, filename).
func (s *Server) snapshot(norm string) (name string, serial int, files []fileEntry, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[norm]
	if p == nil {
		return "", 0, nil, false
	}
	for _, f := range p.files {
		g := *f
		if s.filesBase != "" {
			g.url = s.filesBase + strings.TrimPrefix(g.url, s.FilesURL)
		}
		files = append(files, g)
	}
	keys := map[string]versionKey{}
	for _, f := range files {
		if _, ok := keys[f.version]; !ok {
			keys[f.version] = parseVersion(f.version)
		}
	}
	sort.Slice(files, func(i, j int) bool {
		if c := compareKeys(keys[files[i].version], keys[files[j].version]); c != 0 {
			return c < 0
		}
		return files[i].filename < files[j].filename
	})
	return p.name, p.serial, files, true
}

func selectMedia(r *http.Request) string {
	if f := r.URL.Query().Get("format"); f != "" {
		for _, o := range offers {
			if f == o {
				return o
			}
		}
	}
	return Negotiate(r.Header.Get("Accept"))
}

type simpleMeta struct {
	APIVersion string `json:"api-version"`
	LastSerial int    `json:"_last-serial"`
}

func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	type proj struct {
		Name       string `json:"name"`
		LastSerial int    `json:"_last-serial"`
	}
	s.mu.Lock()
	serial := s.serial
	var projs []proj
	norms := map[string]string{}
	for norm, p := range s.projects {
		projs = append(projs, proj{p.name, p.serial})
		norms[p.name] = norm
	}
	s.mu.Unlock()
	sort.Slice(projs, func(i, j int) bool { return norms[projs[i].Name] < norms[projs[j].Name] })

	media := selectMedia(r)
	var body []byte
	if media == MediaV1JSON {
		if projs == nil {
			projs = []proj{}
		}
		body = marshal(struct {
			Meta     simpleMeta `json:"meta"`
			Projects []proj     `json:"projects"`
		}{simpleMeta{"1.1", serial}, projs})
	} else {
		var b strings.Builder
		b.WriteString("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Simple index</title>\n  </head>\n  <body>\n")
		for _, p := range projs {
			fmt.Fprintf(&b, "    <a href=\"/simple/%s/\">%s</a>\n", html.EscapeString(norms[p.Name]), html.EscapeString(p.Name))
		}
		b.WriteString("  </body>\n</html>\n")
		body = []byte(b.String())
	}
	w.Header().Set("X-PyPI-Last-Serial", strconv.Itoa(serial))
	writePage(w, r, contentType(media), "Accept, Accept-Encoding", "max-age=600, public", body)
}

type jsonFile struct {
	Filename             string            `json:"filename"`
	URL                  string            `json:"url"`
	Hashes               map[string]string `json:"hashes"`
	RequiresPython       *string           `json:"requires-python"`
	Size                 int               `json:"size"`
	UploadTime           string            `json:"upload-time"`
	Yanked               any               `json:"yanked"`
	DataDistInfoMetadata any               `json:"data-dist-info-metadata"`
	CoreMetadata         any               `json:"core-metadata"`
	DistInfoMetadata     any               `json:"dist-info-metadata,omitempty"`
}

func (s *Server) serveDetail(w http.ResponseWriter, r *http.Request, norm string) {
	_, serial, files, ok := s.snapshot(norm)
	if !ok {
		textError(w, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	distInfoJSON := s.distInfoJSON
	s.mu.Unlock()

	media := selectMedia(r)
	var body []byte
	if media == MediaV1JSON {
		versions := []string{}
		seen := map[string]bool{}
		jfiles := []jsonFile{}
		for _, f := range files {
			if f.version != "" && !seen[f.version] {
				seen[f.version] = true
				versions = append(versions, f.version)
			}
			jf := jsonFile{
				Filename:             f.filename,
				URL:                  f.url,
				Hashes:               f.hashes(),
				Size:                 len(f.data),
				UploadTime:           f.opts.UploadTime.Format("2006-01-02T15:04:05.000000Z"),
				Yanked:               false,
				DataDistInfoMetadata: false,
				CoreMetadata:         false,
			}
			if f.opts.RequiresPython != "" {
				rp := f.opts.RequiresPython
				jf.RequiresPython = &rp
			}
			if f.opts.Yanked {
				jf.Yanked = true
				if f.opts.YankedReason != "" {
					jf.Yanked = f.opts.YankedReason
				}
			}
			if f.metaSHA != "" {
				h := map[string]string{"sha256": f.metaSHA}
				jf.DataDistInfoMetadata, jf.CoreMetadata = h, h
				if distInfoJSON {
					jf.DistInfoMetadata = h
				}
			}
			jfiles = append(jfiles, jf)
		}
		body = marshal(struct {
			Meta     simpleMeta `json:"meta"`
			Name     string     `json:"name"`
			Versions []string   `json:"versions"`
			Files    []jsonFile `json:"files"`
		}{simpleMeta{"1.1", serial}, norm, versions, jfiles})
	} else {
		var b strings.Builder
		esc := html.EscapeString
		fmt.Fprintf(&b, "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Links for %s</title>\n  </head>\n  <body>\n    <h1>Links for %s</h1>\n", esc(norm), esc(norm))
		for _, f := range files {
			href := f.url + "#sha256=" + f.sha256
			if f.opts.OmitHashes {
				href = f.url
			}
			fmt.Fprintf(&b, "    <a href=\"%s\"", esc(href))
			if f.opts.RequiresPython != "" {
				fmt.Fprintf(&b, " data-requires-python=\"%s\"", esc(f.opts.RequiresPython))
			}
			if f.opts.Yanked {
				fmt.Fprintf(&b, " data-yanked=\"%s\"", esc(f.opts.YankedReason))
			}
			if f.metaSHA != "" {
				fmt.Fprintf(&b, " data-dist-info-metadata=\"sha256=%s\" data-core-metadata=\"sha256=%s\"", f.metaSHA, f.metaSHA)
			}
			fmt.Fprintf(&b, ">%s</a><br />\n", esc(f.filename))
		}
		fmt.Fprintf(&b, "  </body>\n</html>\n<!--SERIAL %d-->\n", serial)
		body = []byte(b.String())
	}
	w.Header().Set("X-PyPI-Last-Serial", strconv.Itoa(serial))
	writePage(w, r, contentType(media), "Accept, Accept-Encoding", "max-age=600, public", body)
}

// ---- legacy JSON API ----

type legacyFile struct {
	CommentText       string            `json:"comment_text"`
	Digests           map[string]string `json:"digests"`
	Downloads         int               `json:"downloads"`
	Filename          string            `json:"filename"`
	HasSig            bool              `json:"has_sig"`
	MD5Digest         string            `json:"md5_digest"`
	Packagetype       string            `json:"packagetype"`
	PythonVersion     string            `json:"python_version"`
	RequiresPython    *string           `json:"requires_python"`
	Size              int               `json:"size"`
	UploadTime        string            `json:"upload_time"`
	UploadTimeISO8601 string            `json:"upload_time_iso_8601"`
	URL               string            `json:"url"`
	Yanked            bool              `json:"yanked"`
	YankedReason      *string           `json:"yanked_reason"`
}

type legacyInfo struct {
	Name           string   `json:"name"`
	Version        string   `json:"version"`
	Summary        string   `json:"summary"`
	RequiresDist   []string `json:"requires_dist"`
	RequiresPython string   `json:"requires_python"`
	Yanked         bool     `json:"yanked"`
	YankedReason   *string  `json:"yanked_reason"`
	PackageURL     string   `json:"package_url"`
	ProjectURL     string   `json:"project_url"`
	ReleaseURL     string   `json:"release_url"`
}

func toLegacy(f fileEntry) legacyFile {
	lf := legacyFile{
		Digests:           f.hashes(),
		Downloads:         -1,
		Filename:          f.filename,
		Packagetype:       "sdist",
		PythonVersion:     "source",
		Size:              len(f.data),
		UploadTime:        f.opts.UploadTime.Format("2006-01-02T15:04:05"),
		UploadTimeISO8601: f.opts.UploadTime.Format("2006-01-02T15:04:05.000000Z"),
		URL:               f.url,
		Yanked:            f.opts.Yanked,
	}
	switch {
	case strings.HasSuffix(f.filename, ".whl"):
		lf.Packagetype = "bdist_wheel"
		if parts := strings.Split(strings.TrimSuffix(f.filename, ".whl"), "-"); len(parts) >= 5 {
			lf.PythonVersion = parts[len(parts)-3]
		}
	case strings.HasSuffix(f.filename, ".egg"):
		lf.Packagetype = "bdist_egg"
	}
	if !f.opts.OmitHashes {
		lf.Digests["md5"], lf.MD5Digest = f.md5, f.md5
	}
	if f.opts.RequiresPython != "" {
		rp := f.opts.RequiresPython
		lf.RequiresPython = &rp
	}
	if f.opts.Yanked {
		reason := f.opts.YankedReason
		lf.YankedReason = &reason
	}
	return lf
}

// hashes is what the simple API declares for the file.
func (f fileEntry) hashes() map[string]string {
	if f.opts.OmitHashes {
		return map[string]string{}
	}
	return map[string]string{"sha256": f.sha256}
}

// metadataFields reads Summary and Requires-Dist from core metadata.
func metadataFields(md []byte) (summary string, requires []string) {
	for _, line := range strings.Split(string(md), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break // end of headers
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "summary":
			summary = v
		case "requires-dist":
			requires = append(requires, v)
		}
	}
	return summary, requires
}

func jsonNotFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, `{"message": "Not Found"}`)
}

func (s *Server) serveLegacy(w http.ResponseWriter, r *http.Request, project, version string) {
	whole := version == "" // /pypi/{project}/json rather than /pypi/{project}/{version}/json
	norm := Normalize(project)
	name, serial, files, ok := s.snapshot(norm)
	if !ok {
		jsonNotFound(w)
		return
	}
	releases := map[string][]legacyFile{}
	var versions []string
	for _, f := range files {
		if f.version == "" {
			continue
		}
		if _, seen := releases[f.version]; !seen {
			versions = append(versions, f.version)
			releases[f.version] = []legacyFile{}
		}
		releases[f.version] = append(releases[f.version], toLegacy(f))
	}
	if version == "" {
		// The latest version, as PyPI picks it: the highest final release
		// with a file not yanked, else the highest version.
		for i := len(versions) - 1; i >= 0 && version == ""; i-- {
			if isPrerelease(versions[i]) {
				continue
			}
			for _, f := range releases[versions[i]] {
				if !f.Yanked {
					version = versions[i]
					break
				}
			}
		}
		if version == "" && len(versions) > 0 {
			version = versions[len(versions)-1]
		}
	} else if _, ok := releases[version]; !ok {
		jsonNotFound(w)
		return
	}

	info := legacyInfo{
		Name:       name,
		Version:    version,
		PackageURL: s.indexRoot + "project/" + norm + "/",
		ProjectURL: s.indexRoot + "project/" + norm + "/",
		ReleaseURL: s.indexRoot + "project/" + norm + "/" + version + "/",
	}
	urls := []legacyFile{}
	allYanked := len(releases[version]) > 0
	for _, f := range files {
		if f.version != version {
			continue
		}
		urls = append(urls, toLegacy(f))
		if !f.opts.Yanked {
			allYanked = false
		} else if info.YankedReason == nil {
			reason := f.opts.YankedReason
			info.YankedReason = &reason
		}
		if f.opts.RequiresPython != "" && info.RequiresPython == "" {
			info.RequiresPython = f.opts.RequiresPython
		}
		if f.opts.Metadata != nil && info.RequiresDist == nil && info.Summary == "" {
			info.Summary, info.RequiresDist = metadataFields(f.opts.Metadata)
		}
	}
	info.Yanked = allYanked
	if !allYanked {
		info.YankedReason = nil
	}

	var body []byte
	if whole {
		body = marshal(struct {
			Info            legacyInfo              `json:"info"`
			LastSerial      int                     `json:"last_serial"`
			Releases        map[string][]legacyFile `json:"releases"`
			URLs            []legacyFile            `json:"urls"`
			Vulnerabilities []any                   `json:"vulnerabilities"`
		}{info, serial, releases, urls, []any{}})
	} else {
		body = marshal(struct {
			Info            legacyInfo   `json:"info"`
			LastSerial      int          `json:"last_serial"`
			URLs            []legacyFile `json:"urls"`
			Vulnerabilities []any        `json:"vulnerabilities"`
		}{info, serial, urls, []any{}})
	}
	w.Header().Set("X-PyPI-Last-Serial", strconv.Itoa(serial))
	writePage(w, r, "application/json", "Accept-Encoding", "max-age=900, public", body)
}

// ---- shared page writing ----

func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// ETagOf is the strong ETag the index host sends for a page body.
func ETagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

func etagMatches(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		fields := strings.Split(part, ";")
		if !strings.EqualFold(strings.TrimSpace(fields[0]), "gzip") {
			continue
		}
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil || q == 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}

// writePage sends an index-host page with ETag/If-None-Match and gzip.
func writePage(w http.ResponseWriter, r *http.Request, ctype, vary, cacheControl string, body []byte) {
	etag := ETagOf(body)
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Vary", vary)
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if acceptsGzip(r) {
		body = wire.Gzip(body)
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// ---- files host ----

func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request, mode Mode) {
	p := r.URL.Path
	s.mu.Lock()
	f, isMeta := s.paths[p], false
	if f == nil && strings.HasSuffix(p, ".metadata") {
		if g := s.paths[strings.TrimSuffix(p, ".metadata")]; g != nil && g.opts.Metadata != nil {
			f, isMeta = g, true
		}
	}
	s.mu.Unlock()
	if f == nil {
		textError(w, http.StatusNotFound)
		return
	}
	data, sum := f.data, f.sha256
	if isMeta {
		data, sum = f.opts.Metadata, f.metaSHA
	}
	if mode == ModeBadHash && len(data) > 0 {
		data = faults.Flipped(data)
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+sum+`"`)
	h.Set("Cache-Control", "max-age=365000000, immutable, public")
	if mode == ModeTruncate && r.Method == http.MethodGet {
		h.Set("Last-Modified", f.opts.UploadTime.UTC().Format(http.TimeFormat))
		faults.Truncated(w, data)
	}
	http.ServeContent(w, r, "", f.opts.UploadTime, bytes.NewReader(data))
}
