package front

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

const (
	// A response up to this size is held and sent with its headers in one
	// write once the handler returns; a larger one is streamed.
	frontHoldMax = 64 << 10
	// fasthttp's per-connection write buffer. The stream relies on its
	// size: a write at least this large bypasses the buffer (see
	// frontStream.write).
	frontWriteBufferSize = 4 << 10
	// What http.DetectContentType reads.
	sniffLen = 512
	// The most net/http holds back to declare a Content-Length itself.
	netHTTPChunkingSize = 2048
)

// frontWriter is the http.ResponseWriter larder's handler writes to under
// the fasthttp front. The handler runs on its own goroutine while serve
// waits for decided. A small response is held in fasthttp's body buffer,
// and fasthttp sends headers and body together once the handler returns: a
// cache hit, the common case. A response that outgrows frontHoldMax, or
// that the handler flushes, becomes a stream: serve returns, fasthttp
// writes the headers and calls frontStream.WriteTo, which takes the
// handler's writes one at a time, straight to the connection.
type frontWriter struct {
	ctx         *fasthttp.RequestCtx
	head        bool
	http10      bool            // the client speaks HTTP/1.0: no chunked framing
	hijacked    *sync.WaitGroup // counts responses sent on a hijacked connection
	header      http.Header
	status      int
	wroteHeader bool
	held        int    // body bytes held in ctx.Response
	headBytes   int64  // body bytes written in answer to HEAD
	headSniff   []byte // and the first of them
	kept        bool   // ctx.Response's body is the caller's (WriteKept)

	decided chan struct{} // closed when serve may return (decide)
	aborted bool          // the handler panicked before its response was decided
	written int64         // body bytes the handler wrote, as net/http counts them

	req    *Request           // the chain's view of the request
	cancel context.CancelFunc // the request's context's
	// Whether serve is watching the client (awaitHandler): deciding then
	// wakes it.
	watching atomic.Bool
	woken    bool // decide woke serve; set before decided is closed

	// Once streaming, the handler's writes travel to frontStream.WriteTo.
	streaming bool
	chunks    chan chunk
	acks      chan ack
	stream    *frontStream
}

// A chunk is one write by the handler: bytes, or a reader (a file, so
// that the connection may sendfile it).
type chunk struct {
	p []byte
	r io.Reader
}

type ack struct {
	n   int64
	err error
}

var errStreamGone = errors.New("the client connection is gone")

func newFrontWriter(ctx *fasthttp.RequestCtx, r *http.Request, hijacked *sync.WaitGroup) *frontWriter {
	return &frontWriter{
		ctx:      ctx,
		hijacked: hijacked,
		http10:   !r.ProtoAtLeast(1, 1),
		head:     r.Method == http.MethodHead,
		header:   make(http.Header, 8),
		status:   http.StatusOK,
		decided:  make(chan struct{}),
	}
}

func (w *frontWriter) Header() http.Header { return w.header }

func (w *frontWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 {
		// larder sends no interim responses; net/http would send this one
		// and wait for the final status.
		return
	}
	w.wroteHeader, w.status = true, code
}

func (w *frontWriter) Write(p []byte) (int, error) {
	n, err := w.write(p)
	w.written += int64(n)
	return n, err
}

func (w *frontWriter) write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.head {
		w.writeHead(p)
		return len(p), nil
	}
	if w.kept {
		// More after a kept body: hold a copy of it instead.
		w.kept = false
		kept := w.ctx.Response.Body()
		w.ctx.Response.SetBody(kept)
		w.held = len(kept)
	}
	if !w.streaming && w.held+len(p) > frontHoldMax {
		w.startStream(p)
	}
	if w.streaming {
		a := w.send(chunk{p: p})
		return int(a.n), a.err
	}
	w.ctx.Response.AppendBody(p)
	w.held += len(p)
	return len(p), nil
}

// writeHead takes a body written in answer to HEAD as net/http does: its
// start gives the sniffed Content-Type, and a short one's length the
// Content-Length the handler left out. fasthttp sends none of it.
func (w *frontWriter) writeHead(p []byte) {
	if n := min(len(p), sniffLen-len(w.headSniff)); n > 0 {
		w.headSniff = append(w.headSniff, p[:n]...)
	}
	w.headBytes += int64(len(p))
}

