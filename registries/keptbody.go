package registries

import "net/http"

// KeepingWriter is a ResponseWriter that can send a body without copying
// it, because the caller promises the bytes never change: larder's
// fasthttp front then sends headers and body in one write, however large
// the body. Bodies from the cache (rendered documents, small blobs) are
// such bytes.
type KeepingWriter interface {
	// WriteKept writes b as Write does, and may hold on to b until the
	// response has been sent.
	WriteKept(b []byte) (int, error)
}

// writeCached writes a body that never changes: kept where the writer can
// keep it, written otherwise.
func writeCached(w http.ResponseWriter, b []byte) {
	if k, ok := w.(KeepingWriter); ok {
		k.WriteKept(b)
		return
	}
	w.Write(b)
}
