package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The gzip and the plain form of a document are two representations: a
// strong ETag names one of them, byte for byte. A cache holding the plain
// form must not be told by a 304 that it holds the gzip one, nor the other
// way round. Both engines, and the front's answer from memory, alike.
func TestGzipAndPlainDocumentsHaveTheirOwnETags(t *testing.T) {
	m := startMirror(t, nil)
	abbrev := "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
	pipAccept := "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
	docs := []struct{ path, accept string }{{"/npm/leftpad", abbrev}, {"/npm/many", "application/json"}, {"/pypi/simple/tiny/", pipAccept}}
	header := func(accept, encoding, ifNoneMatch string, viaHandler bool) http.Header {
		h := http.Header{"Accept": {accept}}
		if encoding != "" {
			h.Set("Accept-Encoding", encoding)
		}
		if ifNoneMatch != "" {
			h.Set("If-None-Match", ifNoneMatch)
		}
		if viaHandler {
			// A precondition the front leaves to the handler; documents
			// ignore it.
			h.Set("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")
		}
		return h
	}
	for _, d := range docs {
		m.do(t, m.std, "GET", d.path, header(d.accept, "", "", false)) // fetched, then fresh in memory
	}
	for _, via := range []struct {
		name    string
		base    string
		handler bool
	}{{"net/http", m.std, true}, {"the front, from memory", m.fast, false}, {"the front, through the handler", m.fast, true}} {
		for _, d := range docs {
			for _, method := range []string{"GET", "HEAD"} {
				plain, _ := m.do(t, via.base, method, d.path, header(d.accept, "", "", via.handler))
				gz, _ := m.do(t, via.base, method, d.path, header(d.accept, "gzip", "", via.handler))
				pt, gt := plain.Header.Get("Etag"), gz.Header.Get("Etag")
				where := via.name + " " + method + " " + d.path
				if gz.Header.Get("Content-Encoding") != "gzip" || plain.Header.Get("Content-Encoding") != "" {
					t.Fatalf("%s: Content-Encoding %q and %q", where, gz.Header.Get("Content-Encoding"), plain.Header.Get("Content-Encoding"))
				}
				if pt == "" || pt == gt {
					t.Errorf("%s: the plain and the gzip form share the ETag %s", where, pt)
					continue
				}
				for _, c := range []struct {
					encoding, etag string
					status         int
				}{
					{"", pt, http.StatusNotModified},
					{"gzip", gt, http.StatusNotModified},
					{"gzip", pt, http.StatusOK},
					{"", gt, http.StatusOK},
					{"gzip", pt + ", " + gt, http.StatusNotModified},
				} {
					resp, _ := m.do(t, via.base, method, d.path, header(d.accept, c.encoding, c.etag, via.handler))
					if resp.StatusCode != c.status {
						t.Errorf("%s, Accept-Encoding %q, If-None-Match %s: %s, want %d", where, c.encoding, c.etag, resp.Status, c.status)
					}
					want := pt
					if c.encoding == "gzip" {
						want = gt
					}
					if got := resp.Header.Get("Etag"); got != want {
						t.Errorf("%s, Accept-Encoding %q, If-None-Match %s: ETag %s, want %s", where, c.encoding, c.etag, got, want)
					}
				}
			}
		}
	}
}

