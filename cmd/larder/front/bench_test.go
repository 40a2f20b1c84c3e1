package front

import (
	"net"
	"net/http"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkFrontAdaptor measures what the front adds to a handler: the
// net/http request built from fasthttp's, the handler's goroutine, the
// response handed back.
func BenchmarkFrontAdaptor(b *testing.B) {
	body := make([]byte, 10<<10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"application/octet-stream"}
		w.Header()["Content-Length"] = []string{"10240"}
		w.WriteHeader(200)
		w.Write(body)
	})
	f := New(Config{Handler: h})
	var req fasthttp.Request
	req.SetRequestURI("/npm/leftpad/-/leftpad-1.0.0.tgz")
	req.Header.Set("Host", "127.0.0.1:7070")
	req.Header.Set("User-Agent", "npm/10.8.2 node/v22.3.0 linux x64 workspaces/false")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Encoding", "gzip,deflate")
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		ctx.Init(&req, remote, nil)
		f.serve(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}
