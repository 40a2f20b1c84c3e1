// Package wire holds what the fake upstreams share in how they put bytes on
// the wire.
package wire

import (
	"bytes"
	"compress/gzip"
	"sync"
)

// gzipWriters keeps compressors between responses: a new one allocates
// about a megabyte, and a fake that made one per document spent more CPU
// than the mirror under test, on the same cores, where a real registry
// serves compressed bytes from its CDN's cache.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// Gzip is body gzip-compressed at the default level.
func Gzip(body []byte) []byte {
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	var buf bytes.Buffer
	zw.Reset(&buf)
	zw.Write(body)
	zw.Close()
	return buf.Bytes()
}
