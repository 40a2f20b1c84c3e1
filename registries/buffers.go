package registries

import (
	"bytes"
	"io"
	"sync"
)

// copyBufferSize is the size of the buffers artifacts are copied through:
// from the upstream into the blob writer, and from the writer to clients.
const copyBufferSize = 64 << 10

// copyBuffers are reused: a cold artifact went through three buffers made
// for it alone, and their allocation and collection were a tenth of a cold
// install's cost to larder (issue 21).
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// copyBuffer lends a buffer; give it back with putCopyBuffer once nothing
// refers to it.
func copyBuffer() *[]byte { return copyBuffers.Get().(*[]byte) }

func putCopyBuffer(b *[]byte) { copyBuffers.Put(b) }

// readAll is io.ReadAll through the copy buffers: the bytes land in lent
// buffers and are copied once into a slice of their size. io.ReadAll grows
// its slice a quarter at a time once it is large, copying and clearing it
// at each step: for a packument of hundreds of kilobytes that was most of
// the cost of reading it (issue 21). Like io.ReadAll, it returns what it
// read before an error with the error.
func readAll(r io.Reader) ([]byte, error) {
	var chunks []*[]byte
	var parts [][]byte
	defer func() {
		for _, c := range chunks {
			putCopyBuffer(c)
		}
	}()
	for {
		c := copyBuffer()
		chunks = append(chunks, c)
		n, err := io.ReadFull(r, *c)
		parts = append(parts, (*c)[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return joined(parts), nil
		}
		if err != nil {
			return joined(parts), err
		}
	}
}

// joined is parts in one new slice, never nil, as io.ReadAll's result.
func joined(parts [][]byte) []byte {
	if b := bytes.Join(parts, nil); b != nil {
		return b
	}
	return []byte{}
}
