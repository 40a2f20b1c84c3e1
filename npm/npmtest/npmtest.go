// Package npmtest fakes the public npm registry (registry.npmjs.org) on
// 127.0.0.1 for larder's unit and end-to-end tests.
//
// A Server answers what npm, pnpm and yarn ask an npm registry: full and
// abbreviated packuments (GET /{name}, with scoped names as /@scope%2fname,
// /@scope%2Fname or /@scope/name), version documents (GET /{name}/{version|tag}),
// tarballs (GET /{name}/-/{base}-{version}.tgz), /-/ping, /-/npm/v1/keys,
// /-/v1/search, /-/package/{name}/dist-tags and the three audit endpoints. Its
// documents carry what the real registry's do (dist.shasum, dist.integrity,
// dist.signatures, time, strong ETags, Last-Modified,
// Cache-Control: public, max-age=300, 304 on If-None-Match, gzip), and its
// tarballs are real .tgz files whose hashes match their dist fields.
//
// Fault modes (SetMode) make every endpoint refuse connections, hang, or answer
// 500, and make tarballs arrive truncated or with bytes that do not match their
// integrity. SetDelay makes every answer slow. IgnoreAbbreviated and StripValidators imitate an intermediary that
// ignores the abbreviated Accept and strips ETag, Last-Modified and
// Cache-Control. Every request received is logged (Requests, Count).
//
// The package knows nothing about larder: it imports only the standard library
// and package faults (the fault modes every fake upstream shares, itself
// standard library only), so that any package, npm included, can use it in
// its tests.
package npmtest

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// Mode selects how a Server answers: the fault modes every fake upstream
// shares (package faults). The zero value is ModeNormal.
type Mode = faults.Mode

const (
	// ModeNormal answers like the registry.
	ModeNormal = faults.Normal
	// ModeRefuse closes the listener and every open connection: new
	// connections are refused. Leaving it re-opens the same address.
	ModeRefuse = faults.Refuse
	// ModeHang accepts connections and reads requests but answers none of
	// them until the mode changes (parked requests are then answered in the
	// new mode) or the Server is closed.
	ModeHang = faults.Hang
	// Mode500 answers every request 500 Internal Server Error.
	Mode500 = faults.Error500
	// ModeTruncate sends tarball responses (GET) with the full Content-Length
	// but only the first half of the body, then closes the connection. Other
	// endpoints answer normally.
	ModeTruncate = faults.Truncate
	// ModeBadIntegrity serves documents unchanged but tarball bytes that
	// differ from what dist.shasum and dist.integrity declare: the tarball is
	// re-gzipped with another gzip header (same files, other bytes), or has
	// its last byte flipped when it is not gzip. Other endpoints answer
	// normally.
	ModeBadIntegrity = faults.WrongDigest
)

// Request is one logged request.
type Request struct {
	Method string
	// Path is the path as sent, still escaped: r.URL.RawPath when set,
	// r.URL.Path otherwise ("/@scope%2fname" stays as it was sent).
	Path     string
	RawQuery string
	Header   http.Header
	// Body holds the request body (up to 32 MiB), nil when there was none.
	// Audit bodies are logged as sent, gzip included.
	Body []byte
}

// Server is a fake npm registry listening on 127.0.0.1. Its methods are safe
// for concurrent use.
type Server struct {
	// URL is the base URL with a trailing slash, e.g. "http://127.0.0.1:41234/".
	// It stays the same for the Server's whole life, across ModeRefuse.
	URL string

	faults *faults.Switch // the mode, and the listener it closes

	mu sync.Mutex

	tarballBase     string // "" means URL
	ignoreAbbrev    bool
	stripValidators bool

	pkgs     map[string]*pkg
	requests []Request
	lastTime time.Time
}

// New starts a Server listening on 127.0.0.1 on a free port. It panics if it
// cannot listen, as httptest.NewServer does. Call Close when done.
func New() *Server {
	s := &Server{faults: faults.NewSwitch(), pkgs: map[string]*pkg{}}
	s.URL = "http://" + s.faults.Listen(s) + "/"
	return s
}

// Close stops the Server: it closes the listener and every connection,
// releases parked ModeHang requests and returns without waiting for them.
// It never blocks for long and may be called more than once.
func (s *Server) Close() { s.faults.Close() }

// SetMode switches the Server to m. Entering ModeRefuse closes the listener
// and all connections; leaving it listens again on the same address (SetMode
// panics if that address cannot be bound again within two seconds). Requests
// parked by ModeHang are released and answered in the new mode. SetMode does
// nothing after Close.
func (s *Server) SetMode(m Mode) { s.faults.Set(m) }

// SetTarballBase sets the base of the absolute dist.tarball URLs in documents,
// e.g. "https://registry.npmjs.org/" to emulate a relay that leaves public URLs
// in place; a missing trailing slash is added. "" restores the default, s.URL.
// Tarballs are served by this Server at /{name}/-/{base}-{version}.tgz whatever
// the base.
func (s *Server) SetTarballBase(base string) {
	if base != "" && !strings.HasSuffix(base, "/") {
		base += "/"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tarballBase = base
}

// SetDelay makes every answer wait d before its response headers leave, as
// a slow but alive registry does; 0 (the default) answers at once. The wait
// is in addition to the mode's (ModeHang still waits for its change), and a
// client that goes away ends it.
func (s *Server) SetDelay(d time.Duration) { s.faults.SetDelay(d) }

// IgnoreAbbreviated, when on, answers requests for the abbreviated packument
// with the full document and Content-Type application/json, as some
// intermediaries do.
func (s *Server) IgnoreAbbreviated(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ignoreAbbrev = on
}

// StripValidators, when on, sends no ETag, Last-Modified or Cache-Control on
// any response and ignores If-None-Match and If-Modified-Since (always 200),
// as an intermediary that strips validators does.
func (s *Server) StripValidators(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stripValidators = on
}

// Requests returns a copy of the log of every request received, in order of
// arrival, including those answered by ModeHang or Mode500.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		r.Body = append([]byte(nil), r.Body...)
		if len(r.Body) == 0 {
			r.Body = nil
		}
		out[i] = r
	}
	return out
}

// Count returns how many logged requests had this method and exactly this
// path, compared as sent (escaped: "/@scope%2fname" and "/@scope/name" are
// counted apart). A path without its leading slash, such as TarballPath's, is
// taken as if it had one.
func (s *Server) Count(method, path string) int {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// Reset clears the request log.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}
