package front

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFrontRequestIsWhatNetHTTPWouldHand(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "method=%s\nescaped=%s\npath=%s\nquery=%s\nhost=%s\nproto=%s\nuri=%s\naccept=%q\nauth=%q\nhostHeader=%q\nte=%q\nbody=%s\nremoteIsLoopback=%v\n",
			r.Method, r.URL.EscapedPath(), r.URL.Path, r.URL.RawQuery, r.Host, r.Proto, r.RequestURI,
			r.Header.Values("Accept"), r.Header.Get("Authorization"), r.Header.Get("Host"),
			r.Header.Get("Transfer-Encoding"), body, strings.HasPrefix(r.RemoteAddr, "127.0.0.1:"))
	})
	requests := []struct {
		method, path, body string
		header             http.Header
	}{
		{"GET", "/npm/@scope%2fname", "", http.Header{"Accept": {"application/vnd.npm.install-v1+json; q=1.0", "*/*"}}},
		{"GET", "/npm/@scope%2Fname?write=true&x=%20y", "", nil},
		{"HEAD", "/pypi/simple/Foo_Bar/", "", nil},
		{"POST", "/npm/-/npm/v1/security/advisories/bulk", `{"left-pad":["1.3.0"]}`, http.Header{"Authorization": {"Bearer t0ken"}, "Content-Type": {"application/json"}}},
		{"POST", "/npm/-/npm/v1/security/audits/quick", `{"name":"x"}`, http.Header{"Transfer-Encoding": {"chunked"}}},
	}
	engines(t, echo, func(t *testing.T, base string) {
		for _, rq := range requests {
			req, _ := http.NewRequest(rq.method, base+rq.path, strings.NewReader(rq.body))
			for k, vs := range rq.header {
				if k == "Transfer-Encoding" { // the client sends it from these fields
					req.TransferEncoding, req.ContentLength = vs, -1
					continue
				}
				req.Header[k] = vs
			}
			req.Host = "mirror.example:7070"
			resp, err := noProxy.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rq.method == "HEAD" {
				if len(got) != 0 || resp.ContentLength <= 0 {
					t.Errorf("HEAD: body %q, Content-Length %d", got, resp.ContentLength)
				}
				continue
			}
			want := echoOf(t, echo, req, rq.body)
			if string(got) != want {
				t.Errorf("%s %s: handler saw\n%s\nwant\n%s", rq.method, rq.path, got, want)
			}
		}
	})
}

// echoOf is what the echo handler writes for req as net/http parses it
// from the wire (a server request, not the client's).
func echoOf(t *testing.T, h http.Handler, req *http.Request, body string) string {
	var raw bytes.Buffer
	out := req.Clone(context.Background())
	out.Body = io.NopCloser(strings.NewReader(body))
	if len(out.TransferEncoding) == 0 {
		out.ContentLength = int64(len(body))
	}
	if err := out.Write(&raw); err != nil {
		t.Fatal(err)
	}
	sreq, err := http.ReadRequest(bufio.NewReader(&raw))
	if err != nil {
		t.Fatal(err)
	}
	sreq.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, sreq)
	return rec.Body.String()
}

