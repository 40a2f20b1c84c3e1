package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larder-mirror/larder/cmd/larder/front"
)

// countingListener records, for each connection it accepts, how many bytes
// the server read from it before it first wrote to it.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*countingConn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

// readBeforeWrite is what the server had read from its last connection
// when it first answered on it.
func (l *countingListener) readBeforeWrite() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[len(l.conns)-1].beforeWrite.Load()
}

type countingConn struct {
	net.Conn
	read        atomic.Int64
	wrote       atomic.Bool
	beforeWrite atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	if c.wrote.CompareAndSwap(false, true) {
		c.beforeWrite.Store(c.read.Load())
	}
	return c.Conn.Write(p)
}

// bodyEngines serves h behind access rules that let only 10.0.0.0/8 in
// with a token (so that a client on 127.0.0.1 is refused) or let everyone
// in with the token s3cret, on both engines, on counting listeners.
func bodyEngines(t *testing.T, allow []string, h http.Handler, test func(t *testing.T, addr string, ln *countingListener)) {
	acl, err := newAccess(Config{Listen: "127.0.0.1:7070", Allow: allow, Tokens: []string{"s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	guarded := serving{handler: h, chain: front.Chain{acl}}
	listen := func(t *testing.T) *countingListener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return &countingListener{Listener: ln}
	}
	t.Run("fasthttp", func(t *testing.T) {
		ln := listen(t)
		f := guarded.fast(slog.New(slog.NewTextHandler(io.Discard, nil)))
		go f.Serve(ln)
		t.Cleanup(func() { f.Shutdown(t.Context()) })
		test(t, ln.Addr().String(), ln)
	})
	t.Run("net/http", func(t *testing.T) {
		ln := listen(t)
		srv := &http.Server{Handler: guarded.std(), ConnContext: front.ConnContext, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		test(t, ln.Addr().String(), ln)
	})
}

// readsBody is a route that takes a body, as the audit passthrough does.
var readsBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
})

// A client the access rules refuse gets its answer from the request line
// and headers: larder neither invites its body (100 Continue) nor reads it
// before refusing, however large it says it is, whatever the method.
func TestARefusedClientsBodyIsNeitherInvitedNorRead(t *testing.T) {
	for _, c := range []struct {
		name   string
		allow  []string
		auth   string
		status int
	}{
		{"an address outside the allow-list", []string{"10.0.0.0/8"}, "Bearer s3cret", http.StatusForbidden},
		{"no token", nil, "", http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			bodyEngines(t, c.allow, readsBody, func(t *testing.T, addr string, ln *countingListener) {
				for _, method := range []string{"POST", "GET"} {
					head := method + " /npm/-/npm/v1/security/audits/quick HTTP/1.1\r\nHost: x\r\nContent-Length: 31000000\r\n"
					if c.auth != "" {
						head += "Authorization: " + c.auth + "\r\n"
					}

					// Asking first: the final answer, not 100 Continue.
					conn, err := net.Dial("tcp", addr)
					if err != nil {
						t.Fatal(err)
					}
					conn.SetDeadline(time.Now().Add(10 * time.Second))
					io.WriteString(conn, head+"Expect: 100-continue\r\n\r\n")
					resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
					if err != nil {
						t.Fatalf("%s with Expect: %v", method, err)
					}
					resp.Body.Close()
					conn.Close()
					if resp.StatusCode != c.status {
						t.Errorf("%s with Expect: status %d, want %d", method, resp.StatusCode, c.status)
					}

					// Sending at once: refused before the body is read.
					conn, err = net.Dial("tcp", addr)
					if err != nil {
						t.Fatal(err)
					}
					conn.SetDeadline(time.Now().Add(10 * time.Second))
					io.WriteString(conn, head+"\r\n")
					go func() {
						chunk := make([]byte, 64<<10)
						for range 64 { // 4 MB of the 31 MB, or until the server hangs up
							if _, err := conn.Write(chunk); err != nil {
								return
							}
						}
					}()
					resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
					if err != nil {
						t.Fatalf("%s: %v", method, err)
					}
					resp.Body.Close()
					conn.Close()
					if resp.StatusCode != c.status {
						t.Errorf("%s: status %d, want %d", method, resp.StatusCode, c.status)
					}
					// The header, and what the server's reads take in one
					// go: fasthttp's first 8 KB of a body, a buffer's fill.
					if n := ln.readBeforeWrite(); n > 64<<10 {
						t.Errorf("%s: read %d bytes before refusing", method, n)
					}
				}
			})
		})
	}
}

