package maven

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// The checksum files larder serves are always those of the bytes it
// serves, computed by larder, never the upstream's passed on: Maven's
// checksum policy fails a build on a mismatch, and the bytes larder serves
// of a metadata file (its view of what it holds, offline) are not always
// the upstream's. They are written as the hex digest alone, as Maven
// Central writes them.

func newHash(algo string) hash.Hash {
	switch algo {
	case "sha512":
		return sha512.New()
	case "sha256":
		return sha256.New()
	case "sha1":
		return sha1.New()
	case "md5":
		return md5.New()
	}
	panic("maven: no checksum algorithm " + algo)
}

// checksumOf is the checksum of what v serves.
func (g *Registry) checksumOf(ctx context.Context, rt route, v view) (*registries.Rendered, registries.CacheStatus, error) {
	r, status, err := v(ctx)
	if err != nil {
		return nil, "", err
	}
	key := g.name + "\x00" + rt.sum + "\x00" + r.ETag
	sum, err := g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		h := newHash(rt.sum)
		h.Write(r.Body)
		return registries.NewRendered([]byte(hex.EncodeToString(h.Sum(nil))), mediaText), nil
	})
	return sum, status, err
}

// fileChecksum is the checksum of a file's held bytes. A file not held yet
// is fetched first, as if a client had asked for it: Maven asks for a
// file before its checksum, so that is rare (a client cut off mid-file).
func (g *Registry) fileChecksum(ctx context.Context, rt route) (*registries.Rendered, registries.CacheStatus, error) {
	if err := g.checkVersion(ctx, rt); err != nil {
		return nil, "", err
	}
	a, err := g.up.Artifact(ctx, rt.path)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, "", err
	}
	if !a.Cached() {
		if registries.OnQuickPath(ctx) {
			return nil, "", fmt.Errorf("%s: %w", rt.path, registries.ErrNotCached)
		}
		if err := g.fetch(ctx, rt); err != nil {
			return nil, "", err
		}
		// A fetch answers once the bytes are verified; they are recorded
		// just after.
		if err := g.up.Settle(ctx); err != nil {
			return nil, "", err
		}
		if a, err = g.up.Artifact(ctx, rt.path); err != nil {
			return nil, "", err
		}
		if !a.Cached() {
			return nil, "", fmt.Errorf("%s: fetched, yet not held: %w", rt.path, registries.ErrNotFound)
		}
	}
	key := g.name + "\x00" + rt.sum + "\x00" + string(a.SHA256)
	sum, err := g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		rc, _, err := g.up.Store().OpenArtifact(ctx, a.SHA256, a.Size)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		h := newHash(rt.sum)
		if _, err := io.Copy(h, rc); err != nil {
			return nil, err
		}
		return registries.NewRendered([]byte(hex.EncodeToString(h.Sum(nil))), mediaText), nil
	})
	return sum, registries.Hit, err
}

// fetch fetches the file rt names through the registry's own handler, as
// a warm fill does (no hit counted), and reports how that went.
func (g *Registry) fetch(ctx context.Context, rt route) error {
	req, err := http.NewRequestWithContext(registries.NotServed(ctx), http.MethodGet, "/"+rt.path, nil)
	if err != nil {
		return err
	}
	req.Host = "larder.internal"
	w := &discardResponse{header: http.Header{}}
	err = func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				if p != http.ErrAbortHandler {
					panic(p)
				}
				err = fmt.Errorf("%s: the download failed midway", rt.path)
			}
		}()
		g.mount.ServeHTTP(w, req)
		return nil
	}()
	if err != nil {
		return err
	}
	switch {
	case w.status == http.StatusOK:
		return nil
	case w.status == http.StatusNotFound && !g.up.Reachable():
		return g.up.NotCached(rt.path)
	case w.status == http.StatusNotFound:
		return fmt.Errorf("%s: %w", rt.path, registries.ErrNotFound)
	}
	return &registries.UpstreamError{Upstream: g.up.Options().Upstream.Host, Status: http.StatusBadGateway,
		Err: fmt.Errorf("fetching %s to sum it: %d", rt.path, w.status)}
}

// discardResponse is a ResponseWriter that keeps the status alone.
type discardResponse struct {
	header http.Header
	status int
}

func (d *discardResponse) Header() http.Header { return d.header }
func (d *discardResponse) WriteHeader(status int) {
	if d.status == 0 {
		d.status = status
	}
}
func (d *discardResponse) Write(p []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	return len(p), nil
}
