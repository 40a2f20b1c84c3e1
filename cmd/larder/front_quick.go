package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// quickHits answers, on fasthttp's own terms, the requests a registry can
// answer with a registries.Quick: a plain GET or HEAD of an artifact larder
// holds or of a document fresh in memory, the bulk of an install. Everything else, and anything
// unusual about such a request, goes to larder's handler. The access
// rules and the request log apply as they do there.
type quickHits struct {
	mounts   map[string]*registries.Mounted
	acl      *access
	requests *requestLog
	log      *slog.Logger
}

func newQuickHits(regs []registries.Registry, acl *access, requests *requestLog, log *slog.Logger) *quickHits {
	q := &quickHits{mounts: map[string]*registries.Mounted{}, acl: acl, requests: requests, log: log}
	for _, r := range regs {
		q.mounts[r.Name()] = registries.Mount(r)
	}
	return q
}

// serve answers ctx and reports true, or leaves it untouched and reports
// false.
func (q *quickHits) serve(ctx *fasthttp.RequestCtx) bool {
	start := time.Now()
	method := ctx.Method()
	head := string(method) == http.MethodHead
	if !head && string(method) != http.MethodGet {
		return false
	}
	hdr := &ctx.Request.Header
	for _, k := range registries.ConditionalHeaders {
		// If-None-Match is the registry's to answer (a document's 304).
		if k != "If-None-Match" && len(hdr.Peek(k)) > 0 {
			return false
		}
	}
	uri := ctx.RequestURI()
	if !plainPath(uri) {
		return false
	}
	mount, below, ok := bytes.Cut(uri[1:], []byte("/"))
	if !ok {
		return false
	}
	reg := q.mounts[string(mount)]
	if reg == nil {
		return false
	}
	remote := ctx.RemoteAddr().String()
	if !q.acl.permits(remote, string(hdr.Peek("Authorization"))) {
		return false // the handler explains the refusal
	}
	hit, ok := reg.Quick(registries.Request{
		Path:        "/" + string(below),
		Head:        head,
		Host:        string(hdr.Host()),
		Accept:      string(hdr.Peek("Accept")),
		Encoding:    string(hdr.Peek("Accept-Encoding")),
		IfNoneMatch: string(hdr.Peek("If-None-Match")),
		Warm:        len(hdr.Peek(registries.WarmHeader)) > 0,
	})
	if !ok {
		return false
	}
	resp := &ctx.Response
	resp.SetStatusCode(hit.Status())
	hit.EachHeader(func(k, v string) { resp.Header.Set(k, v) })
	// For HEAD fasthttp sends only the length.
	switch {
	case hit.File != nil:
		resp.SetBodyStream(newBlobBody(resp, hit, ctx.Conn(), head), int(hit.Size))
	case !hit.NotModified:
		resp.SetBodyRaw(hit.Body)
	}
	if q.log.Enabled(context.Background(), slog.LevelInfo) {
		end := time.Now()
		sent := hit.Size
		if head || hit.NotModified {
			sent = 0
		}
		q.requests.write(requestEntry{
			at: end, method: string(method), path: string(uri), status: hit.Status(), bytes: sent,
			cache: string(hit.Cache), took: end.Sub(start), remote: remote,
		})
	}
	return true
}

// blobBody is a shared blob that fasthttp sends by sendfile, in full
// segments: the connection is corked from before the headers go out until
// the blob is sent, as nginx's tcp_nopush does, or the headers would leave
// in a packet of their own.
type blobBody struct {
	blob   *storage.SharedBlob
	off    int64 // how much has been sent or read
	conn   net.Conn
	uncork func()
}

// newBlobBody readies resp to send blob on conn. The headers are flushed
// before WriteTo, which writes to conn directly.
func newBlobBody(resp *fasthttp.Response, hit registries.Quick, conn net.Conn, head bool) *blobBody {
	b := &blobBody{blob: hit.File, conn: conn, uncork: func() {}}
	if !head {
		b.uncork = registries.Cork(conn)
		resp.ImmediateHeaderFlush = true
	}
	return b
}

// Read serves fasthttp when it does not call WriteTo.
func (b *blobBody) Read(p []byte) (int, error) {
	left := b.blob.Size() - b.off
	if left <= 0 {
		return 0, io.EOF
	}
	n, err := b.blob.ReadAt(p[:min(int64(len(p)), left)], b.off)
	b.off += int64(n)
	if err == io.EOF && b.off < b.blob.Size() {
		err = io.ErrUnexpectedEOF
	} else if err == io.EOF {
		err = nil
	}
	return n, err
}

// SupportsBodyWriteTo has fasthttp call WriteTo.
func (b *blobBody) SupportsBodyWriteTo() bool { return true }

// WriteTo sends the blob straight to the connection, fasthttp's buffer
// being empty (ImmediateHeaderFlush); where sendfile cannot, through w.
// Only fasthttp's writer for conn may be w: anything else would see the
// body go past it.
func (b *blobBody) WriteTo(w io.Writer) (int64, error) {
	n, err, handled := sendFileAt(b.conn, b.blob.Fd(), b.off, b.blob.Size()-b.off, b.blob.Resident)
	b.off += n
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// Cut short on disk since it was opened: the next request
		// opens it afresh, and finds what is there now.
		b.blob.Invalidate()
	}
	if handled {
		return n, err
	}
	m, err := io.Copy(w, io.NewSectionReader(b.blob, b.off, b.blob.Size()-b.off))
	b.off += m
	return n + m, err
}

// Close is called by fasthttp once the response is sent, or given up.
func (b *blobBody) Close() error {
	b.uncork()
	b.blob.Release()
	return nil
}

// plainPath reports whether a request target is an origin-form path
// without a query whose bytes net/url leaves as they are: for such a path,
// what a registry sees here is what its handler would see as
// URL.EscapedPath.
func plainPath(uri []byte) bool {
	if len(uri) < 2 || uri[0] != '/' {
		return false
	}
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("-._~!$&'()*+,;=:@/"), c) >= 0:
		case c == '%' && i+2 < len(uri) && isHex(uri[i+1]) && isHex(uri[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
