package front

import (
	"net"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"
)

// awaitHandler waits until the handler has decided its response, and
// meanwhile watches the client as net/http's background read does: a
// client that hangs up cancels the request's context, so that a handler
// waiting on an upstream stops waiting. The watch is a peek (peekGone):
// it takes nothing from the connection, so that a request pipelined behind
// this one, or a body, stays for fasthttp to read; once such bytes wait,
// a hang-up can no longer be told from them, and the watch ends, as
// net/http's does. A request with a body is watched once the handler has
// read it to its end (before, the handler's reads would contend with the
// peek); one whose body is left unread is not watched. A stream (see
// frontStream.WriteTo) cancels the context when a write to the client
// fails.
//
// serve's own goroutine watches, idle anyway: no goroutine more per
// request. Deciding wakes it (frontWriter.decide) with a read deadline in
// the past; the deadline is then cleared, and fasthttp sets its own before
// it next reads.
func awaitHandler(ctx *fasthttp.RequestCtx, w *frontWriter, r *http.Request) {
	select {
	case <-w.decided:
		return
	default:
	}
	if b, ok := r.Body.(*frontBody); ok {
		select {
		case <-w.decided:
			return
		case <-b.done:
		}
	}
	conn := ctx.Conn()
	w.watching.Store(true)
	if peekGone(conn, w.decided) {
		w.cancel()
	}
	w.watching.CompareAndSwap(true, false)
	<-w.decided
	if w.woken {
		conn.SetReadDeadline(time.Time{})
	}
}

// aLongTimeAgo is a read deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// wake ends a peek under way on conn.
func wake(conn net.Conn) { conn.SetReadDeadline(aLongTimeAgo) }
