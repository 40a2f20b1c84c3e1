package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// front serves plain HTTP/1.1 with fasthttp and hands every request to
// larder's net/http handler (see frontWriter). Why a second HTTP stack: a
// cache hit on a small file is most of a mirror's traffic, and net/http's
// own work per request (a goroutine and a background read per request, a
// write for the headers and another for the body) costs more than all of
// larder's; bench/run.sh measures a bare net/http server at about 0.75 of
// nginx on a 10 KB file, fasthttp at above 1. TLS stays on net/http, which
// also brings HTTP/2.
type front struct {
	handler http.Handler
	quick   func(*fasthttp.RequestCtx) bool // answers what needs no handler
	log     *slog.Logger
	srv     *fasthttp.Server
	workers *handlerWorkers
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
	// much (registries.Upstream.Passthrough); fasthttp holds a body in
	// memory, and refuses a larger one with 413.
	frontMaxBodyBytes = 32 << 20
)

// newFront serves h; quick, when not nil, answers first what it can.
func newFront(h http.Handler, quick func(*fasthttp.RequestCtx) bool, log *slog.Logger) *front {
	f := &front{handler: h, quick: quick, log: log}
	f.workers = newHandlerWorkers(f.run)
	f.srv = &fasthttp.Server{
		Handler:      f.serve,
		ErrorHandler: f.badRequest,
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

func (f *front) Serve(ln net.Listener) error { return f.srv.Serve(ln) }

// Shutdown stops accepting, waits for the requests under way and closes
// idle connections, as http.Server.Shutdown does.
func (f *front) Shutdown(ctx context.Context) error {
	defer f.workers.close()
	return f.srv.ShutdownWithContext(ctx)
}

// serve runs larder's handler for one request. The handler runs on its own
// goroutine so that a response too large to hold can be streamed: fasthttp
// writes a response only after this function returns, so when the handler
// streams (see frontWriter.startStream) this function returns first and
// fasthttp pulls the body from the still-running handler.
func (f *front) serve(ctx *fasthttp.RequestCtx) {
	if f.quick != nil && f.quick(ctx) {
		return
	}
	r, err := f.request(ctx)
	if err != nil {
		ctx.Error(err.Error(), http.StatusBadRequest)
		ctx.SetConnectionClose()
		return
	}
	w := newFrontWriter(ctx, r)
	f.workers.start(w, r)
	<-w.decided
	if w.aborted {
		// What net/http does when a handler panics before its response:
		// the connection is cut, nothing is sent.
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(net.Conn) {})
	}
}

func (f *front) run(w *frontWriter, r *http.Request) {
	// As net/http: cancelled when the handler returns. Shutdown does not
	// cancel it; it waits for the handler.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				f.log.Error("panic serving a request", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(buf))
			}
			w.abort()
			return
		}
		w.finish()
	}()
	f.handler.ServeHTTP(w, r.WithContext(ctx))
}

// request builds the net/http request fasthttp parsed, as net/http's server
// would have: the raw request URI parsed again (so an escaped "%2f" in a
// scoped npm name stays escaped), header keys canonical, Host out of the
// header map. Everything is copied: fasthttp reuses its buffers once the
// response is written, and a streaming handler outlives serve.
func (f *front) request(ctx *fasthttp.RequestCtx) (*http.Request, error) {
	uri := string(ctx.RequestURI())
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, fmt.Errorf("malformed request URI %q", uri)
	}
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
	if body := ctx.PostBody(); len(body) > 0 {
		r.ContentLength = int64(len(body))
		r.Body = io.NopCloser(bytes.NewReader(bytes.Clone(body)))
	}
	return r, nil
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
func (f *front) badRequest(ctx *fasthttp.RequestCtx, err error) {
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
