package npmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/larder-mirror/larder/registries/registriestest/faults"
	"github.com/larder-mirror/larder/registries/registriestest/wire"
)

const (
	abbreviatedType = "application/vnd.npm.install-v1+json"
	fakeKeyID       = "SHA256:fake"
	// docCacheControl is what the registry sends on packuments. No
	// must-revalidate: npm serves stale copies on network errors without it.
	docCacheControl     = "public, max-age=300"
	tarballCacheControl = "public, immutable, max-age=31557600"
)

// ServeHTTP logs r, applies the fault mode and answers like the registry.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 32<<20))
	}
	if len(body) == 0 {
		body = nil
	}
	path := r.URL.Path
	if r.URL.RawPath != "" {
		path = r.URL.RawPath
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method:   r.Method,
		Path:     path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Body:     body,
	})
	s.mu.Unlock()

	mode, ok := s.faults.Await(r)
	if !ok {
		// Closed, client gone, or raced with SetMode(ModeRefuse): drop the
		// connection unanswered (returning would send an empty 200).
		panic(http.ErrAbortHandler)
	}
	switch mode {
	case Mode500:
		writeJSON(w, http.StatusInternalServerError, obj{{"error", "Internal Server Error"}})
		return
	}
	s.route(w, r, mode)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, mode Mode) {
	// r.URL.Path is decoded, so /@scope%2fname, /@scope%2Fname and
	// /@scope/name all read "/@scope/name" here.
	p := strings.TrimPrefix(r.URL.Path, "/")
	if rest, ok := strings.CutPrefix(p, "-/"); ok {
		s.serveService(w, r, rest)
		return
	}
	segs := strings.Split(p, "/")
	name, rest := segs[0], segs[1:]
	if strings.HasPrefix(name, "@") {
		if len(segs) < 2 {
			notFound(w)
			return
		}
		name, rest = segs[0]+"/"+segs[1], segs[2:]
	}
	if name == "" || strings.HasSuffix(name, "/") {
		notFound(w)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	switch {
	case len(rest) == 0:
		s.servePackument(w, r, name)
	case len(rest) == 1:
		s.serveVersion(w, r, name, rest[0])
	case len(rest) == 2 && rest[0] == "-":
		s.serveTarball(w, r, name, rest[1], mode)
	default:
		notFound(w)
	}
}

// servePackument answers GET /{name}: the abbreviated document when Accept
// asks for application/vnd.npm.install-v1+json, the full one otherwise.
func (s *Server) servePackument(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	p := s.pkgs[name]
	if p == nil {
		s.mu.Unlock()
		notFound(w)
		return
	}
	abbreviated := strings.Contains(strings.ToLower(strings.Join(r.Header.Values("Accept"), ",")), abbreviatedType) && !s.ignoreAbbrev
	contentType := "application/json"
	if abbreviated {
		contentType = abbreviatedType
	}
	base := s.base()
	doc := p.rendered(contentType+"\x00"+base, func() obj {
		if abbreviated {
			return p.abbreviatedDoc(base)
		}
		return p.fullDoc(base)
	})
	modified, strip := p.modified, s.stripValidators
	s.mu.Unlock()
	writeDoc(w, r, doc, contentType, modified, strip)
}

// serveVersion answers GET /{name}/{version} and GET /{name}/{dist-tag} with
// the version object of the full document.
func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request, name, ref string) {
	s.mu.Lock()
	p := s.pkgs[name]
	var v *pkgVersion
	if p != nil {
		v = p.versions[ref]
		if v == nil {
			v = p.versions[p.distTags[ref]]
		}
	}
	if v == nil {
		s.mu.Unlock()
		notFound(w)
		return
	}
	doc, strip := newRenderedDoc(p.versionDoc(v, s.base())), s.stripValidators
	s.mu.Unlock()
	writeDoc(w, r, doc, "application/json", v.published, strip)
}

