package registries

import "net/http"

// BatchingWriter is a ResponseWriter that can hold back the partial
// packets of a response wholly in hand while it is written, and send them
// at once when told: net/http writes the headers and a body larger than
// its 4 KB buffer in separate writes, each of which would otherwise leave
// as its own segment and wake the client for a fragment. The HTTP front
// implements it under net/http (with TCP_CORK, as nginx's tcp_nopush);
// registries only says when a response is wholly in hand.
type BatchingWriter interface {
	// Batch starts holding back; end sends what is held and stops.
	// held is false when nothing is held back (end then does nothing).
	Batch() (end func(), held bool)
}

// corkResponse batches the response about to be written, when w can: only
// for bodies already in hand, as held bytes wait for a full segment or for
// up to 200 ms. The returned function flushes the response and lets the
// rest go.
func corkResponse(w http.ResponseWriter, r *http.Request) (release func()) {
	b, ok := w.(BatchingWriter)
	if !ok {
		return func() {}
	}
	end, held := b.Batch()
	if !held {
		// Nothing held back, nothing to flush early: under the fasthttp
		// front a flush would turn a response sent whole into a stream.
		return end
	}
	return func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		end()
	}
}