// A client the rules let in sends its body to the route that takes one,
// which reads it as it comes: asked for with 100 Continue, chunked or
// not, up to the limit.
func TestAnAdmittedClientsBodyIsStreamedToTheRoute(t *testing.T) {
	body := strings.Repeat("lockfile ", 200_000) // 1.8 MB, many of fasthttp's reads
	want := fmt.Sprintf("%d %x", len(body), sha256.Sum256([]byte(body)))
	bodyEngines(t, nil, readsBody, func(t *testing.T, addr string, _ *countingListener) {
		for _, c := range []struct {
			name    string
			chunked bool
			expect  bool
		}{{"with a length", false, false}, {"chunked", true, false}, {"after 100 Continue", false, true}} {
			req, _ := http.NewRequest("POST", "http://"+addr+"/npm/-/npm/v1/security/audits/quick", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer s3cret")
			if c.chunked {
				req.ContentLength = -1
			}
			if c.expect {
				req.Header.Set("Expect", "100-continue")
			}
			client := &http.Client{Transport: &http.Transport{Proxy: nil, ExpectContinueTimeout: 5 * time.Second}, Timeout: 10 * time.Second}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(got) != want {
				t.Errorf("%s: %d %q, want %q", c.name, resp.StatusCode, got, want)
			}
		}
	})
}

// Past the limit a chunked body fails to read, and a declared one is
// refused before it is sent.
func TestTheFrontsBodyLimit(t *testing.T) {
	base := startFront(t, plain(readsBody))
	addr := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST /audit HTTP/1.1\r\nHost: x\r\nContent-Length: 40000000\r\nExpect: 100-continue\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a declared 40 MB asking to continue: status %d", resp.StatusCode)
	}

	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 1<<20)
		for range 33 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", base+"/audit", pr)
	req.ContentLength = -1
	resp, err = noProxy.Do(req)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return // cut off while sending: refused too
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a chunked 33 MB: %d %q", resp.StatusCode, got)
	}
}

// npm audit through the front: the lockfile's package list reaches the
// upstream byte for byte, sent with a length or chunked; a client without
// a token never gets it there.
func TestTheAuditBodyReachesTheUpstreamThroughTheFront(t *testing.T) {
	m := startMirror(t, []string{"s3cret"})
	body := []byte(strings.Repeat(`{"left-pad":["1.3.0"]},`, 40_000)) // ~0.9 MB
	const path = "/npm/-/npm/v1/security/audits/quick"
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest("POST", m.fast+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		req.Header.Set("Content-Type", "application/json")
		if chunked {
			req.ContentLength = -1
		}
		resp, err := noProxy.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("chunked %v: %s", chunked, resp.Status)
		}
		reqs := m.npm.Requests()
		if got := reqs[len(reqs)-1]; got.Method != "POST" || !bytes.Equal(got.Body, body) {
			t.Errorf("chunked %v: the upstream got %s %s with %d bytes, want the %d sent", chunked, got.Method, got.Path, len(got.Body), len(body))
		}
	}
	before := len(m.npm.Requests())
	resp, err := noProxy.Post(m.fast+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(m.npm.Requests()) != before {
		t.Errorf("without a token: %s, %d requests upstream", resp.Status, len(m.npm.Requests())-before)
	}
}
