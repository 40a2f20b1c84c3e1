package front

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that hangs up while the handler waits (on an upstream, say)
// cancels the request's context under both engines, as net/http's server
// does, so that the handler can stop waiting; with or without a body the
// handler has read, and with the connection kept for a request after.
func TestAClientThatHangsUpCancelsTheRequestsContext(t *testing.T) {
	for _, c := range []struct{ name, request string }{
		{"a GET", "GET /npm/waits HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"a POST whose body the handler read", "POST /npm/-/npm/v1/security/audits/quick HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"},
		{"a GET after another on the connection", "GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /npm/waits HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			started := make(chan struct{}, 1)
			cancelled := make(chan time.Duration, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/fast" {
					io.WriteString(w, "fast\n")
					return
				}
				io.Copy(io.Discard, r.Body)
				started <- struct{}{}
				t0 := time.Now()
				select {
				case <-r.Context().Done():
					cancelled <- time.Since(t0)
				case <-time.After(10 * time.Second):
					cancelled <- -1
				}
			})
			engines(t, h, func(t *testing.T, base string) {
				conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(conn, c.request)
				<-started
				conn.Close()
				if took := <-cancelled; took < 0 || took > 2*time.Second {
					t.Fatalf("the handler's context was not done within 2 s of the client hanging up (%v)", took)
				}
			})
		})
	}
}

// A handler that takes its time on a connection the client keeps open
// is not cancelled, and the connection serves the next request after it:
// watching the client takes nothing from the connection.
func TestAHandlerThatTakesItsTimeIsNotCancelledAndTheConnectionStays(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusServiceUnavailable)
		case <-time.After(200 * time.Millisecond):
			io.WriteString(w, "slow "+r.URL.Path+"\n")
		}
	})
	engines(t, h, func(t *testing.T, base string) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		// The second request is sent while the first waits.
		io.WriteString(conn, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(50 * time.Millisecond)
		io.WriteString(conn, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(300 * time.Millisecond)
		io.WriteString(conn, "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		got, _ := io.ReadAll(conn)
		for _, want := range []string{"slow /a", "slow /b", "slow /c"} {
			if !bytes.Contains(got, []byte(want)) {
				t.Errorf("no %q in what the connection answered:\n%s", want, got)
			}
		}
		if n := bytes.Count(got, []byte("HTTP/1.1 200")); n != 3 {
			t.Errorf("%d answers of 200, want 3:\n%s", n, got)
		}
	})
}
