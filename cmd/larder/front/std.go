package front

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// NetHTTP is the handler net/http's server runs (for TLS and HTTP/2, or
// when http_engine says so): the chain, then h, as the front runs them.
// Its server must set ConnContext to this package's, for the responses
// that can be batched (see stdWriter.Batch).
func NetHTTP(chain Chain, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &Request{start: time.Now(), std: r}
		if no := chain.admit(req); no != nil {
			for k, vs := range no.Header {
				w.Header()[k] = vs
			}
			http.Error(w, no.Msg, no.Status)
			chain.answered(req, &Outcome{Status: no.Status, Bytes: int64(len(no.Msg) + 1), std: w.Header()})
			return
		}
		sw := &stdWriter{ResponseWriter: w, status: http.StatusOK, r: r}
		defer func() {
			chain.answered(req, &Outcome{Status: sw.status, Bytes: sw.bytes, std: sw.Header()})
		}()
		h.ServeHTTP(sw, r)
	})
}

type connKey struct{}

// ConnContext is net/http's Server.ConnContext for NetHTTP: it records the
// connection a request arrived on, for the writer to cork.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// stdWriter records the status and size of a response for the chain. It
// keeps io.ReaderFrom (sendfile), WriteKept, http.Flusher and http.Hijacker
// reachable, and adds Batch.
type stdWriter struct {
	http.ResponseWriter
	r      *http.Request
	status int
	bytes  int64
}

func (s *stdWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *stdWriter) Write(p []byte) (int, error) {
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// keepingWriter is registries.KeepingWriter's shape.
type keepingWriter interface {
	WriteKept(p []byte) (int, error)
}

func (s *stdWriter) WriteKept(p []byte) (int, error) {
	var n int
	var err error
	if k, ok := s.ResponseWriter.(keepingWriter); ok {
		n, err = k.WriteKept(p)
	} else {
		n, err = s.ResponseWriter.Write(p)
	}
	s.bytes += int64(n)
	return n, err
}

func (s *stdWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		// HTTP/2's writer has no ReadFrom; hide ours from io.Copy.
		n, err = io.Copy(struct{ io.Writer }{s.ResponseWriter}, r)
	}
	s.bytes += n
	return n, err
}

func (s *stdWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *stdWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := s.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, fmt.Errorf("hijacking not supported")
}

func (s *stdWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Batch corks the connection while a response wholly in hand is written
// (registries.BatchingWriter): net/http writes the headers and a body
// larger than its 4 KB buffer in separate writes, each of which would
// otherwise leave as its own segment. Nothing is held where the
// connection is not a recorded TCP one (HTTP/2 goes through TLS).
func (s *stdWriter) Batch() (end func(), held bool) {
	c, _ := s.r.Context().Value(connKey{}).(net.Conn)
	return cork(c)
}
