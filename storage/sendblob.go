package storage

import (
	"errors"
	"io"
	"net"
)

// SendTo writes the n bytes of b from off to conn, which nothing else
// writes to meanwhile: by sendfile at an explicit offset where it can (a
// TCP connection, on Linux), straight from the page cache and without the
// scheduler's help when the kernel says those bytes are all there
// (cachestat); else by positional reads copied to conn. A blob found
// shorter on disk than it was opened as is not handed out again (the next
// OpenShared opens it afresh). This is what a shared blob offers an HTTP
// server instead of its descriptor: how the bytes reach the connection is
// the store's to decide.
func (b *SharedBlob) SendTo(conn net.Conn, off, n int64) (int64, error) {
	sent, err, handled := sendFileAt(conn, b.fd, off, n, b.resident)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		b.Invalidate()
	}
	if handled {
		return sent, err
	}
	m, err := io.Copy(conn, io.NewSectionReader(b, off, n))
	if err == nil && m < n {
		err = io.ErrUnexpectedEOF
		b.Invalidate()
	}
	return m, err
}
