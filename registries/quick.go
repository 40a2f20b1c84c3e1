package registries

import (
	"context"
	"net/http"
	"strings"

	"github.com/larder-mirror/larder/storage"
)

// Quick is a response larder can give without running a registry's
// handler: a held artifact, or a document fresh in memory, asked for by a
// plain GET or HEAD. The fasthttp front answers these itself, most of a
// mirror's traffic, at a fraction of the cost of the whole handler chain;
// ServeDocument and serveBlob send theirs from it too, so that both
// engines send the same headers.
type Quick struct {
	// The content: Body, or File of Size bytes (a blob too large to keep
	// in memory, which the sender releases once sent).
	Body []byte // never changed: send it without copying
	File Sendable
	Size int64
	// Location, when set, makes q a redirect there instead (blob_redirect:
	// a presigned URL of the artifact's object), with no body.
	Location string

	ETag  string
	Cache CacheStatus
	ArtifactOptions

	// Documents only.
	Document    bool
	NotModified bool   // 304: the client's If-None-Match names ETag
	Vary        string // the request headers the document depends on
	Encoding    string // "gzip", or "" for the plain body
	Extra       []HeaderLine
}

// HeaderLine is one more header line of a Quick, such as PyPI's
// X-PyPI-Last-Serial.
type HeaderLine struct{ Key, Value string }

// Status is the HTTP status of q.
func (q Quick) Status() int {
	if q.Location != "" {
		return redirectStatus
	}
	if q.NotModified {
		return http.StatusNotModified
	}
	return http.StatusOK
}

// EachHeader gives the header lines of q's response but its length.
func (q Quick) EachHeader(set func(key, value string)) {
	if q.Location != "" {
		set("Location", q.Location)
		// The URL expires: no cache may keep the redirect.
		set("Cache-Control", "no-store")
		set("X-Larder-Cache", string(q.Cache))
		return
	}
	set("Content-Type", q.ContentType)
	set("Cache-Control", q.CacheControl)
	set("Etag", q.ETag)
	set("X-Larder-Cache", string(q.Cache))
	if !q.Document {
		set("Accept-Ranges", "bytes")
	}
	if q.Vary != "" {
		set("Vary", q.Vary)
	}
	if q.Encoding != "" {
		set("Content-Encoding", q.Encoding)
	}
	for _, l := range q.Extra {
		set(l.Key, l.Value)
	}
}

// DocumentQuick is the response ServeDocument gives, as a Quick; the hit
// is counted.
func (u *Upstream) DocumentQuick(doc *Rendered, status CacheStatus, vary, acceptEncoding, ifNoneMatch string, extra ...HeaderLine) Quick {
	return u.documentQuick(true, doc, status, vary, acceptEncoding, ifNoneMatch, extra...)
}

// documentQuick is DocumentQuick, counting the hit only when served.
func (u *Upstream) documentQuick(served bool, doc *Rendered, status CacheStatus, vary, acceptEncoding, ifNoneMatch string, extra ...HeaderLine) Quick {
	u.count("document", status, served)
	gz := acceptsGzip(acceptEncoding)
	q := Quick{
		ETag: doc.ETag, Cache: status, Document: true, Vary: vary, Extra: extra,
		ArtifactOptions: ArtifactOptions{ContentType: doc.ContentType, CacheControl: u.docCacheControl},
	}
	if gz {
		// Another representation, other bytes: a strong ETag names one.
		q.ETag = doc.gzipETag()
	}
	if etagMatches(ifNoneMatch, q.ETag) {
		q.NotModified = true
		return q
	}
	q.Body = doc.Body
	if gz {
		q.Body, q.Encoding = doc.Gzip(), "gzip"
	}
	q.Size = int64(len(q.Body))
	return q
}

func (r *Rendered) gzipETag() string {
	if r.WeakGzip {
		return "W/" + r.ETag
	}
	return gzipETag(r.ETag)
}

