package registries

import (
	"bytes"
	"compress/gzip"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"runtime"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"
)

// Rendered is a document as a client receives it: rewritten for one base URL
// and one variant. It is built once and served like a static file, so a
// 10 MB packument is not parsed per request.
type Rendered struct {
	Body        []byte
	ContentType string
	ETag        string // strong, quoted; derived from Body
	// WeakGzip gives the gzip form the plain form's ETag, weak, instead of
	// a strong one of its own: for clients that check the ETag against a
	// digest of the body they decoded (bundler checks that it is the MD5
	// of the file).
	WeakGzip bool

	gzOnce sync.Once
	gz     []byte
}

// NewRendered wraps rendered bytes.
func NewRendered(body []byte, contentType string) *Rendered {
	sum := sha256.Sum256(body)
	return &Rendered{Body: body, ContentType: contentType, ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`}
}

// Gzip returns the body compressed, computing it on first use.
func (r *Rendered) Gzip() []byte {
	r.gzOnce.Do(func() {
		var buf bytes.Buffer
		buf.Grow(len(r.Body)/4 + 64)
		zw := takeGzipWriter()
		zw.Reset(&buf)
		zw.Write(r.Body)
		zw.Close()
		zw.Reset(nil)
		giveGzipWriter(zw)
		r.gz = buf.Bytes()
	})
	return r.gz
}

// gzipWriters are reused: a new one allocates most of a megabyte of
// compressor state on its first write, which every cold document paid
// once: 0.4 ms of a simple page's first answer, against 47 µs reused
// (BenchmarkGzipOfAColdDocument). Not a sync.Pool: each garbage
// collection empties one, and a cold install collects often enough that
// a page in ten paid for a new compressor, at 3.4 ms each while the
// installer kept the other core busy. A compression is all CPU, so a few
// more than the processors are all that are ever busy at once.
var gzipWriters = make(chan *gzip.Writer, runtime.GOMAXPROCS(0)+1)

func takeGzipWriter() *gzip.Writer {
	select {
	case zw := <-gzipWriters:
		return zw
	default:
		zw, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
		return zw
	}
}

func giveGzipWriter(zw *gzip.Writer) {
	select {
	case gzipWriters <- zw:
	default:
	}
}

func (r *Rendered) cost() int64 {
	// Count the gzip form too, as a guess before it exists: about a tenth.
	return int64(len(r.Body)) + int64(len(r.Body))/10 + 512
}

// RenderCache keeps rendered documents in memory, least recently used first
// out, within a byte budget. Concurrent misses on one key render once, and
// at most one render per CPU runs at a time: rendering is CPU work, more at
// once would not finish sooner, and each one of a large packument holds
// several times the document in memory while it runs (12 at once of a
// 49 MB packument, one per Host header, once took larder to 2 GB).
type RenderCache struct {
	max   int64
	group singleflight.Group
	slots chan struct{} // a token per render running

	mu    sync.Mutex
	size  int64
	order *list.List // front: most recent
	items map[string]*list.Element
}

type renderItem struct {
	key string
	r   *Rendered
}

// NewRenderCache makes a cache holding at most maxBytes (64 MiB when 0).
func NewRenderCache(maxBytes int64) *RenderCache {
	if maxBytes == 0 {
		maxBytes = 64 << 20
	}
	return &RenderCache{max: maxBytes, order: list.New(), items: map[string]*list.Element{},
		slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// Get returns the rendering under key, calling render on a miss. The key
// must name everything the rendering depends on (document digest, variant,
// base URL). A caller whose ctx ends stops waiting; a render that has not
// started by then does not start for it.
func (c *RenderCache) Get(ctx context.Context, key string, render func() (*Rendered, error)) (*Rendered, error) {
	for {
		if r, ok := c.lookup(key); ok {
			return r, nil
		}
		ch := c.group.DoChan(key, func() (any, error) { return c.render(ctx, key, render) })
		select {
		case res := <-ch:
			if res.Err != nil {
				// The caller that started the flight left before its
				// render began; this one has not, so it starts another.
				if errors.Is(res.Err, errRenderAbandoned) {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					continue
				}
				return nil, res.Err
			}
			return res.Val.(*Rendered), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// errRenderAbandoned: the request a render was for went away before a
// slot came free.
var errRenderAbandoned = errors.New("render abandoned: the client went away")

func (c *RenderCache) lookup(key string) (*Rendered, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*renderItem).r, true
}

func (c *RenderCache) render(ctx context.Context, key string, render func() (*Rendered, error)) (*Rendered, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, errRenderAbandoned
	}
	defer func() { <-c.slots }()
	// A render that ended between the look-up and this one stored it:
	// concurrent misses render once.
	if r, ok := c.lookup(key); ok {
		return r, nil
	}
	if ctx.Err() != nil {
		return nil, errRenderAbandoned
	}
	r, err := render()
	if err != nil {
		if ctx.Err() != nil {
			// The render read under the client that started it, which
			// left: not a failure of the document, and not one to hand
			// to the other clients waiting for it. They start another.
			return nil, errRenderAbandoned
		}
		return nil, err
	}
	c.put(key, r)
	return r, nil
}

func (c *RenderCache) put(key string, r *Rendered) {
	cost := r.cost()
	if cost > c.max {
		return // serve it, but do not evict everything for one giant
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.order.PushFront(&renderItem{key: key, r: r})
	c.size += cost
	for c.size > c.max {
		e := c.order.Back()
		it := e.Value.(*renderItem)
		c.order.Remove(e)
		delete(c.items, it.key)
		c.size -= it.r.cost()
	}
}

// HeldKey names a set of held artifact paths in a render-cache key, so that
// a cached-only view is rendered again exactly when what larder holds
// changes.
func HeldKey(paths map[string]bool) string {
	list := make([]string, 0, len(paths))
	for p := range paths {
		list = append(list, p)
	}
	sort.Strings(list)
	sum := sha256.Sum256([]byte(strings.Join(list, "\n")))
	return hex.EncodeToString(sum[:8])
}
