package rubygems

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
	"sync"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// An info file larder holds within its TTL can be older than what the
// upstream's /versions, read since, lists for its gem: bundler, seeing the
// new MD5, asks for the info file and would get the old one until the TTL
// ran out. So an info file the upstream's /versions lists another MD5 for,
// in a /versions read after the info file was, is revalidated first: when
// /info serves it, and when /versions under a cutoff is written from it
// (bundler, whose copy has the MD5 larder wrote, would never ask for it
// again, and its new releases would go undated, and unserved, for good).

// errInfoBehind stops the quick path at an info file to revalidate.
var errInfoBehind = errors.New("the info file held is older than the upstream's /versions says")

// catchUp loads an info file again when the upstream's /versions says the
// copy held is out of date (ok: it did); the quick path does not wait on
// the upstream, and leaves it to the handler (errInfoBehind).
func (g *Registry) catchUp(ctx context.Context, held storage.Document) (newer registries.Doc, ok bool, err error) {
	behind, err := g.infoBehind(ctx, held)
	if err != nil || !behind {
		return registries.Doc{}, false, err
	}
	if registries.OnQuickPath(ctx) {
		return registries.Doc{}, false, errInfoBehind
	}
	newer, err = g.infoDoc(registries.Revalidating(ctx), held.Key)
	return newer, err == nil, err
}

// listedMD5s is the MD5 the upstream's /versions lists last for each gem,
// read once per body of it (rubygems.org's is tens of MB, read again only
// when it changes).
type listedMD5s struct {
	mu   sync.Mutex
	body storage.Digest
	md5  map[string][md5.Size]byte
}

// infoBehind says whether the upstream's /versions, read after info was,
// lists another MD5 for info's gem than that of info's bytes: the upstream
// has a newer info file.
func (g *Registry) infoBehind(ctx context.Context, info storage.Document) (bool, error) {
	f := indexFiles["versions"]
	versions, err := g.up.Cached(ctx, f.key, f.variant)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil || !versions.FetchedAt.After(info.FetchedAt) {
		return false, err
	}
	listed, ok, err := g.listed.lookup(ctx, g.up, versions, info.Key)
	if err != nil || !ok {
		return false, err
	}
	held, err := g.render(ctx, info) // the upstream's bytes; its ETag is their MD5
	if err != nil {
		return false, err
	}
	return strings.Trim(held.ETag, `"`) != hex.EncodeToString(listed[:]), nil
}

// lookup is the MD5 versions lists last for name, if it lists name.
func (l *listedMD5s) lookup(ctx context.Context, up *registries.Upstream, versions storage.Document, name string) ([md5.Size]byte, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.md5 == nil || l.body != versions.Body {
		body, err := up.Body(ctx, versions)
		if err != nil {
			return [md5.Size]byte{}, false, err
		}
		l.md5, l.body = lastMD5s(body), versions.Body
	}
	sum, ok := l.md5[name]
	return sum, ok, nil
}

// lastMD5s reads a /versions file: the MD5 each name's last line with one
// gives; none for a name whose last is not an MD5 (nothing to compare).
func lastMD5s(body []byte) map[string][md5.Size]byte {
	rest, err := afterPreamble(body)
	if err != nil {
		return map[string][md5.Size]byte{}
	}
	sums := make(map[string][md5.Size]byte, bytes.Count(rest, []byte("\n")))
	for len(rest) > 0 {
		line, after, _ := bytes.Cut(rest, []byte("\n"))
		rest = after
		f := bytes.Fields(line)
		if len(f) != 3 {
			continue
		}
		var sum [md5.Size]byte
		if n, err := hex.Decode(sum[:], f[2]); err != nil || n != md5.Size {
			delete(sums, string(f[0]))
			continue
		}
		sums[string(f[0])] = sum
	}
	return sums
}
