package registries

import (
	"context"
	"io"
)

// Quick is a response larder can give without running a registry's
// handler: a held artifact asked for by a plain GET or HEAD. The fasthttp front answers these itself, most of a
// mirror's traffic, at a fraction of the cost of the whole handler chain.
type Quick struct {
	// The content: Body, or File of Size bytes (a blob too large to keep
	// in memory, which the sender closes).
	Body []byte // never changed: send it without copying
	File io.ReadCloser
	Size int64

	ETag  string
	Cache CacheStatus
	ArtifactOptions
}

// QuickServer is a registry some of whose requests can be answered by a
// Quick.
type QuickServer interface {
	// Quick answers a plain GET (or HEAD) of escapedPath, the request's
	// path below the registry's mount, when it can; the hit is then
	// counted as served. Anything else is false, for the handler to
	// answer.
	Quick(escapedPath string, head bool) (Quick, bool)
}

// EachHeader gives the header lines of q's response but its length.
func (q Quick) EachHeader(set func(key, value string)) {
	set("Content-Type", q.ContentType)
	set("Cache-Control", q.CacheControl)
	set("Etag", q.ETag)
	set("X-Larder-Cache", string(q.Cache))
	set("Accept-Ranges", "bytes")
}

// Quick returns the artifact at path when larder holds it: its bytes from
// memory, or its open blob.
func (u *Upstream) Quick(path string, o ArtifactOptions, head bool) (Quick, bool) {
	a, ok := u.held.get(path)
	if !ok {
		return Quick{}, false
	}
	q := Quick{ETag: etagOf(a.SHA256), Cache: Hit, ArtifactOptions: o}
	if b, ok := u.small.get(a.SHA256); ok {
		q.Body, q.Size = b, int64(len(b))
	} else {
		// A blob gone from the folder is for the handler to deal with.
		rc, size, err := u.env.Store.Blobs.Open(context.Background(), a.SHA256)
		if err != nil {
			return Quick{}, false
		}
		if size > smallBlobMax {
			q.File, q.Size = rc, size
		} else {
			b, ok := readSmall(rc, a.SHA256, size)
			rc.Close()
			if !ok {
				return Quick{}, false
			}
			u.small.put(a.SHA256, b)
			q.Body, q.Size = b, size
		}
	}
	u.count("artifact", Hit)
	u.env.Hits.Add(a.Registry, a.Package, a.Path)
	if !head {
		u.served.bytes.Add(float64(q.Size))
	}
	return q, true
}
