package registries

// Quick is a response larder can give without running a registry's
// handler: a held artifact small enough to be kept in memory, asked for by
// a plain GET or HEAD. The fasthttp front answers these itself, most of a
// mirror's traffic, at a fraction of the cost of the whole handler chain.
type Quick struct {
	Body  []byte // never changed: send it without copying
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

// Quick returns the artifact at path when its bytes are held in memory.
func (u *Upstream) Quick(path string, o ArtifactOptions, head bool) (Quick, bool) {
	a, ok := u.held.get(path)
	if !ok {
		return Quick{}, false
	}
	b, ok := u.small.get(a.SHA256)
	if !ok {
		return Quick{}, false
	}
	u.count("artifact", Hit)
	u.env.Hits.Add(a.Registry, a.Package, a.Path)
	if !head {
		u.served.bytes.Add(float64(len(b)))
	}
	return Quick{Body: b, ETag: etagOf(a.SHA256), Cache: Hit, ArtifactOptions: o}, true
}