// "bytes=-0" asks for the last zero bytes: no range of any representation
// satisfies it (RFC 9110, 14.1.3), so the answer is 416 with the length,
// not a 206 whose Content-Range ends before it starts. Dropped from a list
// that has other ranges, it leaves them to be served.
func TestAnEmptySuffixRangeIsUnsatisfiable(t *testing.T) {
	m := startMirror(t, nil)
	paths := []string{"/npm/leftpad/-/leftpad-1.0.0.tgz", "/npm/big/-/big-1.0.0.tgz", "/pypi/files/tiny/" + m.wheel}
	sizes := map[string]int64{}
	for _, p := range paths {
		resp, body := m.do(t, m.std, "GET", p, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", p, resp.Status)
		}
		sizes[p] = int64(len(body))
	}
	for _, base := range []string{m.std, m.fast} {
		for _, p := range paths {
			size := strconv.FormatInt(sizes[p], 10)
			for _, c := range []struct {
				rng, contentRange string
				status            int
			}{
				{"bytes=-0", "bytes */" + size, http.StatusRequestedRangeNotSatisfiable},
				{"bytes=-000", "bytes */" + size, http.StatusRequestedRangeNotSatisfiable},
				{"bytes= -0 , -0", "bytes */" + size, http.StatusRequestedRangeNotSatisfiable},
				{"bytes=-0,0-1", "bytes 0-1/" + size, http.StatusPartialContent},
				{"bytes=-1", "bytes " + strconv.FormatInt(sizes[p]-1, 10) + "-" + strconv.FormatInt(sizes[p]-1, 10) + "/" + size, http.StatusPartialContent},
			} {
				resp, body := m.do(t, base, "GET", p, http.Header{"Range": {c.rng}})
				if resp.StatusCode != c.status || resp.Header.Get("Content-Range") != c.contentRange {
					t.Errorf("%s %s, Range %q: %s, Content-Range %q (%d bytes); want %d, %q",
						strings.TrimPrefix(base, "http://"), p, c.rng, resp.Status, resp.Header.Get("Content-Range"), len(body), c.status, c.contentRange)
				}
			}
		}
	}
}

// An HTTP/1.0 client knows nothing of chunked framing (RFC 9112, 6.1): a
// response whose length is not known up front goes to it as it is, ended
// by closing the connection, whatever the client asked of the connection.
func TestAnHTTP10ResponseOfUnknownLengthIsCloseDelimited(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 10_000) // past what the front holds
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.URL.Path == "/flushed" {
			w.Write(body[:10])
			w.(http.Flusher).Flush()
			w.Write(body[10:100])
			return
		}
		for p := body; len(p) > 0; p = p[10_000:] {
			w.Write(p[:10_000])
		}
	})
	engines(t, plain(h), func(t *testing.T, base string) {
		for _, c := range []struct{ path, connection string }{{"/large", ""}, {"/large", "keep-alive"}, {"/flushed", ""}} {
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			req := "GET " + c.path + " HTTP/1.0\r\nHost: x\r\n"
			if c.connection != "" {
				req += "Connection: " + c.connection + "\r\n"
			}
			io.WriteString(conn, req+"\r\n")
			raw, err := io.ReadAll(conn) // to the end: the server closes
			conn.Close()
			if err != nil {
				t.Fatalf("%s %s: %v after %d bytes", c.path, c.connection, err, len(raw))
			}
			head, got, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
			if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.")) || !bytes.Contains(head, []byte(" 200 ")) {
				t.Fatalf("%s %s: %.200q", c.path, c.connection, raw)
			}
			lower := strings.ToLower(string(head))
			if strings.Contains(lower, "transfer-encoding") || strings.Contains(lower, "content-length") {
				t.Errorf("%s %s: framed for an HTTP/1.0 client:\n%s", c.path, c.connection, head)
			}
			want := body
			if c.path == "/flushed" {
				want = body[:100]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s %s: %d bytes of body, want the %d written: %.80q", c.path, c.connection, len(got), len(want), got)
			}
		}
	})
}

// A body may hold any bytes, bare LFs included, chunked or not, on a
// fresh connection and on one that served a request.
func TestABodyWithBareLFsIsServed(t *testing.T) {
	base := startFront(t, plain(readsBody))
	body := strings.Repeat("line\n", 5000)
	want := fmt.Sprintf("%d %x", len(body), sha256.Sum256([]byte(body)))
	tr := &http.Transport{Proxy: nil}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := range 3 {
		for _, chunked := range []bool{false, true} {
			req, _ := http.NewRequest("POST", base+"/audit", strings.NewReader(body))
			if chunked {
				req.ContentLength = -1
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != want {
				t.Errorf("request %d, chunked %v: %s %q", i, chunked, resp.Status, got)
			}
		}
	}
}
