package maven

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Registry is a Maven repository mirror mounted under /{name}/.
type Registry struct {
	up        *registries.Upstream
	name      string
	publicURL string
	missing   *missingFiles
	mount     *registries.Mounted // itself, to fetch a file whose checksum is asked for first
}

// New mounts a Maven repository mirror on up; o is what Decode read of the
// registry's own keys.
func New(up *registries.Upstream, publicURL string, o Options) *Registry {
	ttl := o.NegativeTTL
	if ttl == 0 {
		ttl = DefaultNegativeTTL
	}
	g := &Registry{up: up, name: up.Options().Name, publicURL: publicURL, missing: newMissingFiles(ttl, up.Now)}
	g.mount = registries.Mount(g)
	return g
}

func (g *Registry) Kind() string                   { return "maven" }
func (g *Registry) Name() string                   { return g.name }
func (g *Registry) Upstream() *registries.Upstream { return g.up }

// Documents are stored under their package ("group:artifact", see
// route.docKey), in variants: "maven-metadata.xml" (a snapshot's:
// "1.0-SNAPSHOT/maven-metadata.xml"), "snapshot:" + the path of a
// snapshot's file under its moving name, and for the upstream's checksum
// files their own path ("…/a-1.0.jar.sha1").
const (
	variantMetadata     = metadataFile
	variantSnapshotFile = "snapshot:" // + the file's path
)

const (
	mediaText = "text/plain; charset=utf-8"
	mediaXML  = "text/xml"
	vary      = "Accept-Encoding"
	immutable = "public, max-age=31536000, immutable"
)

// contentTypes are those of the files Maven and Gradle fetch; anything
// else is served as bytes.
var contentTypes = map[string]string{
	"jar": "application/java-archive", "war": "application/java-archive", "aar": "application/java-archive",
	"pom": mediaXML, "xml": mediaXML, "module": "application/json", "asc": mediaText,
}

func contentTypeOf(ext string) string {
	if ct, ok := contentTypes[ext[strings.LastIndexByte(ext, '.')+1:]]; ok {
		return ct
	}
	return "application/octet-stream"
}

type view func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error)

func documentTarget(key, variant string, v view) registries.Target {
	return registries.Target{Document: &registries.DocumentTarget{Key: key, Variant: variant, Vary: vary,
		View: func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, []registries.HeaderLine, error) {
			r, status, err := v(ctx)
			return r, status, nil, err
		}}}
}

// rememberedMissing is the 404 of a path the upstream said it does not
// have, within negative_ttl.
func rememberedMissing(rt route) error {
	return fmt.Errorf("%s: %w (remembered for negative_ttl)", rt.path, registries.ErrNotFound)
}

// unlessMissing is the document view v, but a 404 without asking the
// upstream for a path remembered missing that larder does not hold. What
// is held (stored since by another node, an import or a warm) is served:
// the negative cache spares the upstream, it never hides a copy.
func (g *Registry) unlessMissing(rt route, variant string, v view) view {
	return func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
		if g.missing.has(rt.path) {
			_, err := g.up.Cached(ctx, rt.docKey(), variant)
			if errors.Is(err, storage.ErrNotFound) {
				return nil, "", rememberedMissing(rt)
			}
			if err != nil {
				return nil, "", err
			}
		}
		return v(ctx)
	}
}

// Resolve names what a GET or HEAD asks for: a file, a metadata document,
// or a checksum larder computes over the bytes it serves for either.
func (g *Registry) Resolve(r registries.Request) (registries.Target, error) {
	rt, err := parseRoute(r.Path)
	if err != nil {
		return registries.Target{}, err
	}
	switch {
	case rt.kind == routeMetadata:
		metadata := g.unlessMissing(rt, rt.metadataVariant(), func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
			return g.metadataView(ctx, rt)
		})
		return documentTarget(rt.docKey(), rt.metadataVariant(), g.summed(rt, metadata)), nil
	case rt.kind == routeSnapshotFile:
		file := g.unlessMissing(rt, variantSnapshotFile+rt.path, func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
			return g.snapshotFileView(ctx, rt)
		})
		return documentTarget(rt.docKey(), variantSnapshotFile+rt.path, g.summed(rt, file)), nil
	case rt.sum != "":
		// Fresh while the upstream's own checksum file of that algorithm
		// is: the quick path answers it then. A file remembered missing
		// and not held is a 404 from the file's own route, which
		// fileChecksum goes through.
		return documentTarget(rt.docKey(), rt.requestPath(), func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
			return g.fileChecksum(ctx, rt)
		}), nil
	}
	t := g.artifactTarget(rt)
	if g.missing.has(rt.path) {
		// Served if held; else a 404, without asking the upstream again
		// (nor remembering it anew: negative_ttl runs from the upstream's
		// answer).
		t.Upstream, t.Missing = "", nil
		t.Announce = func(context.Context) error { return rememberedMissing(rt) }
	}
	return registries.Target{Artifact: t}, nil
}

