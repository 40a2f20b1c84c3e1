package main

import (
	"bytes"
	"errors"
	"io"
	"net"

	"github.com/valyala/fasthttp"
)

// errBareLF is what a front connection's reads fail with once a line of a
// request's header has ended in a bare LF.
var errBareLF = errors.New("a request header line ends in a bare LF")

// frontListener hands fasthttp connections that watch each request's
// header for a line ended by LF alone. fasthttp takes such a request line,
// but then waits for a CRLF CRLF that never comes, until the read
// time-out: a request "GET / HTTP/1.1\nHost: x\n\n" held a connection for
// the full ten seconds. RFC 9112 (2.2) lets a server refuse the bare LF;
// the front does, at once, so that it and a proxy before it cannot read
// one request two ways.
type frontListener struct{ net.Listener }

func (l frontListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &frontConn{Conn: c, armed: true}, nil
}

// frontConn scans the header of a request that begins with a read, which
// is any request but one pipelined behind another (fasthttp parses that
// one from what it has buffered already, and it waits for the time-out as
// before). Its state is used by the connection's goroutine and by the
// handler reading a body, never at once: fasthttp reads the connection
// again only once the handler is done with the body.
type frontConn struct {
	net.Conn
	armed    bool // the next read starts a request
	scanning bool // the reads are in a request's header
	sawLine  bool // the header has its request line
	lineLen  int  // bytes of the current line so far
	prev     byte // the byte scanned last
	bareLF   bool // the header has a line ended by a bare LF
}

// state follows fasthttp's view of the connection: idle between requests
// (the next read starts one), active once a request's first byte is in.
func (c *frontConn) state(s fasthttp.ConnState) {
	switch s {
	case fasthttp.StateIdle:
		c.armed = true
	case fasthttp.StateActive:
		c.armed = false
	}
}

func (c *frontConn) Read(p []byte) (int, error) {
	if c.bareLF {
		return 0, errBareLF
	}
	n, err := c.Conn.Read(p)
	if c.armed && n > 0 {
		c.armed, c.scanning, c.sawLine, c.lineLen, c.prev = false, true, false, 0, 0
	}
	if c.scanning {
		c.scan(p[:n])
	}
	return n, err
}

// scan follows the header's lines until its empty line, or until one
// ends in a bare LF.
func (c *frontConn) scan(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.lineLen += len(p)
			c.prev = p[len(p)-1]
			return
		}
		prev := c.prev
		if i > 0 {
			prev = p[i-1]
		}
		if prev != '\r' || c.lineLen+i == 0 {
			c.bareLF, c.scanning = true, false
			return
		}
		if c.lineLen+i == 1 { // CR LF alone
			if c.sawLine {
				c.scanning = false // the header's end; a body may follow
				return
			}
			// An empty line before the request line is allowed (RFC 9112, 2.2).
		} else {
			c.sawLine = true
		}
		c.lineLen, c.prev = 0, '\n'
		p = p[i+1:]
	}
}

// ReadFrom keeps the connection's own, which sends a file by sendfile.
func (c *frontConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// rawConn is the connection c wraps, for system calls on its socket
// (sendfile, TCP_CORK).
func rawConn(c net.Conn) net.Conn {
	if fc, ok := c.(*frontConn); ok {
		return fc.Conn
	}
	return c
}

// sawBareLF reports whether ctx's request came with a bare LF in its
// header.
func sawBareLF(ctx *fasthttp.RequestCtx) bool {
	c, ok := ctx.Conn().(*frontConn)
	return ok && c.bareLF
}

// frontConnState passes fasthttp's connection states to a frontConn.
func frontConnState(c net.Conn, s fasthttp.ConnState) {
	if fc, ok := c.(*frontConn); ok {
		fc.state(s)
	}
}
