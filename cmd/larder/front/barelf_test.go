package front

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A request whose header lines end in bare LFs is answered at once on both
// engines, not after the read time-out: net/http reads such lines (RFC
// 9112, 2.2 allows it), the front refuses them with a 400 (as the RFC also
// allows); left to fasthttp, which waits for a CRLF CRLF that never comes,
// the client (a script's printf, say) would hang for the whole time-out.
func TestABareLFRequestIsAnsweredAtOnce(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	want := map[string]string{"fasthttp": "HTTP/1.1 400 ", "net/http": "HTTP/1.1 200 "}
	for _, c := range []struct{ name, send string }{
		{"a new connection", "GET /x HTTP/1.1\nHost: x\n\n"},
		{"a new connection, CRLF lines ended by a bare LF", "GET /x HTTP/1.1\r\nHost: x\r\n\n"},
		{"a new connection, the request sent in pieces", "GET /x HTTP/1.1\nHo|st: x\n|\n"},
	} {
		for engine, base := range map[string]string{"fasthttp": startFront(t, h), "net/http": startStd(t, h)} {
			t.Run(c.name+"/"+engine, func(t *testing.T) {
				conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				for i, piece := range strings.Split(c.send, "|") {
					if i > 0 {
						time.Sleep(50 * time.Millisecond)
					}
					io.WriteString(conn, piece)
				}
				start := time.Now()
				conn.SetReadDeadline(time.Now().Add(frontHeaderTimeout - time.Second))
				got, err := io.ReadAll(io.LimitReader(conn, int64(len(want[engine]))))
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("no answer after %v; got %q", time.Since(start), got)
				}
				if string(got) != want[engine] {
					t.Fatalf("got %q, want %q", got, want[engine])
				}
			})
		}
	}
}

func TestJudgeHeader(t *testing.T) {
	for _, c := range []struct {
		in   string
		want headerVerdict
		ok   bool
	}{
		{"", headerComplete, false},
		{"GET / HTTP/1.1\r\nHost: x\r\n", headerComplete, false},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", headerComplete, true},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\nwith LFs", headerComplete, true},
		{"\r\nGET / HTTP/1.1\r\nHost: x\r\n", headerComplete, false},
		{"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", headerComplete, true},
		{"GET / HTTP/1.1\n", headerBareLF, true},
		{"\n", headerBareLF, true},
		{"GET / HTTP/1.1\r\nHost: x\n", headerBareLF, true},
		{"GET / HTTP/1.1\r\nHost: x\r\n\n", headerBareLF, true},
	} {
		got, ok := judgeHeader([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("judgeHeader(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
