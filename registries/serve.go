package registries

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ServeDocument writes a rendered document with the cache headers every
// ecosystem shares: an ETag answered with 304, gzip when the client takes it,
// X-Larder-Cache, and a max-age of the TTL without must-revalidate (so npm may
// fall back on its own cache when larder is unreachable).
func (u *Upstream) ServeDocument(w http.ResponseWriter, r *http.Request, doc *Rendered, status CacheStatus, vary string, extra ...HeaderLine) {
	q := u.documentQuick(Served(r.Context()), doc, status, vary, HeaderValue(r.Header, "Accept-Encoding"), HeaderValue(r.Header, "If-None-Match"), extra...)
	defer corkResponse(w, r)()
	// Canonical keys assigned directly: Header.Set canonicalizes each key
	// on every call, a visible cost on cache hits.
	h := w.Header()
	q.EachHeader(func(k, v string) { h[k] = []string{v} })
	if !q.NotModified {
		h["Content-Length"] = []string{strconv.Itoa(len(q.Body))}
	}
	w.WriteHeader(q.Status())
	if r.Method != http.MethodHead && !q.NotModified {
		writeCached(w, q.Body)
	}
}

// HeaderValue is h.Get(key) for a canonical key, without canonicalizing it
// again: on a cache hit that work is a visible share of larder's own.
func HeaderValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// etagMatches compares weakly, as If-None-Match does (RFC 9110 §13.1.2).
func etagMatches(ifNoneMatch, etag string) bool {
	if ifNoneMatch == "" {
		return false
	}
	etag = strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func acceptsGzip(acceptEncoding string) bool {
	for _, part := range strings.Split(acceptEncoding, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && qValue(params) > 0 {
			return true
		}
	}
	return false
}

// Negotiate picks among offers (media types, in the server's order of
// preference) by the client's Accept header with q-values (RFC 9110 §12.5.1).
// The highest q wins; ties go to the earlier offer; "type/*" and "*/*" match
// with lower precedence than an exact type. It returns "" when nothing
// offered is acceptable.
func Negotiate(accept string, offers []string) string {
	if strings.TrimSpace(accept) == "" {
		return offers[0]
	}
	best, bestQ := "", 0.0
	for _, offer := range offers {
		q := acceptQ(accept, offer)
		if q > bestQ {
			best, bestQ = offer, q
		}
	}
	return best
}

// acceptQ is the q-value the Accept header gives one media type: the most
// specific matching range decides.
func acceptQ(accept, offer string) float64 {
	otype, _, _ := strings.Cut(offer, "/")
	q, specificity := 0.0, -1
	for _, part := range strings.Split(accept, ",") {
		mr, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		mr = strings.ToLower(strings.TrimSpace(mr))
		s := -1
		switch {
		case mr == offer:
			s = 2
		case mr == otype+"/*":
			s = 1
		case mr == "*/*":
			s = 0
		}
		if s > specificity {
			q, specificity = qValue(params), s
		}
	}
	return q
}

// qValue reads "q=0.8" among a media range's parameters; absent means 1.
func qValue(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 {
				return 0
			}
			if f > 1 {
				return 1
			}
			return f
		}
	}
	return 1
}

// WriteJSONError writes {"error": msg}, the shape npm clients read.
func WriteJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSONError(w, status, msg)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteTextError writes msg as one line of plain text, the shape clients
// that print an error body as it is read (cargo, go).
func WriteTextError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// Choices remembers what a content negotiation chose for each Accept
// header seen: clients send a handful of distinct ones, and reading q-values
// on every request showed in profiles of cache hits. Past a bound, new
// headers are negotiated every time rather than remembered.
type Choices struct {
	choose func(accept string) string
	seen   sync.Map // Accept → choice
	n      atomic.Int32
}

const choicesMax = 256

// NewChoices remembers the results of choose.
func NewChoices(choose func(accept string) string) *Choices {
	return &Choices{choose: choose}
}

// Of is choose(accept), remembered.
func (c *Choices) Of(accept string) string {
	if v, ok := c.seen.Load(accept); ok {
		return v.(string)
	}
	v := c.choose(accept)
	if c.n.Load() < choicesMax {
		if _, loaded := c.seen.LoadOrStore(strings.Clone(accept), v); !loaded {
			c.n.Add(1)
		}
	}
	return v
}