// summed is v for a route without a checksum suffix, and the checksum of
// what v serves for one with.
func (g *Registry) summed(rt route, v view) view {
	if rt.sum == "" {
		return v
	}
	return func(ctx context.Context) (*registries.Rendered, registries.CacheStatus, error) {
		return g.checksumOf(ctx, rt, v)
	}
}

func (g *Registry) artifactTarget(rt route) *registries.ArtifactTarget {
	return g.releaseOf(rt, &registries.ArtifactTarget{
		Path:           rt.path,
		Options:        registries.ArtifactOptions{ContentType: contentTypeOf(rt.ext), CacheControl: immutable},
		Upstream:       g.upstreamURL(rt.path),
		Announce:       func(ctx context.Context) error { return g.announce(ctx, rt) },
		AnnounceUnheld: true,
		Missing:        func() { g.missing.add(rt.path) },
	})
}

// ServeOwn answers what is neither a file nor a document: other methods,
// which a read-only mirror refuses (mvn deploy is for a repository
// manager).
func (g *Registry) ServeOwn(w http.ResponseWriter, r *http.Request) {
	if registries.RefusedWrite(w, r, "deploy to a repository manager") {
		return
	}
	registries.WriteTextError(w, http.StatusNotFound, "not found")
}

// WriteError answers err as Maven and Gradle read errors: a status, and a
// line of text for whoever looks. What larder will not serve, or cannot
// fetch while the upstream is out of reach, is a 404 (the client tries
// its next repository, or says the file is missing); a failure of the
// upstream a 502 or 504.
func (g *Registry) WriteError(w http.ResponseWriter, err error) {
	g.up.WritePlainError(w, err)
}

func (g *Registry) upstreamURL(rel string) string { return g.up.Options().Upstream.String() + rel }

// announce records a file before it is fetched: where it lives upstream,
// and the strongest checksum the upstream publishes beside it (.sha512,
// then .sha256, then .sha1), which Verify checks before anything is
// kept. The three are asked for at once. A file with none falls under the
// registry's unverifiable policy; when that refuses such files, it is a
// 404 that says why, as for a missing file, which Maven does not retry.
func (g *Registry) announce(ctx context.Context, rt route) error {
	if g.up.Gone() {
		return g.up.NotCached(rt.path)
	}
	algo, sum, err := g.upstreamChecksum(ctx, rt)
	if err != nil {
		return err
	}
	if sum == "" && g.up.Options().Unverifiable == registries.RefuseUnverifiable {
		return fmt.Errorf("%s: %w: the upstream publishes no checksum beside it, and this registry refuses files it cannot check (unverifiable = %q)",
			rt.path, registries.ErrNotFound, registries.RefuseUnverifiable)
	}
	a := storage.Artifact{Registry: g.name, Path: rt.path, Package: rt.pkg(), Version: rt.version, UpstreamURL: g.upstreamURL(rt.path)}
	if sum != "" {
		a.Integrity = string(registries.SRIFromHex(algo, sum))
	}
	return g.up.Store().DB.AnnounceArtifacts(ctx, g.name, []storage.Artifact{a})
}

// verifiedAlgorithms are the checksum files a file is checked against,
// strongest first: md5 is served, never trusted.
var verifiedAlgorithms = checksumAlgorithms[:3]

