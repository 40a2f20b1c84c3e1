package registries

import (
	"bytes"
	"context"
	"io"
	"sync"

	"github.com/larder-mirror/larder/storage"
)

// What follows a kept artifact (OnKept) starts as soon as its bytes are
// verified and kept, while its row commits, not after: the row of a
// download waits for company (storage's txDeferred), 10 ms in a lone
// install and up to a quarter second in a burst, and pip's next request,
// for the page of a dependency the file it just read names, comes a few
// milliseconds after the file. Loaded after the commit, those pages were
// still loading when pip asked for them, and the loads ahead ran beside
// pip's requests instead of between them. Bytes the row's transaction
// writes (storage.KeptBlob held them) are not in the store before it
// commits: OpenKept reads them from here until then.

// committingBytes holds, by digest, the bytes of kept artifacts whose rows
// are committing, for what follows them.
type committingBytes struct {
	mu     sync.Mutex
	bodies map[storage.Digest]*committingBody
}

type committingBody struct {
	b     []byte
	users int // the fills of one digest committing at once
}

// hold keeps a copy of b readable under d until the returned release.
func (c *committingBytes) hold(d storage.Digest, b []byte) (release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bodies == nil {
		c.bodies = map[storage.Digest]*committingBody{}
	}
	body := c.bodies[d]
	if body == nil {
		// A copy: the kept bytes go back to their pool when their row is
		// written, and what follows may still be reading.
		body = &committingBody{b: bytes.Clone(b)}
		c.bodies[d] = body
	}
	body.users++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if body.users--; body.users == 0 {
			delete(c.bodies, d)
		}
	}
}

func (c *committingBytes) get(d storage.Digest) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	body, ok := c.bodies[d]
	if !ok {
		return nil, false
	}
	return body.b, true
}

// followKept starts what follows the kept artifact a (OnKept), whose row
// is about to commit with kept; done must be called once the commit has
// ended, committed or not. A commit that fails leaves what was loaded
// ahead as a guess that costs a few requests: the artifact itself is
// fetched again when next asked for.
func (u *Upstream) followKept(a storage.Artifact, kept storage.KeptBlob) (done func()) {
	if u.kept == nil {
		return func() {}
	}
	a.SHA256, a.Size = kept.Digest, kept.Size
	done = func() {}
	if b := kept.Held(); b != nil {
		done = u.committing.hold(kept.Digest, b)
	}
	u.goTracked(func(ctx context.Context) { u.kept(ctx, a) })
	return done
}

// OpenKept opens the bytes of a kept artifact: from memory while its row
// commits (as what follows it, OnKept, reads them), else from the store.
func (u *Upstream) OpenKept(ctx context.Context, a storage.Artifact) (io.ReadSeekCloser, int64, error) {
	if b, ok := u.committing.get(a.SHA256); ok {
		return readSeekNopCloser{bytes.NewReader(b)}, int64(len(b)), nil
	}
	return u.env.Store.OpenArtifact(ctx, a.SHA256, a.Size)
}

type readSeekNopCloser struct{ *bytes.Reader }

func (readSeekNopCloser) Close() error { return nil }
