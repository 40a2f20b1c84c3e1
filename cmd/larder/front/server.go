package front

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Server serves plain HTTP/1.1 with fasthttp and hands every request that
// Quick does not answer to a net/http handler (see frontWriter). Why a
// second HTTP stack: a cache hit on a small file is most of a mirror's
// traffic, and net/http's own work per request (a goroutine and a
// background read per request, a write for the headers and another for the
// body) costs more than all of larder's; bench/run.sh measures a bare
// net/http server at about 0.75 of nginx on a 10 KB file, fasthttp at above
// 1. TLS stays on net/http (NetHTTP), which also brings HTTP/2.
type Server struct {
	handler http.Handler
	quick   Quick
	chain   Chain
	log     *slog.Logger
	srv     *fasthttp.Server
	workers *handlerWorkers
	// Responses the front writes on a connection it took over from
	// fasthttp (see frontWriter.closeDelimited), which fasthttp's
	// Shutdown no longer waits for.
	hijacked sync.WaitGroup
}

// Config is what a Server serves.
type Config struct {
	// Handler answers every request Quick does not.
	Handler http.Handler
	// Quick, when not nil, answers first what it can.
	Quick Quick
	// Chain applies to every request, quick or not, in order.
	Chain Chain
	// Log takes fasthttp's own messages (debug) and handler panics.
	Log *slog.Logger
}

// Limits as net/http's server in serve.go has them (but the header size),
// so both engines refuse the same requests.
const (
	frontHeaderTimeout = 10 * time.Second
	frontIdleTimeout   = 2 * time.Minute
	// The largest request header: fasthttp reads a request's whole header
	// into one buffer of this size, which each connection keeps. nginx
	// allows 8 KB a line, 32 KB in all.
	frontMaxHeaderBytes = 32 << 10
	// Clients send bodies only to the audit endpoints (a lockfile's
	// package list, gzip-compressed by npm), which pass on at most this
	// much (registries.Upstream.Passthrough). Bodies are streamed to the
	// handler, never held whole; a declared length beyond this is refused
	// with 413, and a chunked body fails to read past it.
	frontMaxBodyBytes = 32 << 20
)

// New is a Server of cfg.
func New(cfg Config) *Server {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Server{handler: cfg.Handler, quick: cfg.Quick, chain: cfg.Chain, log: log}
	f.workers = newHandlerWorkers(f.run)
	f.srv = &fasthttp.Server{
		Handler:       f.serve,
		ErrorHandler:  f.badRequest,
		ExpectHandler: f.expect,
		// The handler gets the body as a stream, read as it reads it;
		// fasthttp reads at most 8 KB of it before. Buffered, a client
		// could make larder hold 32 MB a connection before any rule or
		// route had a say.
		StreamRequestBody: true,
		// The whole request, header and body, within this time; an idle
		// keep-alive connection waits for its next request up to
		// IdleTimeout instead.
		ReadTimeout:                   frontHeaderTimeout,
		IdleTimeout:                   frontIdleTimeout,
		ReadBufferSize:                frontMaxHeaderBytes,
		WriteBufferSize:               frontWriteBufferSize,
		MaxRequestBodySize:            frontMaxBodyBytes,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: false,
		// Connections keep their buffers between requests (36 KB each):
		// giving them back after every request cost a cache hit 5-10%.
		ReduceMemoryUsage: false,
		CloseOnShutdown:   true,
		Logger:            frontLogger{log},
	}
	return f
}

// Serve serves the connections ln accepts, each once the header of its
// first request is in (see headerGate).
func (f *Server) Serve(ln net.Listener) error {
	return f.srv.Serve(newHeaderGate(ln, f.srv.ReadTimeout))
}

