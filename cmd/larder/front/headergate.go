package front

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// headerGate is the listener fasthttp serves from: it hands over a new
// connection only once the header block of its first request is complete,
// and answers 400 itself to one whose lines end in bare LFs. fasthttp
// waits for the CRLF CRLF that ends a block, so such a request, which a
// script's printf sends, would otherwise hang until the read time-out.
// The gate looks without reading (see peekHeader): fasthttp still gets the
// *net.TCPConn itself, which it needs to write a response in one writev.
// A connection's later requests are not gated: a client that sent a
// CRLF request does not switch to bare LFs on the same connection.
type headerGate struct {
	net.Listener
	timeout time.Duration
	ready   chan net.Conn
	failed  chan error
	closed  chan struct{}
	close   sync.Once
}

func newHeaderGate(ln net.Listener, timeout time.Duration) *headerGate {
	g := &headerGate{Listener: ln, timeout: timeout, ready: make(chan net.Conn),
		failed: make(chan error, 1), closed: make(chan struct{})}
	go g.acceptAll()
	return g
}

func (g *headerGate) Accept() (net.Conn, error) {
	select {
	case c := <-g.ready:
		return c, nil
	case err := <-g.failed:
		// Every later Accept fails the same way, as the listener's would.
		g.failed <- err
		return nil, err
	}
}

func (g *headerGate) Close() error {
	err := g.Listener.Close()
	g.close.Do(func() { close(g.closed) })
	return err
}

func (g *headerGate) acceptAll() {
	var delay time.Duration
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				// Out of file descriptors and the like: back off as
				// net/http does rather than end serving.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			g.failed <- err
			return
		}
		delay = 0
		go g.admit(c)
	}
}

// admit hands c over once its first request's header block is complete,
// answers 400 to a block with bare LFs, and closes c without a word when
// no complete block arrives within the time-out (as fasthttp would).
func (g *headerGate) admit(c net.Conn) {
	switch peekHeader(c, time.Now().Add(g.timeout)) {
	case headerBareLF:
		refuseBareLF(c)
		return
	case headerUnfinished:
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	select {
	case g.ready <- c:
	case <-g.closed:
		c.Close()
	}
}

// What peekHeader saw of a connection's first header block.
type headerVerdict int

const (
	// headerComplete: the block ended in CRLF CRLF, or the gate cannot
	// judge it (not a socket, longer than a header may be, the client
	// closed); fasthttp reads and judges it.
	headerComplete headerVerdict = iota
	// headerBareLF: a line of the block ended in a bare LF.
	headerBareLF
	// headerUnfinished: the time-out passed first, or the connection failed.
	headerUnfinished
)

// judgeHeader reads the start of a connection: headerBareLF as soon as a
// line ends in a bare LF, headerComplete at the empty CRLF line ending
// the block, and ok false while neither has arrived.
func judgeHeader(b []byte) (v headerVerdict, ok bool) {
	lineStart := 0
	for i, ch := range b {
		if ch != '\n' {
			continue
		}
		if i == 0 || b[i-1] != '\r' {
			return headerBareLF, true
		}
		// An empty line ends the block, but one before the request line
		// is tolerated (RFC 9112, 2.2) and fasthttp skips it.
		if i-lineStart == 1 && lineStart > 0 {
			return headerComplete, true
		}
		lineStart = i + 1
	}
	return headerComplete, false
}

var bareLFAnswer = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Content-Length: 60\r\nConnection: close\r\n\r\n" +
	"400 Bad Request: header lines must end in CRLF, not bare LF\n")

// refuseBareLF answers the refused request and closes c. The request's
// bytes are read first: closed with them unread, the socket would send a
// reset, which may destroy the answer before the client reads it.
func refuseBareLF(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	drainQueued(c)
	if _, err := c.Write(bareLFAnswer); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}