// responses are the ways larder's handlers answer; each engine must send
// the same status, headers and body for each.
func responses() map[string]http.HandlerFunc {
	big := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 KB
	return map[string]http.HandlerFunc{
		"small": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Larder-Cache", "HIT")
			w.Write([]byte(`{"ok":true}`))
		},
		"kept": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			if k, ok := w.(keepingWriter); ok {
				k.WriteKept(big)
				return
			}
			w.Write(big)
		},
		"kept then more": func(w http.ResponseWriter, r *http.Request) {
			if k, ok := w.(keepingWriter); ok {
				k.WriteKept([]byte("first "))
			} else {
				w.Write([]byte("first "))
			}
			w.Write([]byte("second"))
		},
		"large, declared": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			for b := big; len(b) > 0; b = b[min(len(b), 10_000):] {
				w.Write(b[:min(len(b), 10_000)])
			}
		},
		"large, undeclared": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			for b := big; len(b) > 0; b = b[min(len(b), 3_000):] {
				w.Write(b[:min(len(b), 3_000)])
			}
		},
		"sniffed": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<!DOCTYPE html><html><body>hi</body></html>"))
		},
		"not modified": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Etag", `"x"`)
			w.WriteHeader(http.StatusNotModified)
		},
		"error": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "nope", http.StatusBadGateway)
		},
		"empty": func(w http.ResponseWriter, r *http.Request) {},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/pypi/simple/foo-bar/", http.StatusMovedPermanently)
		},
	}
}

func TestFrontSendsWhatNetHTTPSends(t *testing.T) {
	for name, h := range responses() {
		for _, method := range []string{"GET", "HEAD"} {
			want := record(t, h, method)
			t.Run(name+" "+method, func(t *testing.T) {
				engines(t, h, func(t *testing.T, base string) {
					req, _ := http.NewRequest(method, base+"/x", nil)
					resp, err := noProxy.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						t.Fatalf("reading the body: %v", err)
					}
					if resp.StatusCode != want.status {
						t.Errorf("status %d, want %d", resp.StatusCode, want.status)
					}
					if !bytes.Equal(body, want.body) {
						t.Errorf("body of %d bytes, want %d", len(body), len(want.body))
					}
					for _, k := range []string{"Content-Type", "Content-Length", "Etag", "Location", "X-Larder-Cache"} {
						if got := resp.Header.Get(k); got != want.header.Get(k) {
							t.Errorf("%s: %q, want %q", k, got, want.header.Get(k))
						}
					}
				})
			})
		}
	}
}

type recorded struct {
	status int
	header http.Header
	body   []byte
}

// record is what net/http's own server sends, the reference.
func record(t *testing.T, h http.Handler, method string) recorded {
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(method, srv.URL+"/x", nil)
	resp, err := noProxy.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return recorded{resp.StatusCode, resp.Header, body}
}

// A flushed response reaches the client while the handler is still at
// work: a tarball streams to npm while larder downloads it.
func TestFrontFlushSendsWhatIsWritten(t *testing.T) {
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("declared length %v", declared), func(t *testing.T) {
			release := make(chan struct{})
			done := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(done)
				if declared {
					w.Header().Set("Content-Length", "11")
				}
				w.Write([]byte("first"))
				w.(http.Flusher).Flush()
				<-release
				w.Write([]byte(" later"))
			})
			base := startFront(t, h)
			resp, err := noProxy.Get(base + "/x")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, 5)
			if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
				t.Fatalf("before the handler finished: %q, %v", buf, err)
			}
			close(release)
			rest, err := io.ReadAll(resp.Body)
			if err != nil || string(rest) != " later" {
				t.Fatalf("the rest: %q, %v", rest, err)
			}
			<-done
		})
	}
}

// A file body goes out whole (by sendfile on Linux), and the connection
// serves the next request after it.
func TestFrontServesAFileAndKeepsTheConnection(t *testing.T) {
	data := bytes.Repeat([]byte("larder "), 300_000) // 2.1 MB
	path := filepath.Join(t.TempDir(), "blob")
	os.WriteFile(path, data, 0o644)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			w.Write([]byte("small"))
			return
		}
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "", time.Time{}, f)
	})
	base := startFront(t, h)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// Pipelined: the answers come in the order asked.
	io.WriteString(c, "GET /blob HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\nGET /blob HTTP/1.1\r\nHost: x\r\nRange: bytes=7-13\r\n\r\n")
	br := bufio.NewReader(c)
	for i, want := range [][]byte{data, []byte("small"), data[7:14]} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(body, want) {
			t.Fatalf("response %d: %d bytes (%v), want %d", i, len(body), err, len(want))
		}
	}
}