func (s *Server) serveTarball(w http.ResponseWriter, r *http.Request, name, file string, mode Mode) {
	s.mu.Lock()
	var v *pkgVersion
	if p := s.pkgs[name]; p != nil {
		for _, ver := range p.order {
			if tarballFile(name, ver) == file {
				v = p.versions[ver]
			}
		}
	}
	strip := s.stripValidators
	s.mu.Unlock()
	if v == nil {
		notFound(w)
		return
	}
	body := v.tgz
	if mode == ModeBadIntegrity {
		body = tamper(body)
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	modtime := v.published
	if strip {
		modtime = time.Time{}
	} else {
		h.Set("ETag", etag(body))
		h.Set("Cache-Control", tarballCacheControl)
	}
	if mode == ModeTruncate && r.Method == http.MethodGet {
		faults.Truncated(w, body)
	}
	// ServeContent sets Content-Length and Last-Modified and handles HEAD,
	// Range, If-None-Match and If-Modified-Since.
	http.ServeContent(w, r, "", modtime, bytes.NewReader(body))
}

// serveService answers the /-/ endpoints; rest is the path after "/-/".
func (s *Server) serveService(w http.ResponseWriter, r *http.Request, rest string) {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch rest {
	case "ping":
		if !get {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		writeJSON(w, http.StatusOK, obj{})
	case "npm/v1/keys":
		if !get {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		writeJSON(w, http.StatusOK, obj{{"keys", []obj{{
			{"expires", nil},
			{"keyid", fakeKeyID},
			{"keytype", "ecdsa-sha2-nistp256"},
			{"scheme", "ecdsa-sha2-nistp256"},
			{"key", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEnpmtestfakekeyfornpmtestonlyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="},
		}}}})
	case "v1/search":
		if !get {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		s.serveSearch(w, r)
	case "npm/v1/security/advisories/bulk", "npm/v1/security/audits/quick", "npm/v1/security/audits":
		// The body was read (and logged) by ServeHTTP. No advisories.
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		writeJSON(w, http.StatusOK, obj{})
	default:
		// npm dist-tag ls: GET /-/package/{name}/dist-tags.
		if name, ok := distTagsPath(rest); ok && get {
			s.serveDistTags(w, name)
			return
		}
		notFound(w)
	}
}

func distTagsPath(rest string) (name string, ok bool) {
	name, ok = strings.CutPrefix(rest, "package/")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(name, "/dist-tags")
}

func (s *Server) serveDistTags(w http.ResponseWriter, name string) {
	s.mu.Lock()
	var tags obj
	p := s.pkgs[name]
	if p != nil {
		tags = p.distTagsDoc()
	}
	s.mu.Unlock()
	if p == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, tags)
}

// serveSearch answers GET /-/v1/search?text=&size=&from= with the packages
// whose name or description contains every word of text (case-insensitive).
func (s *Server) serveSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	words := strings.Fields(strings.ToLower(q.Get("text")))
	size, err := strconv.Atoi(q.Get("size"))
	if err != nil || size <= 0 {
		size = 20
	}
	size = min(size, 250)
	from, err := strconv.Atoi(q.Get("from"))
	if err != nil || from < 0 {
		from = 0
	}

	s.mu.Lock()
	var objects []obj
	for _, name := range slices.Sorted(maps.Keys(s.pkgs)) {
		p := s.pkgs[name]
		latest := p.versions[p.distTags["latest"]]
		if latest == nil {
			continue
		}
		description := latest.description(name)
		hay := strings.ToLower(name + " " + description)
		match := true
		for _, word := range words {
			match = match && strings.Contains(hay, word)
		}
		if !match {
			continue
		}
		scope := "unscoped"
		if sc, _, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(sc, "@") {
			scope = sc[1:]
		}
		objects = append(objects, obj{
			{"package", obj{
				{"name", name},
				{"scope", scope},
				{"version", latest.version},
				{"description", description},
				{"date", latest.published.Format(registryTime)},
				{"links", obj{{"npm", "https://www.npmjs.com/package/" + name}}},
				{"publisher", obj{{"username", "npmtest"}, {"email", "npmtest@example.invalid"}}},
				{"maintainers", []obj{{{"username", "npmtest"}, {"email", "npmtest@example.invalid"}}}},
			}},
			{"score", obj{{"final", 1}, {"detail", obj{{"quality", 1}, {"popularity", 1}, {"maintenance", 1}}}}},
			{"searchScore", 1},
		})
	}
	s.mu.Unlock()

	total := len(objects)
	objects = objects[min(from, total):min(from+size, total)]
	if objects == nil {
		objects = []obj{}
	}
	writeJSON(w, http.StatusOK, obj{
		{"objects", objects},
		{"total", total},
		{"time", time.Now().UTC().Format("Mon Jan 02 2006 15:04:05 GMT+0000 (Coordinated Universal Time)")},
	})
}

// base is where dist.tarball URLs point. s.mu is held.
func (s *Server) base() string {
	if s.tarballBase != "" {
		return s.tarballBase
	}
	return s.URL
}

// writeDoc sends a JSON document as the registry does: a strong ETag from the
// body, Last-Modified, Cache-Control, 304 for a matching If-None-Match (or,
// without one, an If-Modified-Since not older than modified), and gzip when
// the client accepts it.
func writeDoc(w http.ResponseWriter, r *http.Request, doc *renderedDoc, contentType string, modified time.Time, strip bool) {
	body := doc.body
	h := w.Header()
	h.Set("Vary", "Accept, Accept-Encoding")
	if !strip {
		tag := doc.etag
		h.Set("ETag", tag)
		h.Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
		h.Set("Cache-Control", docCacheControl)
		if notModified(r, tag, modified) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		body = doc.gzipped()
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// renderedDoc is a document as the registry sends it, made once per
// change of its package: the registry's CDN does not build a packument,
// hash and compress it for each request, and a test's machine running
// larder should not either (bench/cold.sh measures larder beside it).
type renderedDoc struct {
	body, gz []byte
	etag     string
	gzOnce   sync.Once
}

func newRenderedDoc(doc obj) *renderedDoc {
	body, err := marshal(doc)
	if err != nil {
		panic("npmtest: " + err.Error())
	}
	return &renderedDoc{body: body, etag: etag(body)}
}

func (d *renderedDoc) gzipped() []byte {
	d.gzOnce.Do(func() { d.gz = wire.Gzip(d.body) })
	return d.gz
}

// etag is a strong entity tag derived from the bytes.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// notModified applies RFC 9110 §13.1.2 and §13.1.3: If-None-Match (weak
// comparison, "*" matches) and, only without it, If-Modified-Since.
func notModified(r *http.Request, tag string, modified time.Time) bool {
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		for _, list := range inm {
			for _, t := range strings.Split(list, ",") {
				t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
				if t == "*" || t == strings.TrimPrefix(tag, "W/") {
					return true
				}
			}
		}
		return false
	}
	if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil {
		return !modified.Truncate(time.Second).After(ims)
	}
	return false
}

// acceptsGzip reports whether Accept-Encoding lists gzip (or x-gzip) with a
// non-zero q.
func acceptsGzip(values []string) bool {
	for _, list := range values {
		for _, part := range strings.Split(list, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" {
				continue
			}
			q := 1.0
			for _, param := range strings.Split(params, ";") {
				if k, v, ok := strings.Cut(strings.TrimSpace(param), "="); ok && strings.EqualFold(k, "q") {
					q, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		panic("npmtest: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// notFound is the registry's answer for a missing package, version or file.
func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, obj{{"error", "Not found"}})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, obj{{"error", "Method not allowed"}})
}
