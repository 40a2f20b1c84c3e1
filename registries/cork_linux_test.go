package registries

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

func corkState(t *testing.T, r *http.Request) int {
	t.Helper()
	raw, err := r.Context().Value(connKey{}).(*net.TCPConn).SyscallConn()
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

// A corked response must be uncorked once written, or the next response on
// the keep-alive connection would sit in the kernel for 200 ms.
func TestCorkResponseReleases(t *testing.T) {
	body := strings.Repeat("x", 10<<10)
	type states struct{ during, after int }
	seen := make(chan states, 3)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release := corkResponse(w, r)
		during := corkState(t, r)
		w.Header().Set("Content-Length", "10240")
		io.WriteString(w, body)
		release()
		seen <- states{during, corkState(t, r)}
	}))
	srv.Config.ConnContext = WithConn
	srv.Start()
	defer srv.Close()
	for i := 0; i < 3; i++ {
		resp, err := srv.Client().Get(srv.URL)
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
		if s := <-seen; s.during != 1 || s.after != 0 {
			t.Errorf("request %d: TCP_CORK %d while writing and %d after, want 1 and 0", i, s.during, s.after)
		}
	}
}

// Without a recorded connection (HTTP/2, a test recorder) nothing is corked.
func TestCorkResponseWithoutConn(t *testing.T) {
	w := httptest.NewRecorder()
	corkResponse(w, httptest.NewRequest("GET", "/", nil))()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
}