// WriteKept hands fasthttp a body that never changes, to be sent with the
// headers in one write however large it is. Only a whole body is kept.
func (w *frontWriter) WriteKept(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.streaming || w.held > 0 || w.kept || w.head || !bodyAllowed(w.status) || len(p) == 0 {
		// Not a whole body, or not one to send: Write knows what to do.
		return w.Write(p)
	}
	w.ctx.Response.SetBodyRaw(p)
	w.kept = true
	w.written += int64(len(p))
	return len(p), nil
}

// ReadFrom streams a body the handler declared too large to hold, so that
// a file reaches the connection by sendfile; anything else is copied
// through Write.
func (w *frontWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.streaming && !w.head && bodyAllowed(w.status) && w.declaredLength() > frontHoldMax {
		w.startStream(nil)
	}
	if w.streaming {
		a := w.send(chunk{r: r})
		w.written += a.n
		return a.n, a.err
	}
	return io.Copy(writerOnly{w}, r)
}

// Flush sends what the handler has written so far: the response becomes a
// stream, whose every later write goes straight to the connection.
func (w *frontWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.streaming && !w.head && bodyAllowed(w.status) {
		w.startStream(nil)
	}
}

func (w *frontWriter) declaredLength() int64 {
	if v := w.header["Content-Length"]; len(v) == 1 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	return -1
}

// startStream hands the response to fasthttp as a body stream and lets
// serve return. first is the write that did not fit, for sniffing a
// Content-Type the handler left unset.
func (w *frontWriter) startStream(first []byte) {
	held := bytes.Clone(w.ctx.Response.Body())
	if len(held) > 0 {
		first = held
	}
	w.commitHeader(first)
	w.streaming = true
	w.chunks, w.acks = make(chan chunk), make(chan ack)
	w.stream = &frontStream{w: w, gone: make(chan struct{})}
	size := w.declaredLength()
	if size > int64(int(^uint(0)>>1)) {
		size = -1
	}
	if size < 0 && w.http10 {
		w.closeDelimited()
		if len(held) > 0 {
			w.send(chunk{p: held})
		}
		return
	}
	// Headers leave at once: the handler flushed, or a body follows that
	// will be written past fasthttp's buffer.
	w.ctx.Response.ImmediateHeaderFlush = true
	w.ctx.Response.SetBodyStream(w.stream, int(size))
	w.decide()
	if len(held) > 0 {
		w.send(chunk{p: held})
	}
}

// closeDelimited sends the stream to an HTTP/1.0 client, which cannot
// read chunks (RFC 9112, 6.1): the body as it is, its end the connection's.
// fasthttp chunks every stream of unknown length, so the front takes the
// connection over from it and writes the response itself.
func (w *frontWriter) closeDelimited() {
	resp := &w.ctx.Response
	resp.Header.SetContentLength(-2) // neither length nor chunks; and the connection closes
	resp.Header.Del("Transfer-Encoding")
	head := bytes.Clone(resp.Header.Header())
	conn := w.ctx.Conn()
	w.hijacked.Add(1)
	w.ctx.HijackSetNoResponse(true)
	// fasthttp runs this once serve has returned, and closes the
	// connection after it.
	w.ctx.Hijack(func(net.Conn) {
		defer w.hijacked.Done()
		defer w.stream.Close()
		var dst io.Writer = conn
		if _, err := conn.Write(head); err != nil {
			dst = failedWriter{err}
		}
		w.stream.WriteTo(dst)
	})
	w.decide()
}

// failedWriter fails every write, with the error of one that failed
// before.
type failedWriter struct{ err error }

func (f failedWriter) Write([]byte) (int, error) { return 0, f.err }

// send passes one write to the stream and waits until it is on the
// connection or has failed.
func (w *frontWriter) send(c chunk) ack {
	select {
	case w.chunks <- c:
		return <-w.acks
	case <-w.stream.gone:
		return ack{err: errStreamGone}
	}
}

// commitHeader copies the status and the header into fasthttp's response.
func (w *frontWriter) commitHeader(body []byte) {
	resp := &w.ctx.Response
	resp.SetStatusCode(w.status)
	for k, vs := range w.header {
		for _, v := range vs {
			resp.Header.Add(k, v)
		}
	}
	// As net/http does: a body without a declared type gets a sniffed one.
	if _, typed := w.header["Content-Type"]; !typed && len(body) > 0 && bodyAllowed(w.status) {
		resp.Header.SetContentType(http.DetectContentType(body))
	}
}

