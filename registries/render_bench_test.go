package registries

import (
	"bytes"
	"testing"
)

// BenchmarkGzipOfAColdDocument is the gzip form of a document served for
// the first time: a simple page of 40 files, as a cold pip install asks
// for one per dependency.
func BenchmarkGzipOfAColdDocument(b *testing.B) {
	page := bytes.Repeat([]byte(`<a href="../../files/dep/dep-1.0.0-py3-none-any.whl#sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256=0123456789abcdef">dep-1.0.0-py3-none-any.whl</a><br/>`+"\n"), 40)
	b.ReportAllocs()
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if len(NewRendered(page, "text/html").Gzip()) == 0 {
			b.Fatal("empty gzip form")
		}
	}
}