// upstreamChecksum is the strongest usable checksum the upstream
// publishes beside the file rt names, as hex; "" when it publishes none.
// A checksum file that is malformed, or that the upstream refuses (401,
// 403: a repository manager keeping side files to itself), gives way to
// the next weaker one, as it does for Maven, and is logged. It fails only
// when no checksum file is usable and one could not be asked (a
// transport failure, a 5xx, the upstream out of reach): then whether the
// upstream publishes one is not known.
func (g *Registry) upstreamChecksum(ctx context.Context, rt route) (algo, sum string, err error) {
	type answer struct {
		sum string
		err error
	}
	answers := make([]answer, len(verifiedAlgorithms))
	var wg sync.WaitGroup
	for i, algo := range verifiedAlgorithms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc, err := g.up.Document(ctx, registries.DocRequest{
				Key: rt.docKey(), Variant: rt.path + "." + algo, URL: g.upstreamURL(rt.path + "." + algo),
				Prepare: checkChecksumFile(algo),
			})
			if err != nil {
				answers[i].err = err
				return
			}
			body, err := g.up.Body(ctx, doc.Document)
			answers[i] = answer{string(body), err}
		}()
	}
	wg.Wait()
	var unasked error
	for i, a := range answers {
		switch {
		case a.err == nil:
			return verifiedAlgorithms[i], a.sum, nil
		case errors.Is(a.err, registries.ErrNotFound):
		case unusableChecksumFile(a.err):
			g.up.Env().Log.Warn("checksum file unusable; trying the next weaker one", "registry", g.name,
				"path", rt.path+"."+verifiedAlgorithms[i], "err", a.err)
		case unasked == nil:
			unasked = a.err
		}
	}
	return "", "", unasked
}

// errMalformedChecksum: a checksum file holds no digest larder can read.
var errMalformedChecksum = errors.New("no digest in it")

// unusableChecksumFile reports whether err says the upstream answered for
// a checksum file, with one larder cannot use: malformed, or refused.
func unusableChecksumFile(err error) bool {
	var ue *registries.UpstreamError
	return errors.Is(err, errMalformedChecksum) ||
		(errors.As(err, &ue) && (ue.Answered == http.StatusUnauthorized || ue.Answered == http.StatusForbidden))
}

// opensslLineRE is OpenSSL's "SHA1(a-1.0.jar)= <hex>" (and
// "SHA1 (a-1.0.jar) = <hex>"): Maven Resolver takes the last word of such
// a line (ChecksumUtils.read).
var opensslLineRE = regexp.MustCompile(`^.+= [0-9A-Fa-f]+$`)

// gnupgRE is GnuPG's --print-md: "a-1.0.jar: DA39 A3EE …", the digest in
// groups, over lines for the longer ones; and "a-1.0.jar: <hex>".
var gnupgRE = regexp.MustCompile(`^[^:\s][^:]*:((?:\s+[0-9A-Fa-f]+)+)\s*$`)

// checkChecksumFile accepts a checksum file in the forms Maven reads: the
// digest alone or followed by the file's name (sha1sum), upper case or
// lower, OpenSSL's and GnuPG's. What is stored is the digest alone, in
// lower case. Reading loosely risks nothing: a digest read wrong matches
// no bytes.
func checkChecksumFile(algo string) func(body []byte, _ string) (registries.Prepared, error) {
	size := map[string]int{"sha512": 128, "sha256": 64, "sha1": 40, "md5": 32}[algo]
	isDigest := func(s string) bool {
		return len(s) == size && strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
	}
	return func(body []byte, _ string) (registries.Prepared, error) {
		text := strings.TrimSpace(string(body))
		line, _, _ := strings.Cut(text, "\n")
		line = strings.TrimSpace(line)
		var candidates []string
		if opensslLineRE.MatchString(line) {
			candidates = append(candidates, line[strings.LastIndexByte(line, ' ')+1:])
		}
		if fields := strings.Fields(line); len(fields) > 0 {
			candidates = append(candidates, fields[0])
		}
		if m := gnupgRE.FindStringSubmatch(text); m != nil {
			candidates = append(candidates, strings.Join(strings.Fields(m[1]), ""))
		}
		for _, c := range candidates {
			if isDigest(c) {
				return registries.Prepared{Body: []byte(strings.ToLower(c)), ContentType: mediaText}, nil
			}
		}
		if text == "" {
			return registries.Prepared{}, fmt.Errorf("an empty .%s file: %w", algo, errMalformedChecksum)
		}
		return registries.Prepared{}, fmt.Errorf("a .%s file with no %s digest larder can read: %w", algo, algo, errMalformedChecksum)
	}
}
