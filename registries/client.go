package registries

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// userAgent is the only identifying header larder sends upstream; nothing a
// client sent (Authorization, Cookie, X-Forwarded-*) is ever copied.
const userAgent = "larder/0.1 (+https://github.com/larder-mirror/larder)"

// newClient builds the upstream HTTP client. Proxies come from HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY, as teams behind a corporate proxy need.
func newClient(o Options) *http.Client {
	dialer := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           guardDial(dialer.DialContext),
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.ResponseTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   o.MaxConnections,
		// Bounded: a cold install of hundreds of packages must not open
		// hundreds of connections to one registry. Over HTTP/2 one
		// connection carries many requests at once.
		MaxConnsPerHost:   o.MaxConnections,
		IdleConnTimeout:   90 * time.Second,
		ForceAttemptHTTP2: true,
		// Bounded headers: a hostile upstream cannot make larder buffer
		// without end.
		MaxResponseHeaderBytes: 1 << 20,
	}
	return &http.Client{
		Transport: connectBound{rt: tr, timeout: o.ConnectTimeout},
		// Redirects are followed only within the hosts an ecosystem allows;
		// it checks each hop through CheckRedirect set per request.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return fmt.Errorf("%w: more than 5 redirects", errRedirectRefused)
			}
			if allow, ok := req.Context().Value(redirectPolicyKey{}).(func(*http.Request) error); ok {
				return allow(req)
			}
			return http.ErrUseLastResponse
		},
	}
}

type redirectPolicyKey struct{}

// withRedirectPolicy lets a request follow redirects that allow accepts.
func withRedirectPolicy(ctx context.Context, allow func(*http.Request) error) context.Context {
	return context.WithValue(ctx, redirectPolicyKey{}, allow)
}

// idleBody cuts a response body that delivers no byte for a while: a
// trickling or stalled upstream must not hold a download (or a client) forever.
type idleBody struct {
	body     io.ReadCloser
	timeout  time.Duration
	cancel   context.CancelFunc
	received prometheus.Counter // bytes read; nil: not counted

	mu    sync.Mutex
	timer *time.Timer
	fired bool
}

func newIdleBody(body io.ReadCloser, timeout time.Duration, cancel context.CancelFunc) *idleBody {
	b := &idleBody{body: body, timeout: timeout, cancel: cancel}
	b.timer = time.AfterFunc(timeout, func() {
		b.mu.Lock()
		b.fired = true
		b.mu.Unlock()
		cancel()
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 && b.received != nil {
		b.received.Add(float64(n))
	}
	b.mu.Lock()
	fired := b.fired
	if !fired && n > 0 {
		b.timer.Reset(b.timeout)
	}
	b.mu.Unlock()
	if fired && err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("upstream sent nothing for %s: %w", b.timeout, errIdle)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	b.cancel()
	return b.body.Close()
}

var errIdle = errors.New("idle time-out")

// errConnectTimeout: no usable connection to the upstream within
// connect_timeout.
var errConnectTimeout = errors.New("connect time-out")

// connectBound bounds the whole of getting a new connection (DNS, TCP, a
// proxy's answer to CONNECT, TLS) by one time-out. The transport bounds the
// dial and the TLS handshake itself, but waits up to a minute for a proxy
// that accepted the connection and never answers its CONNECT when the
// request has no deadline; a hung corporate proxy would then cost a minute
// per request before the upstream is even suspected. The clock starts when
// the connection does (its DNS look-up or dial), not while the request waits
// its turn under max_connections, and a reused connection has none.
type connectBound struct {
	rt      http.RoundTripper
	timeout time.Duration
}

func (c connectBound) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	var mu sync.Mutex
	var timer *time.Timer
	connected := false
	start := func() {
		mu.Lock()
		defer mu.Unlock()
		if timer == nil && !connected {
			timer = time.AfterFunc(c.timeout, func() { cancel(errConnectTimeout) })
		}
	}
	stop := func() {
		mu.Lock()
		defer mu.Unlock()
		connected = true
		if timer != nil {
			timer.Stop()
		}
	}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		DNSStart:     func(httptrace.DNSStartInfo) { start() },
		ConnectStart: func(string, string) { start() },
		GotConn:      func(httptrace.GotConnInfo) { stop() },
	})
	resp, err := c.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		stop()
		if errors.Is(context.Cause(ctx), errConnectTimeout) {
			err = fmt.Errorf("no connection to %s within %s (DNS, TCP, a proxy's CONNECT and TLS together): %w", req.URL.Host, c.timeout, errConnectTimeout)
			// net/http goes on with the dial this request gave up on, for
			// the next one, and gives a proxy's CONNECT a minute of its own:
			// meanwhile it holds one of max_connections, and behind a hung
			// proxy every slot would soon be held so, the requests after
			// them waiting unbounded for one. Closing idle connections is
			// net/http's only way to end dials nobody awaits; the idle
			// connections it also closes are few and cheap to make again
			// next to a connect that timed out.
			if ci, ok := c.rt.(interface{ CloseIdleConnections() }); ok {
				ci.CloseIdleConnections()
			}
		}
		cancel(nil)
		return nil, err
	}
	// The context must outlive RoundTrip: the body is read under it.
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
