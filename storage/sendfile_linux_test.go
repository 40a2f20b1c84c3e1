package storage

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// tcpPair is a connected loopback TCP pair: the server's side, and the
// client's.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server.(*net.TCPConn), client.(*net.TCPConn)
}

func testFile(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i * 13 % 251)
	}
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, content
}

// The bytes asked for arrive whole, from the offset asked for, however
// often the socket's buffer fills on the way, and the file's own offset,
// shared by every request sending it, stays where it was.
func TestSendFileAtSendsTheRangeAskedForAndLeavesTheFilesOffset(t *testing.T) {
	for _, inMemory := range []bool{false, true} {
		resident := func(off, n int64) bool { return inMemory }
		f, content := testFile(t, 3<<20)
		server, client := tcpPair(t)
		// A small send buffer makes the socket fill and the send wait.
		server.SetWriteBuffer(16 << 10)
		const off, n = 12345, 2<<20 + 777
		received := make(chan []byte)
		go func() {
			got, _ := io.ReadAll(io.LimitReader(client, n))
			received <- got
		}()
		sent, err, handled := sendFileAt(server, f.Fd(), off, n, resident)
		if !handled || err != nil || sent != n {
			t.Fatalf("inMemory %v: sendFileAt = %d, %v, handled %v; want %d sent", inMemory, sent, err, handled, n)
		}
		if got := <-received; !bytes.Equal(got, content[off:off+n]) {
			t.Errorf("inMemory %v: received %d bytes, not the %d from offset %d", inMemory, len(got), n, off)
		}
		if pos, _ := f.Seek(0, io.SeekCurrent); pos != 0 {
			t.Errorf("inMemory %v: the file's offset moved to %d", inMemory, pos)
		}
	}
}

// Many requests send one descriptor at once, each its own bytes.
func TestSendFileAtSharesADescriptorBetweenSenders(t *testing.T) {
	f, content := testFile(t, 1<<20)
	var wg sync.WaitGroup
	for i := range 8 {
		server, client := tcpPair(t)
		off := int64(i * 1000)
		wg.Go(func() {
			got, _ := io.ReadAll(io.LimitReader(client, int64(len(content))-off))
			if !bytes.Equal(got, content[off:]) {
				t.Errorf("sender %d: received %d bytes of the wrong content", i, len(got))
			}
		})
		wg.Go(func() {
			var resident func(off, n int64) bool
			if i%2 == 0 {
				resident = func(off, n int64) bool { return true }
			}
			if _, err, _ := sendFileAt(server, f.Fd(), off, int64(len(content))-off, resident); err != nil {
				t.Errorf("sender %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

// A file cut short on disk ends the send with an error rather than a
// wait for bytes that will never come.
func TestSendFileAtReportsAFileShorterThanItsSize(t *testing.T) {
	f, content := testFile(t, 100_000)
	server, client := tcpPair(t)
	go io.Copy(io.Discard, client)
	sent, err, handled := sendFileAt(server, f.Fd(), 0, int64(len(content))+500, nil)
	if !handled || !errors.Is(err, io.ErrUnexpectedEOF) || sent != int64(len(content)) {
		t.Errorf("sendFileAt past the end = %d, %v (handled %v); want %d sent and io.ErrUnexpectedEOF", sent, err, handled, len(content))
	}
}

// A client gone is an error, not a hang.
func TestSendFileAtReportsAClosedConnection(t *testing.T) {
	f, content := testFile(t, 4<<20)
	server, client := tcpPair(t)
	client.Close()
	_, err, _ := sendFileAt(server, f.Fd(), 0, int64(len(content)), nil)
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("sendFileAt to a closed peer: %v, want EPIPE or ECONNRESET", err)
	}
}

// What is not a TCP connection is left to the caller's copy.
func TestSendFileAtLeavesOtherConnectionsAlone(t *testing.T) {
	f, _ := testFile(t, 10)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if sent, err, handled := sendFileAt(a, f.Fd(), 0, 10, nil); handled || sent != 0 || err != nil {
		t.Errorf("sendFileAt on a pipe = %d, %v, handled %v; want it left alone", sent, err, handled)
	}
}

// A file sendfile cannot read from (here a directory) is left to the
// caller's copy, as Go's own sendfile does, not failed after the headers.
func TestSendFileAtLeavesAFileItCannotSendToTheCopy(t *testing.T) {
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	server, _ := tcpPair(t)
	if sent, err, handled := sendFileAt(server, dir.Fd(), 0, 10, nil); handled || sent != 0 || err != nil {
		t.Errorf("sendFileAt of a directory = %d, %v, handled %v; want it left to the copy", sent, err, handled)
	}
}

// Only the ranges resident says are in memory go by the raw call, and it
// is asked of each chunk.
func TestSendFileAtAsksResidentOfEachChunk(t *testing.T) {
	f, content := testFile(t, 5<<20)
	server, client := tcpPair(t)
	go io.Copy(io.Discard, client)
	var asked []int64
	resident := func(off, n int64) bool {
		if n > maxInMemoryChunk {
			t.Errorf("resident asked of %d bytes, more than a raw call sends", n)
		}
		asked = append(asked, off)
		return len(asked)%2 == 1
	}
	if sent, err, _ := sendFileAt(server, f.Fd(), 0, int64(len(content)), resident); err != nil || sent != int64(len(content)) {
		t.Fatalf("sendFileAt = %d, %v", sent, err)
	}
	if len(asked) < 2 || asked[0] != 0 {
		t.Errorf("resident asked at %v; want it asked from offset 0, then again further on", asked)
	}
}