// Shutdown stops accepting, waits for the requests under way and closes
// idle connections, as http.Server.Shutdown does.
func (f *Server) Shutdown(ctx context.Context) error {
	defer f.workers.close()
	err := f.srv.ShutdownWithContext(ctx)
	done := make(chan struct{})
	go func() { f.hijacked.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// serve answers one request: the chain admits it (unless expect did), Quick
// answers it if it can, else the handler runs. The handler runs on its own
// goroutine so that a response too large to hold can be streamed: fasthttp
// writes a response only after this function returns, so when the handler
// streams (see frontWriter.startStream) this function returns first and
// fasthttp pulls the body from the still-running handler. While it waits,
// serve watches the client (see awaitHandler).
func (f *Server) serve(ctx *fasthttp.RequestCtx) {
	req := fastRequest(ctx)
	// A request that asked to send its body was admitted by expect.
	if !ctx.Request.MayContinue() && (f.refuse(ctx, req) || f.tooLarge(ctx, req)) {
		if n := ctx.Request.Header.ContentLength(); n == -1 || n > maxDrainBytes {
			closeUnread(ctx)
		}
		req.release()
		return
	}
	if f.quick != nil {
		w := &req.quick
		*w = Response{ctx: ctx, head: string(ctx.Method()) == http.MethodHead}
		if f.quick(req, w) {
			req.outcome = Outcome{Status: ctx.Response.StatusCode(), Bytes: w.sent, fast: &ctx.Response.Header}
			f.chain.answered(req, &req.outcome)
			req.release()
			return
		}
	}
	uri := req.Target()
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		msg := fmt.Sprintf("malformed request URI %q", uri)
		ctx.Error(msg, http.StatusBadRequest)
		ctx.SetConnectionClose()
		f.chain.answered(req, &Outcome{Status: http.StatusBadRequest, Bytes: int64(len(msg)), fast: &ctx.Response.Header})
		req.release()
		return
	}
	r := f.request(ctx, uri, u)
	req.handOver(r)
	w := newFrontWriter(ctx, r, &f.hijacked)
	w.req = req
	// As net/http: cancelled when the client hangs up (awaitHandler) or
	// the handler returns. Shutdown does not cancel it; it waits for the
	// handler.
	hctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	r = r.WithContext(hctx)
	f.workers.start(w, r)
	awaitHandler(ctx, w, r)
	switch {
	case w.aborted:
		// What net/http does when a handler panics before its response:
		// the connection is cut, nothing is sent.
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(net.Conn) {})
	case w.streaming:
		// The handler may still read the body; fasthttp sees to what it
		// leaves.
	default:
		if b, ok := r.Body.(*frontBody); ok && b.unread() > maxDrainBytes {
			closeUnread(ctx)
		}
	}
}

func (f *Server) run(w *frontWriter, r *http.Request) {
	defer w.cancel()
	defer func() {
		if b, ok := r.Body.(*frontBody); ok {
			// fasthttp reads the connection again once the response is
			// decided: what the handler left running (an upstream request
			// still sending the body) reads no more of it.
			b.Close()
		}
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			f.log.Error("panic serving a request", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(buf))
		}
		// The outcome is read before the response is decided: once it
		// is, serve returns and fasthttp may reuse what the writer holds.
		f.chain.answered(w.req, w.outcome())
		w.req.release()
		if p != nil {
			w.abort()
			return
		}
		w.finish()
	}()
	f.handler.ServeHTTP(w, r)
}

// request builds the net/http request fasthttp parsed, as net/http's server
// would have: the raw request URI parsed again (so an escaped "%2f" in a
// scoped npm name stays escaped), header keys canonical, Host out of the
// header map. Everything is copied: fasthttp reuses its buffers once the
// response is written, and a streaming handler outlives serve.
func (f *Server) request(ctx *fasthttp.RequestCtx, uri string, u *url.URL) *http.Request {
	hdr := &ctx.Request.Header
	r := &http.Request{
		Method:     methodString(ctx.Method()),
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, hdr.Len()),
		Host:       string(hdr.Host()),
		RequestURI: uri,
		RemoteAddr: ctx.RemoteAddr().String(),
		Body:       http.NoBody,
	}
	if !hdr.IsHTTP11() {
		r.Proto, r.ProtoMinor = "HTTP/1.0", 0
	}
	if u.Host != "" { // absolute-form request target
		r.Host = u.Host
	}
	for k, v := range hdr.All() {
		key := string(k)
		if key == "Host" || key == "Transfer-Encoding" {
			// net/http keeps neither in the map: the body is already
			// de-chunked.
			continue
		}
		r.Header[key] = append(r.Header[key], string(v))
	}
	r.Close = hdr.ConnectionClose()
	if stream := ctx.RequestBodyStream(); stream != nil && hasBody(hdr) {
		r.ContentLength = int64(hdr.ContentLength()) // -1: chunked, length unknown
		r.Body = &frontBody{r: stream, left: frontMaxBodyBytes, length: r.ContentLength, done: make(chan struct{})}
	}
	return r
}

// hasBody reports whether a request comes with a body, even an empty one.
func hasBody(hdr *fasthttp.RequestHeader) bool {
	n := hdr.ContentLength()
	return n > 0 || n == -1
}

// refuse answers a request the chain turns away, from its line and
// headers, and reports whether it did.
func (f *Server) refuse(ctx *fasthttp.RequestCtx, req *Request) bool {
	no := f.chain.admit(req)
	if no == nil {
		return false
	}
	for k, vs := range no.Header {
		for _, v := range vs {
			ctx.Response.Header.Add(k, v)
		}
	}
	plainError(ctx, no.Status, no.Msg)
	f.chain.answered(req, &Outcome{Status: no.Status, Bytes: int64(len(no.Msg) + 1), fast: &ctx.Response.Header})
	return true
}

// maxDrainBytes is the most of a body the handler left unread that is read
// and dropped to keep the connection for the next request, as fasthttp and
// net/http read it; beyond, the connection is closed (closeUnread).
const maxDrainBytes = 256 << 10

