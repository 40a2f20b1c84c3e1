package front

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The header time-outs these tests give both engines: short, so that a
// connection left without a request reaches it quickly.
const idleTestTimeout = 300 * time.Millisecond

// startIdleEngines serves h with the front and with net/http, each with
// idleTestTimeout for a request's header and for an idle keep-alive
// connection, as serve.go configures them otherwise.
func startIdleEngines(t *testing.T, h http.Handler) map[string]string {
	t.Helper()
	bases := map[string]string{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := New(Config{Handler: h})
	f.srv.ReadTimeout, f.srv.IdleTimeout = idleTestTimeout, idleTestTimeout
	done := make(chan struct{})
	go func() { f.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.Shutdown(ctx)
		<-done
	})
	bases["fasthttp"] = ln.Addr().String()

	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	std := &http.Server{Handler: h, ReadHeaderTimeout: idleTestTimeout, IdleTimeout: idleTestTimeout,
		ErrorLog: log.New(io.Discard, "", 0)}
	go std.Serve(sln)
	t.Cleanup(func() { std.Close() })
	bases["net/http"] = sln.Addr().String()
	return bases
}

// readUntilClosed reads what the server sends on c until it closes c, for
// 10 s at most.
func readUntilClosed(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the connection open 10 s past its time-out; sent %q", got)
	}
	return got
}

// A connection on which no request arrives before the time-out, or on
// which a request's header stops half-way, is closed without a word, as
// net/http closes it: a response there answers nothing the client asked,
// and a client about to send its next request on that connection would
// take it for the answer to that request.
func TestNoResponseWithoutARequest(t *testing.T) {
	bases := startIdleEngines(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	for _, c := range []struct{ name, first, then string }{
		{"a new connection that sends nothing", "", ""},
		{"a request's header cut short", "", "GET /x HTTP/1.1\r\nHost: x\r\nAccept:"},
		{"a keep-alive connection that sends nothing more", "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	} {
		for engine, addr := range bases {
			t.Run(c.name+"/"+engine, func(t *testing.T) {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				var want []byte
				if c.first != "" {
					io.WriteString(conn, c.first)
					conn.SetReadDeadline(time.Now().Add(10 * time.Second))
					buf := make([]byte, 4096)
					n, err := conn.Read(buf)
					if err != nil || !bytes.HasSuffix(buf[:n], []byte("\r\n\r\nok")) {
						t.Fatalf("the first request: %q, %v", buf[:n], err)
					}
				}
				io.WriteString(conn, c.then)
				if got := readUntilClosed(t, conn); !bytes.Equal(got, want) {
					t.Errorf("the server sent %q on a connection without a whole request", got)
				}
			})
		}
	}
}

// What bench/load.sh ran into: Go's client dials a connection for a request
// that then gets another connection freed meanwhile, and keeps the new one
// idle, never used. The server's time-out for that connection's first
// request must not put a response on it, which the client reports as
// "Unsolicited response received on idle HTTP channel" (and would take for
// the answer to a request it sent on it at that moment).
func TestAConnectionTheClientNeverUsedGetsNoResponse(t *testing.T) {
	var logged lockedBuffer
	out := log.Writer()
	log.SetOutput(&logged) // where Go's client reports unsolicited responses
	t.Cleanup(func() { log.SetOutput(out) })

	releaseHandler, releaseDial := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-releaseHandler
		}
		io.WriteString(w, "ok")
	})
	for engine, addr := range startIdleEngines(t, h) {
		t.Run(engine, func(t *testing.T) {
			logged.reset()
			secondDial, spareClosed := make(chan struct{}), make(chan struct{})
			var mu sync.Mutex
			dials := 0
			tr := &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, a)
				mu.Lock()
				dials++
				n := dials
				mu.Unlock()
				if n != 2 || err != nil {
					return c, err
				}
				close(secondDial)
				// Held until the first request's connection is free and
				// has served the second request: this one stays unused.
				<-releaseDial
				return &watchedConn{Conn: c, closed: spareClosed}, nil
			}}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

			first := make(chan error, 1)
			go func() {
				resp, err := client.Get("http://" + addr + "/slow")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				first <- err
			}()
			second := make(chan error, 1)
			go func() {
				// Sent while the first is under way: the client dials.
				for {
					mu.Lock()
					n := dials
					mu.Unlock()
					if n >= 1 {
						break
					}
					time.Sleep(time.Millisecond)
				}
				resp, err := client.Get("http://" + addr + "/fast")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				second <- err
			}()
			<-secondDial
			releaseHandler <- struct{}{}
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			if err := <-second; err != nil {
				t.Fatal(err)
			}
			releaseDial <- struct{}{}
			select {
			case <-spareClosed:
			case <-time.After(10 * time.Second):
				t.Fatal("the server kept the unused connection open 10 s past its time-out")
			}
			// The client's read loop logs before it gives the connection up.
			time.Sleep(50 * time.Millisecond)
			if s := logged.String(); strings.Contains(s, "Unsolicited response") {
				t.Errorf("the client saw: %s", s)
			}
		})
	}
}

// watchedConn closes closed when a read returns: the server sent something
// or closed the connection.
type watchedConn struct {
	net.Conn
	closed chan struct{}
	once   sync.Once
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.once.Do(func() { close(c.closed) })
	return n, err
}

func (l *lockedBuffer) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}
