package front

import (
	"errors"
	"io"
	"net"

	"github.com/valyala/fasthttp"
)

// blobBody is a Sendable as fasthttp's body stream: the connection is
// corked from before the headers go out until the blob is sent, and the
// blob sends itself straight to the connection (sendfile, for the local
// store), fasthttp's buffer being empty (ImmediateHeaderFlush).
type blobBody struct {
	blob   Sendable
	off    int64 // how much has been sent
	conn   net.Conn
	uncork func()
}

func newBlobBody(ctx *fasthttp.RequestCtx, b Sendable, head bool) *blobBody {
	body := &blobBody{blob: b, conn: ctx.Conn(), uncork: func() {}}
	if !head {
		body.uncork, _ = cork(body.conn)
		ctx.Response.ImmediateHeaderFlush = true
	}
	return body
}

var errBlobRead = errors.New("this blob can only be sent, not read")

// Read serves fasthttp should it read the body rather than call WriteTo
// (it reads it to hand out the body as bytes), when the blob can be read.
func (b *blobBody) Read(p []byte) (int, error) {
	ra, ok := b.blob.(io.ReaderAt)
	if !ok {
		return 0, errBlobRead
	}
	left := b.blob.Size() - b.off
	if left <= 0 {
		return 0, io.EOF
	}
	n, err := ra.ReadAt(p[:min(int64(len(p)), left)], b.off)
	b.off += int64(n)
	if err == io.EOF && b.off < b.blob.Size() {
		err = io.ErrUnexpectedEOF
	} else if err == io.EOF {
		err = nil
	}
	return n, err
}

// SupportsBodyWriteTo has fasthttp call WriteTo.
func (b *blobBody) SupportsBodyWriteTo() bool { return true }

// WriteTo sends the blob straight to the connection, past w: only
// fasthttp's writer for that connection may be w, with nothing buffered.
func (b *blobBody) WriteTo(w io.Writer) (int64, error) {
	n, err := b.blob.SendTo(b.conn, b.off, b.blob.Size()-b.off)
	b.off += n
	return n, err
}

// Close is called by fasthttp once the response is sent, or given up.
func (b *blobBody) Close() error {
	b.uncork()
	b.blob.Release()
	return nil
}
