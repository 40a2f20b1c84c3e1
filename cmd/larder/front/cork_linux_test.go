package front

import (
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

func corkState(t *testing.T, r *http.Request) int {
	t.Helper()
	return connCork(t, r.Context().Value(connKey{}).(net.Conn))
}

func connCork(t *testing.T, c net.Conn) int {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// Under net/http a response batched while it is written
// (registries.BatchingWriter) is corked, and uncorked once written, or the
// next response on the keep-alive connection would sit in the kernel for
// 200 ms.
func TestBatchCorksUntilTheResponseIsWritten(t *testing.T) {
	body := strings.Repeat("x", 10<<10)
	type states struct {
		held          bool
		during, after int
	}
	seen := make(chan states, 3)
	base := startStd(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		end, held := w.(interface{ Batch() (func(), bool) }).Batch()
		during := corkState(t, r)
		w.Header().Set("Content-Length", "10240")
		io.WriteString(w, body)
		w.(http.Flusher).Flush()
		end()
		seen <- states{held, during, corkState(t, r)}
	}))
	for i := 0; i < 3; i++ {
		resp, err := noProxy.Get(base)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != body {
			t.Fatalf("request %d: body of %d bytes, want %d", i, len(got), len(body))
		}
	}
	for i := 0; i < 3; i++ {
		if s := <-seen; !s.held || s.during != 1 || s.after != 0 {
			t.Errorf("request %d: held %v, TCP_CORK %d while writing and %d after, want true, 1 and 0", i, s.held, s.during, s.after)
		}
	}
}
