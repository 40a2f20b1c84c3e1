package registries

import (
	"context"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/larder-mirror/larder/storage"
)

// With blob_redirect, a client's GET of a held artifact is answered with a
// redirect to a short-lived presigned URL of its object in the S3 store:
// the bytes go from the store to the client, not through larder. It is
// decided here, where both engines (serveBlob and Quick) send a held
// artifact, after everything that would refuse the bytes themselves: the
// release-age policy (Mounted.serve, quickRelease), and the row saying the
// artifact is held and verified (quarantined and evicted artifacts have
// none; a fill in progress streams its bytes until it is kept). The hit is
// counted and recorded as for bytes; the request log shows the 307.
//
// What is not redirected, and why:
//   - HEAD: the URL is signed for GET, and S3 refuses another method on it;
//     the answer needs no body, so larder gives it as without redirects.
//   - If-Match, If-Unmodified-Since, If-Range: their ETags are larder's
//     ("sha256-…"), which the store's own ETags (MD5s) never match, so the
//     store would refuse or ignore them; larder answers them from the bytes.
//   - A Range of several parts: S3 answers those with the whole object,
//     larder with multipart/byteranges. One range is redirected: the store
//     honours it.
//   - An If-None-Match naming the artifact's ETag is answered 304 here: the
//     bytes behind it never change, so the store need not be asked.
//   - Warm fills (larder warm): not a client; they are answered as before.
//
// The object is not looked at before the redirect (that would be a round
// trip to the store on every request, the cost redirects save): a row is
// written only after its object is, and gc forgets the row before it
// deletes the object. A redirect handed out just before an eviction, or
// in the moment verify sets a corrupt object aside before forgetting its
// row, meets a 404 at the store, as does an object lost behind larder's
// back (larder verify reports it); without redirects larder would notice
// and fetch the artifact again.

// redirectStatus is 307, not 302: 307 forbids a client to change the
// method on the way (RFC 9110 §15.4.8), and a presigned URL is good for
// the method it was signed for only; npm, pip and go follow both alike.
const redirectStatus = http.StatusTemporaryRedirect

// redirectable reports whether a request for an artifact may be answered by
// a redirect (see above).
func redirectable(r *http.Request) bool {
	if r.Method != http.MethodGet || !Served(r.Context()) {
		return false
	}
	for _, k := range [...]string{"If-Match", "If-Unmodified-Since", "If-Range"} {
		if HeaderValue(r.Header, k) != "" {
			return false
		}
	}
	return !strings.Contains(HeaderValue(r.Header, "Range"), ",")
}

// presignerOf is the store env redirects to, nil when blob_redirect is off
// or the store cannot sign URLs.
func presignerOf(env Env) storage.Presigner {
	if env.BlobRedirect <= 0 || env.Store == nil {
		return nil
	}
	p, _ := env.Store.Blobs.(storage.Presigner)
	return p
}

// redirect answers r for the held artifact a without its bytes, when
// blob_redirect is on and r allows it: a 304 for its own ETag, else a
// redirect to its object. It reports false, having written nothing, when
// the bytes are for larder to send.
func (u *Upstream) redirect(w http.ResponseWriter, r *http.Request, a storage.Artifact, o ArtifactOptions, status CacheStatus) bool {
	if u.presigner == nil || !redirectable(r) {
		return false
	}
	h := w.Header()
	set := func(k, v string) { h[k] = []string{v} }
	if etagMatches(HeaderValue(r.Header, "If-None-Match"), etagOf(a.SHA256)) {
		u.countServed(a, status)
		Quick{ETag: etagOf(a.SHA256), Cache: status, ArtifactOptions: o}.EachHeader(set)
		delete(h, "Content-Type") // as http.ServeContent's 304
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	q, ok := u.redirectQuick(r.Context(), a, status)
	if !ok {
		return false
	}
	q.EachHeader(set)
	set("Content-Length", "0")
	w.WriteHeader(q.Status())
	return true
}

// redirectQuick is the redirect to a's object, counted as served; false
// when its URL cannot be signed, and then the bytes are sent.
func (u *Upstream) redirectQuick(ctx context.Context, a storage.Artifact, status CacheStatus) (Quick, bool) {
	loc, err := u.presigner.PresignGet(ctx, a.SHA256, u.env.BlobRedirect)
	if err != nil {
		u.log.Warn("cannot sign a URL for a held artifact; sending its bytes instead", "path", a.Path, "err", err)
		return Quick{}, false
	}
	u.countServed(a, status)
	u.redirects.Inc()
	return Quick{Location: loc, Cache: status}, true
}

// countServed counts an artifact answered to a client from what is held.
func (u *Upstream) countServed(a storage.Artifact, status CacheStatus) {
	u.count("artifact", status, true)
	u.env.Hits.Add(a.Registry, a.Package, a.Path)
}

func newRedirectCounter(m *Metrics, registry string) prometheus.Counter {
	return m.Redirects.WithLabelValues(registry)
}
