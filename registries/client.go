package registries

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
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
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.ResponseTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
		// Bounded headers: a hostile upstream cannot make larder buffer
		// without end.
		MaxResponseHeaderBytes: 1 << 20,
	}
	return &http.Client{
		Transport: tr,
		// Redirects are followed only within the hosts an ecosystem allows;
		// it checks each hop through CheckRedirect set per request.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
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
	body    io.ReadCloser
	timeout time.Duration
	cancel  context.CancelFunc

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