// A handler that panics before answering gets the connection cut, as
// under net/http; one that panics mid-stream leaves a body the client
// sees is short.
func TestFrontHandlerPanicCutsTheConnection(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			w.Header().Set("Content-Length", "1000000")
			w.Write(make([]byte, 100_000))
		}
		panic(http.ErrAbortHandler)
	})
	base := startFront(t, h)
	if resp, err := noProxy.Get(base + "/early"); err == nil {
		resp.Body.Close()
		t.Fatalf("a panic before the response: got %s, want a cut connection", resp.Status)
	}
	resp, err := noProxy.Get(base + "/late")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("a panic mid-stream: read %d bytes and no error", n)
	}
}

// A client that goes away mid-stream makes the handler's writes fail, so
// that it stops; nothing waits on it forever.
func TestFrontClientGoneStopsTheHandler(t *testing.T) {
	failed := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for range 10_000 { // 640 MB at most: more than any socket buffer holds
			if _, err := w.Write(chunk); err != nil {
				failed <- err
				return
			}
		}
		failed <- nil
	})
	base := startFront(t, h)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	io.ReadFull(c, make([]byte, 100_000))
	c.Close()
	select {
	case err := <-failed:
		if err == nil {
			t.Fatal("every write succeeded after the client left")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the handler still writes 20 s after the client left")
	}
}

func TestFrontRefusesHeadersOver32KBBodiesOver32MBAndGarbage(t *testing.T) {
	base := startFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	addr := strings.TrimPrefix(base, "http://")
	for _, c := range []struct {
		name, request string
		status        int
	}{
		{"headers of 20 KB", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", http.StatusOK},
		{"headers over 32 KB", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 33<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"not HTTP", "HELLO\r\n\r\n", http.StatusBadRequest},
		// fasthttp reads up to 8 KB of a body before the handler sees the
		// request: the client sends what it would, its body's start.
		{"a body over 32 MB", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40000000\r\n\r\n" + strings.Repeat("b", 16<<10), http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, c.request)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
		})
	}
}

// A request with both Content-Length and Transfer-Encoding may be an
// attempt to smuggle a second request past a proxy in front of larder:
// whatever the answer, the connection ends with it (RFC 9112, 6.3), and
// what follows on it is never served.
func TestFrontClosesAConnectionWithAmbiguousFraming(t *testing.T) {
	seen := make(chan string, 4)
	base := startFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.URL.Path }))
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Error("a second response on the connection")
	}
	close(seen)
	for p := range seen {
		if p != "/first" {
			t.Errorf("served %s", p)
		}
	}
}

// Shutdown waits for a request under way, as http.Server.Shutdown does.
func TestFrontShutdownWaitsForTheRequestUnderWay(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write([]byte("finished"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := New(Config{Handler: h})
	go f.Serve(ln)
	got := make(chan string, 1)
	go func() {
		resp, err := noProxy.Get("http://" + ln.Addr().String() + "/x")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- f.Shutdown(context.Background()) }()
	select {
	case <-stopped:
		t.Fatal("Shutdown returned with a request under way")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if b := <-got; b != "finished" {
		t.Errorf("the request under way got %q", b)
	}
	if err := <-stopped; err != nil {
		t.Error(err)
	}
}

// A handler that declares more than it writes has failed: the client must
// see an error, not a shorter body it takes for the whole, as under
// net/http.
func TestFrontAShortBodyIsAnError(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("only ten.."))
	})
	engines(t, h, func(t *testing.T, base string) {
		resp, err := noProxy.Get(base + "/x")
		if err != nil {
			return // cut before the response: an error too
		}
		defer resp.Body.Close()
		if b, err := io.ReadAll(resp.Body); err == nil {
			t.Errorf("read %q and no error, Content-Length %d", b, resp.ContentLength)
		}
	})
}
