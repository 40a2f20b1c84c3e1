package main

import (
	"net/http"
	"strings"

	"github.com/larder-mirror/larder/cmd/larder/front"
	"github.com/larder-mirror/larder/registries"
)

// quickHits answers, on the front's own terms, the requests a registry can
// answer with a registries.Quick: a plain GET or HEAD of an artifact larder
// holds or of a document fresh in memory, the bulk of an install.
// Everything else, and anything unusual about such a request, goes to
// larder's handler. The chain (access rules, the request log) applies to
// these as to every request: the front runs it around both.
type quickHits struct {
	mounts map[string]*registries.Mounted
}

// A registries.Sendable is the front's Sendable.
var _ front.Sendable = registries.Sendable(nil)

func newQuickHits(regs []registries.Registry) *quickHits {
	q := &quickHits{mounts: map[string]*registries.Mounted{}}
	for _, r := range regs {
		q.mounts[r.Name()] = registries.Mount(r)
	}
	return q
}

// serve answers r and reports true, or leaves w untouched and reports
// false.
func (q *quickHits) serve(r *front.Request, w *front.Response) bool {
	method := r.Method()
	head := method == http.MethodHead
	if !head && method != http.MethodGet {
		return false
	}
	for _, k := range registries.ConditionalHeaders {
		// If-None-Match is the registry's to answer (a document's 304).
		if k != "If-None-Match" && r.Has(k) {
			return false
		}
	}
	uri := r.Target()
	if !plainPath(uri) {
		return false
	}
	mount, below, ok := cutString(uri[1:], '/')
	if !ok {
		return false
	}
	reg := q.mounts[mount]
	if reg == nil {
		return false
	}
	hit, ok := reg.Quick(registries.Request{
		Path:        "/" + below,
		Head:        head,
		Host:        r.Host(),
		Accept:      r.Header("Accept"),
		Encoding:    r.Header("Accept-Encoding"),
		IfNoneMatch: r.Header("If-None-Match"),
		Warm:        r.Header(registries.WarmHeader) != "",
	})
	if !ok {
		return false
	}
	hit.EachHeader(w.SetHeader)
	switch {
	case hit.File != nil:
		w.SendBlob(hit.Status(), hit.File)
	case hit.NotModified:
		w.Send(hit.Status(), nil)
	default:
		w.Send(hit.Status(), hit.Body)
	}
	return true
}

func cutString(s string, sep byte) (before, after string, found bool) {
	if i := strings.IndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// plainPath reports whether a request target is an origin-form path
// without a query whose bytes net/url leaves as they are: for such a path,
// what a registry sees here is what its handler would see as
// URL.EscapedPath.
func plainPath(uri string) bool {
	if len(uri) < 2 || uri[0] != '/' {
		return false
	}
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0:
		case c == '%' && i+2 < len(uri) && isHex(uri[i+1]) && isHex(uri[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