// gzipETag is the ETag of the gzip form of the document whose plain form
// has the (quoted) etag, as Apache's mod_deflate names it.
func gzipETag(etag string) string {
	if s, ok := strings.CutSuffix(etag, `"`); ok {
		return s + `-gzip"`
	}
	return etag + "-gzip"
}

// Holds reports whether a document under key and variant is held, fresh
// or not.
func (u *Upstream) Holds(key, variant string) bool {
	_, ok := u.docRow(key, variant)
	return ok
}

// fresh reports whether a document is held in memory and fresh: answering
// for it waits on nothing.
func (u *Upstream) fresh(key, variant string) bool {
	d, ok := u.docRow(key, variant)
	return ok && u.opts.Now().Sub(d.FetchedAt) < u.opts.MetadataTTL
}

// QuickDocument answers r with the document under key and variant when it
// is fresh in memory; view renders it as the handler does (and records
// the hit).
func (u *Upstream) QuickDocument(r Request, key, variant, vary string, view func() (*Rendered, CacheStatus, []HeaderLine, error)) (Quick, bool) {
	if !u.fresh(key, variant) {
		return Quick{}, false
	}
	doc, status, extra, err := view()
	if err != nil {
		return Quick{}, false
	}
	return u.DocumentQuick(doc, status, vary, r.Encoding, r.IfNoneMatch, extra...), true
}

// Quick answers r with the artifact at path when larder holds it: its
// bytes from memory, or its open blob. A conditional request is the
// handler's.
func (u *Upstream) Quick(r Request, path string, o ArtifactOptions) (Quick, bool) {
	if r.IfNoneMatch != "" {
		return Quick{}, false
	}
	head := r.Head
	a, ok := u.heldRow(path)
	if !ok {
		return Quick{}, false
	}
	if u.presigner != nil && !head {
		return u.redirectQuick(context.Background(), a, Hit)
	}
	q := Quick{ETag: etagOf(a.SHA256), Cache: Hit, ArtifactOptions: o}
	if b, ok := u.small.get(a.SHA256); ok {
		q.Body, q.Size = b, int64(len(b))
	} else if q, ok = u.quickBlob(q, a.SHA256, a.Size); !ok {
		return Quick{}, false
	}
	u.count("artifact", Hit, true)
	u.env.Hits.Add(a.Registry, a.Package, a.Path)
	if !head {
		u.served.bytes.Add(float64(q.Size))
	}
	return q, true
}

// quickBlob gives q the blob d: its bytes when it is small enough to keep
// in memory, else the blob shared open. A blob gone from the store, or a
// store that cannot share one, is for the handler to deal with.
func (u *Upstream) quickBlob(q Quick, d storage.Digest, size int64) (Quick, bool) {
	// Only a store in the data folder answers here: one over the network
	// (S3) is read by the handler, as it always was.
	shared, ok := u.env.Store.Blobs.(storage.SharedOpener)
	if !ok {
		return Quick{}, false
	}
	if size <= smallBlobMax {
		// Small bytes are read whole, and may be kept in the database
		// rather than as a file (storage.MaxInlineArtifact).
		rc, n, err := u.env.Store.OpenArtifact(context.Background(), d, size)
		if err != nil {
			return Quick{}, false
		}
		defer rc.Close()
		if n != size {
			// Not the bytes the row names (cut short on disk): the
			// handler sets them aside and fetches them again.
			return Quick{}, false
		}
		body, ok := readSmall(rc, d, n)
		if !ok {
			return Quick{}, false
		}
		u.small.put(d, body)
		q.Body, q.Size = body, n
		return q, true
	}
	b, err := shared.OpenShared(context.Background(), d)
	if err != nil {
		return Quick{}, false
	}
	if b.Size() != size {
		b.Release()
		return Quick{}, false
	}
	q.File, q.Size = b, size
	return q, true
}
