package front

import (
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Request is a request as middleware and quick answers read it: the same
// under either engine, whatever parsed it. Its values are read lazily and
// kept, so that a quick hit pays only for what is asked of it.
type Request struct {
	start time.Time
	fast  *fasthttp.RequestCtx // under the front, until the handler takes over
	std   *http.Request        // under net/http, or once the handler has it

	target, remote, path string
	pathRead             bool

	// Kept with the request, so that a quick hit allocates neither.
	quick   Response
	outcome Outcome
}

var requests = sync.Pool{New: func() any { return new(Request) }}

func fastRequest(ctx *fasthttp.RequestCtx) *Request {
	r := requests.Get().(*Request)
	r.start, r.fast = time.Now(), ctx
	return r
}

func (r *Request) release() {
	*r = Request{}
	requests.Put(r)
}

// handOver moves r onto the request the handler gets: fasthttp reuses its
// buffers once the response is written, and the handler (and so
// Answered) may outlive that.
func (r *Request) handOver(std *http.Request) {
	r.Target()
	r.Remote()
	r.std, r.fast = std, nil
}

// Start is when the request arrived.
func (r *Request) Start() time.Time { return r.start }

// Method is the request's method.
func (r *Request) Method() string {
	if r.fast != nil {
		return methodString(r.fast.Method())
	}
	return r.std.Method
}

// Target is the request target as the client sent it (RequestURI).
func (r *Request) Target() string {
	if r.target == "" {
		if r.fast != nil {
			r.target = string(r.fast.RequestURI())
		} else {
			r.target = r.std.RequestURI
		}
	}
	return r.target
}

// Path is the target's path, unescaped (URL.Path); "" when the target is
// not one net/url parses.
func (r *Request) Path() string {
	if !r.pathRead {
		r.pathRead = true
		if r.std != nil && r.std.URL != nil {
			r.path = r.std.URL.Path
		} else if u, err := url.ParseRequestURI(r.Target()); err == nil {
			r.path = u.Path
		}
	}
	return r.path
}

// Remote is the client's address, host:port.
func (r *Request) Remote() string {
	if r.remote == "" {
		if r.fast != nil {
			r.remote = r.fast.RemoteAddr().String()
		} else {
			r.remote = r.std.RemoteAddr
		}
	}
	return r.remote
}

// Header is the first value of the request header key, which must be in
// canonical form ("Accept-Encoding"); "" when absent. The Host header is
// Host.
func (r *Request) Header(key string) string {
	if r.fast != nil {
		return string(r.fast.Request.Header.Peek(key))
	}
	if v := r.std.Header[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Has reports whether the request has a non-empty header key (canonical),
// without copying its value.
func (r *Request) Has(key string) bool {
	if r.fast != nil {
		return len(r.fast.Request.Header.Peek(key)) > 0
	}
	v := r.std.Header[key]
	return len(v) > 0 && v[0] != ""
}

// Host is the host the request names: its Host header, or the host of an
// absolute target.
func (r *Request) Host() string {
	if r.fast != nil {
		return string(r.fast.Request.Header.Host())
	}
	return r.std.Host
}

// Outcome is what middleware learns of a request's answer.
type Outcome struct {
	Status int
	Bytes  int64 // body bytes the handler wrote, or the quick answer sends (none for HEAD)
	fast   *fasthttp.ResponseHeader
	std    http.Header
}

// Header is the first value of the response header key (canonical).
func (o *Outcome) Header(key string) string {
	if o.fast != nil {
		return string(o.fast.Peek(key))
	}
	if v := o.std[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Middleware is what applies to every request under either engine, quick
// answers included: the server calls it, so no path can leave it out.
// There is no other place for it: a router's own middleware would not see
// the quick answers.
type Middleware interface {
	// Admit decides from the request line and headers alone, before any
	// of a body is read or invited (100 Continue), whether the request
	// is served: nil lets it through, a Refusal is the answer.
	Admit(r *Request) *Refusal
	// Answered is told of every request once its answer is decided (a
	// streamed one, once the handler has returned), refusals included.
	Answered(r *Request, o *Outcome)
}

// Refusal is how middleware turns a request away: answered as http.Error
// answers, with Header's lines (such as WWW-Authenticate) added.
type Refusal struct {
	Status int
	Msg    string
	Header http.Header
}

// Chain is the middleware every request goes through, in order: the
// first refusal answers; every Answered is called.
type Chain []Middleware

func (c Chain) admit(r *Request) *Refusal {
	for _, m := range c {
		if no := m.Admit(r); no != nil {
			return no
		}
	}
	return nil
}

func (c Chain) answered(r *Request, o *Outcome) {
	for _, m := range c {
		m.Answered(r, o)
	}
}

// Quick answers a request on the front's own terms, without a handler,
// and reports true; or leaves w untouched and reports false, for the
// handler to answer. It runs after the chain has admitted r, and the chain
// is told of its answer as of any other.
type Quick func(r *Request, w *Response) bool

// Response is a quick answer: a status, header lines, and a body that is
// bytes or a Sendable.
type Response struct {
	ctx  *fasthttp.RequestCtx
	head bool
	sent int64
	set  bool
}

// SetHeader sets a response header line; key in canonical form.
func (w *Response) SetHeader(key, value string) { w.ctx.Response.Header.Set(key, value) }

// Send answers with status and body (nil for none, as for a 304). body is
// sent as it is, never copied: it must not change.
func (w *Response) Send(status int, body []byte) {
	w.set = true
	w.ctx.Response.SetStatusCode(status)
	if body != nil {
		w.ctx.Response.SetBodyRaw(body)
		if !w.head {
			w.sent = int64(len(body))
		}
	}
}

// SendBlob answers with status and the blob b, which the front releases
// once sent or given up.
func (w *Response) SendBlob(status int, b Sendable) {
	w.set = true
	w.ctx.Response.SetStatusCode(status)
	w.ctx.Response.SetBodyStream(newBlobBody(w.ctx, b, w.head), int(b.Size()))
	if !w.head {
		w.sent = b.Size()
	}
}

// Sendable is a body that knows how to reach a connection from where it
// lies: the local blob store's open file sends itself by sendfile, with
// whatever it knows of the page cache; another store may copy. The front
// holds partial segments back around it (TCP_CORK) and releases it.
type Sendable interface {
	// Size is the body's length in bytes.
	Size() int64
	// SendTo writes the n bytes from offset off to conn, straight (the
	// front's buffer is empty), and reports how many it wrote.
	SendTo(conn net.Conn, off, n int64) (int64, error)
	// Release ends this use of the body.
	Release()
}