// finish runs when the handler returns.
func (w *frontWriter) finish() {
	if w.streaming {
		close(w.chunks)
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.head {
		w.commitHeader(w.headSniff)
		if w.headBytes > 0 && w.declaredLength() < 0 {
			// net/http declares what fits its buffer, and chunks the rest.
			if w.headBytes <= netHTTPChunkingSize {
				w.ctx.Response.Header.SetContentLength(int(w.headBytes))
			} else {
				w.ctx.Response.Header.SetContentLength(-1)
			}
		}
	} else {
		body := w.ctx.Response.Body()
		if n := w.declaredLength(); n >= 0 && n != int64(len(body)) && bodyAllowed(w.status) {
			// fasthttp would send the body with its true length, and the
			// client could not tell it from the whole. net/http sends the
			// declared length and cuts the connection; so does this.
			w.aborted = true
			w.decide()
			return
		}
		w.commitHeader(body)
	}
	w.decide()
}

// abort runs when the handler panics: an undecided response is not sent
// at all, a stream is cut (frontStream.WriteTo fails, and fasthttp closes
// the connection).
func (w *frontWriter) abort() {
	if w.streaming {
		w.stream.aborted = true
		close(w.chunks)
		return
	}
	w.aborted = true
	w.decide()
}

// decide lets serve return: it wakes serve if it is watching the client.
func (w *frontWriter) decide() {
	if w.watching.CompareAndSwap(true, false) {
		w.woken = true
		wake(w.ctx.Conn())
	}
	close(w.decided)
}

// outcome is what the chain learns of the response, once the handler has
// returned.
func (w *frontWriter) outcome() *Outcome {
	status := w.status
	if !w.wroteHeader {
		status = http.StatusOK
	}
	return &Outcome{Status: status, Bytes: w.written, std: w.header}
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// writerOnly hides frontWriter's ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }

// frontStream is the body fasthttp pulls from a streaming handler. fasthttp
// calls WriteTo on its connection goroutine, after the headers are out.
type frontStream struct {
	w       *frontWriter
	aborted bool // set before chunks is closed

	gone      chan struct{} // closed by Close: fasthttp is done with the body
	closeOnce sync.Once
}

var (
	errStreamRead    = errors.New("frontStream is read by WriteTo only")
	errHandlerPanicd = errors.New("the handler gave up on its response")
)

// SupportsBodyWriteTo tells fasthttp to call WriteTo even for a chunked
// body.
func (s *frontStream) SupportsBodyWriteTo() bool { return true }

func (s *frontStream) Read([]byte) (int, error) { return 0, errStreamRead }

// WriteTo passes the handler's writes to dst until the handler returns.
// After a failed write it goes on answering the handler, with the error,
// so that the handler stops of its own accord.
func (s *frontStream) WriteTo(dst io.Writer) (int64, error) {
	var total int64
	var failed error
	for c := range s.w.chunks {
		var a ack
		if failed != nil {
			a.err = failed
		} else {
			a = s.write(dst, c)
			total += a.n
			if failed = a.err; failed != nil {
				// The client is gone: as under net/http, the request's
				// context says so, and whatever the handler waits on
				// can stop.
				s.w.cancel()
			}
		}
		s.w.acks <- a
	}
	if failed == nil && s.aborted {
		failed = errHandlerPanicd
	}
	return total, failed
}

// write puts one chunk on the connection without leaving bytes in
// fasthttp's buffer (which is empty: the headers were flushed), so that
// nothing the handler wrote waits for a later write. A write at least the
// buffer's size goes past it in one system call; a smaller one, and a
// reader, go through the buffer's ReadFrom, which hands an empty buffer's
// work to the connection (sendfile for a file).
func (s *frontStream) write(dst io.Writer, c chunk) ack {
	rf, direct := dst.(io.ReaderFrom)
	switch {
	case c.r != nil && direct:
		n, err := rf.ReadFrom(c.r)
		return ack{n, err}
	case c.r != nil:
		n, err := io.Copy(dst, c.r)
		return ack{n, err}
	case len(c.p) < frontWriteBufferSize && direct:
		n, err := rf.ReadFrom(bytes.NewReader(c.p))
		return ack{n, err}
	default:
		n, err := dst.Write(c.p)
		return ack{int64(n), err}
	}
}

// Close is fasthttp's word that it is done with the body, written or not.
func (s *frontStream) Close() error {
	s.closeOnce.Do(func() { close(s.gone) })
	return nil
}