// unreadLinger is how long a connection whose client is still sending a
// body larder will not read stays open, half closed, after the answer:
// net/http's rstAvoidanceDelay.
const unreadLinger = 500 * time.Millisecond

// closeUnread ends the connection after the answer without reading what
// the client still sends, as net/http does: the write side at once, the
// rest a moment later. Closed at once with unread bytes, the connection
// would be reset, and the reset can reach the client before it has read
// the answer (Go's client reports "connection reset by peer" instead of
// the 401).
func closeUnread(ctx *fasthttp.RequestCtx) {
	raw := ctx.Conn()
	// fasthttp sends the answer, then runs this and closes the connection.
	ctx.Hijack(func(net.Conn) {
		if tc, ok := raw.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		}
		time.Sleep(unreadLinger)
	})
}

// tooLarge answers a request that declares a body larger than the front
// takes, and reports whether it did.
func (f *Server) tooLarge(ctx *fasthttp.RequestCtx, req *Request) bool {
	if ctx.Request.Header.ContentLength() <= frontMaxBodyBytes {
		return false
	}
	const msg = "413 Request Entity Too Large"
	plainError(ctx, http.StatusRequestEntityTooLarge, msg)
	f.chain.answered(req, &Outcome{Status: http.StatusRequestEntityTooLarge, Bytes: int64(len(msg) + 1), fast: &ctx.Response.Header})
	return true
}

// plainError answers as http.Error does.
func plainError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.Set("Content-Type", "text/plain; charset=utf-8")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetBodyString(msg + "\n")
}

// expect answers "Expect: 100-continue" from the request line and
// headers: a request the chain refuses, or whose body is too large,
// gets its final answer at once (and the connection is closed, the client
// may be sending already); any other is told to send its body.
func (f *Server) expect(ctx *fasthttp.RequestCtx) int {
	req := fastRequest(ctx)
	defer req.release()
	if f.refuse(ctx, req) || f.tooLarge(ctx, req) {
		return ctx.Response.StatusCode()
	}
	return fasthttp.StatusContinue
}

// frontBody is a request body as the handler reads it: straight from the
// connection (through fasthttp's stream), at most frontMaxBodyBytes of it,
// and nothing once the handler has returned.
type frontBody struct {
	mu     sync.Mutex
	r      io.Reader // nil once closed
	left   int64
	length int64 // declared; -1: chunked
	read   int64
	eof    bool
	done   chan struct{} // closed once the body has been read to its end
}

// unread is how much of the body the handler has not read: a guess past
// any bound for a chunked one not read to its end.
func (b *frontBody) unread() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.eof:
		return 0
	case b.length < 0:
		return 1<<63 - 1
	}
	return b.length - b.read
}

func (b *frontBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.r == nil {
		return 0, http.ErrBodyReadAfterClose
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	if int64(n) > b.left {
		b.r = nil
		return int(b.left), &http.MaxBytesError{Limit: frontMaxBodyBytes}
	}
	b.left -= int64(n)
	b.read += int64(n)
	if err == io.EOF && !b.eof {
		b.eof = true
		close(b.done)
	}
	return n, err
}

// Close ends the reading; it waits for a read under way.
func (b *frontBody) Close() error {
	b.mu.Lock()
	b.r = nil
	b.mu.Unlock()
	return nil
}

// methodString spares an allocation for the methods clients send.
func methodString(m []byte) string {
	switch string(m) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	}
	return string(m)
}

// badRequest answers a request fasthttp could not parse, with the status
// net/http would give. fasthttp calls it for every failed read as well: a
// connection that timed out or was closed before a whole request arrived
// is closed without a word, as net/http closes it. A response there would
// answer nothing, and a client that sends its next request on that
// connection as it arrives (Go's client keeps spare connections it dialed
// and never used) takes it for the answer.
func (f *Server) badRequest(ctx *fasthttp.RequestCtx, err error) {
	if readFailed(err) {
		// fasthttp writes whatever this leaves in the response, and then
		// closes the connection; closed first, it takes nothing.
		ctx.Conn().Close()
		return
	}
	status, msg := http.StatusBadRequest, "400 Bad Request"
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		status, msg = http.StatusRequestHeaderFieldsTooLarge, "431 Request Header Fields Too Large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, "413 Request Entity Too Large"
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg)
	ctx.SetConnectionClose()
}

// readFailed reports an error of the connection rather than of what the
// client sent: what net/http's server answers by closing.
func readFailed(err error) bool {
	var nothing fasthttp.ErrNothingRead
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.As(err, &nothing):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	case errors.As(err, &op) && op.Op == "read":
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET)
}

// frontLogger sends fasthttp's own messages (a client that went away, a
// read that timed out) to the debug log: they are the client's doing.
type frontLogger struct{ log *slog.Logger }

func (l frontLogger) Printf(format string, args ...any) {
	l.log.Debug("http: " + fmt.Sprintf(format, args...))
}
