package registries

import (
	"bytes"
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

// Without a recorded connection (HTTP/2, the fasthttp front, a test
// recorder) nothing is corked, and nothing flushed: under the front a flush
// makes a response whole in hand a stream.
func TestCorkResponseWithoutConn(t *testing.T) {
	w := httptest.NewRecorder()
	corkResponse(w, httptest.NewRequest("GET", "/", nil))()
	if w.Flushed {
		t.Error("flushed a response that was never corked")
	}
}

// A download still arriving from the upstream goes out as it comes: corked,
// its bytes would wait for a full segment or 200 ms.
func TestAStreamingDownloadIsNotCorked(t *testing.T) {
	x := newArtifactFixture(t, Options{})
	good := randomBytes(largeSize, 11)
	gate := make(chan struct{})
	x.f.handle(tarballUpstream, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(good[:len(good)/2])
		w.(http.Flusher).Flush()
		select {
		case <-gate:
			w.Write(good[len(good)/2:])
		case <-x.f.release:
		}
	}))
	x.announce(t, good)
	resp, err := x.srv.Client().Get(x.srv.URL + "/" + tarballPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	if got := connCork(t, x.lastConn()); got != 0 {
		t.Errorf("TCP_CORK is %d while the download streams, want 0", got)
	}
	close(gate)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(append(first, rest...), good) {
		t.Errorf("read %d bytes (%v), want the whole tarball", len(first)+len(rest), err)
	}
}
