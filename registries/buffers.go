package registries

import "sync"

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
