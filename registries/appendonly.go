package registries

import (
	"net/http"
	"strconv"
	"strings"
)

// An AppendOnly document only ever grows at its end upstream, and its
// clients keep a copy that they bring up to date by asking for the bytes
// they lack: "Range: bytes=N-" with If-None-Match naming their copy
// (RubyGems' compact index, /versions and /info/{gem}; bundler asks from
// one byte before its copy's end, to never get an empty range).
//
// What larder serves of such a document is not always a continuation of
// what a client holds: a newer upstream body, or the offline view that
// leaves versions out. A range is therefore answered 206 only when the
// client's copy is, byte for byte, the first N (or N+1) bytes of the body
// served now: ETagOf of that prefix is what the client named. Anything
// else is the whole body, a 200, which the client takes in place of its
// copy. Two different bodies are never spliced.
type AppendOnly struct {
	// ETagOf names a body as the document's ETag does (the Rendered's
	// ETag), quoted.
	ETagOf func(body []byte) string
}

// serveAppendOnly answers a GET or HEAD of an AppendOnly document: a 206
// of the tail when the request's range continues the copy it names, else
// as ServeDocument does.
func (u *Upstream) serveAppendOnly(w http.ResponseWriter, r *http.Request, ao *AppendOnly, doc *Rendered, status CacheStatus, vary string, extra ...HeaderLine) {
	ifNoneMatch := HeaderValue(r.Header, "If-None-Match")
	start, ok := rangeStart(HeaderValue(r.Header, "Range"))
	if !ok || start >= len(doc.Body) || ifNoneMatch == "" || etagMatches(ifNoneMatch, doc.ETag) ||
		!(namesCopy(ifNoneMatch, ao.ETagOf(doc.Body[:start])) || namesCopy(ifNoneMatch, ao.ETagOf(doc.Body[:start+1]))) {
		u.ServeDocument(w, r, doc, status, vary, extra...)
		return
	}
	// The headers of the whole body's 200, identity: a range is of the
	// plain bytes.
	q := u.documentQuick(Served(r.Context()), doc, status, vary, "", "", extra...)
	h := w.Header()
	q.EachHeader(func(k, v string) { h[k] = []string{v} })
	tail := doc.Body[start:]
	h["Content-Range"] = []string{"bytes " + strconv.Itoa(start) + "-" + strconv.Itoa(len(doc.Body)-1) + "/" + strconv.Itoa(len(doc.Body))}
	h["Content-Length"] = []string{strconv.Itoa(len(tail))}
	w.WriteHeader(http.StatusPartialContent)
	if r.Method != http.MethodHead {
		w.Write(tail)
	}
}

// rangeStart reads "bytes=N-", the one form of Range an append-only
// document's clients send; any other is answered with the whole body, as
// RFC 9110 §14.2 allows.
func rangeStart(h string) (int, bool) {
	s, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(strings.TrimSpace(s), "-")
	if !ok || s == "" || strings.ContainsAny(s, ",-+ ") {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// namesCopy reports whether an If-None-Match header names etag, compared
// weakly (RFC 9110 §13.1.2); "*" names no particular copy.
func namesCopy(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		if t = strings.TrimSpace(t); t != "*" && strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}
