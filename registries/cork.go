package registries

import (
	"context"
	"net"
	"net/http"
)

type connKey struct{}

// WithConn records the connection a request arrived on, for http.Server's
// ConnContext: serving from the cache corks it (see corkResponse).
func WithConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// corkResponse holds back partial TCP segments while a response that is
// wholly at hand is written, as nginx's tcp_nopush does: net/http writes
// the headers and a body larger than its 4 KB buffer in separate writes,
// each of which would otherwise leave as its own segment and wake the
// client for a fragment. The returned function flushes the response and
// lets the rest go. Only for bodies already in hand: corked bytes wait for
// a full segment, or for up to 200 ms.
func corkResponse(w http.ResponseWriter, r *http.Request) (release func()) {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	uncork, corked := cork(c)
	if !corked {
		// Nothing held back, nothing to flush early: under the fasthttp
		// front a flush would turn a response sent whole into a stream.
		return uncork
	}
	return func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		uncork()
	}
}

// Cork holds back partial TCP segments on c (see corkResponse) until the
// returned function is called. Anything but a TCP connection is left
// alone.
func Cork(c net.Conn) (uncork func()) {
	uncork, _ = cork(c)
	return uncork
}

func cork(c net.Conn) (uncork func(), corked bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return func() {}, false
	}
	raw, err := tc.SyscallConn()
	if err != nil || !setCork(raw, true) {
		return func() {}, false
	}
	return func() { setCork(raw, false) }, true
}
