package storage_test

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// A shared blob sends the range asked for to a connection: by sendfile on
// TCP, by copying on anything else; the blob stays shared and readable.
func TestSharedBlobSendsItselfToAConnection(t *testing.T) {
	s, _ := newFSBlobs(t)
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	d := commit(t, s, content)
	for name, pair := range map[string]func(t *testing.T) (net.Conn, net.Conn){
		"tcp":  loopbackPair,
		"pipe": func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() },
	} {
		t.Run(name, func(t *testing.T) {
			b, err := s.OpenShared(t.Context(), d)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Release()
			server, client := pair(t)
			got := make(chan []byte)
			go func() {
				p, _ := io.ReadAll(client)
				got <- p
			}()
			off, n := int64(1000), int64(200_000)
			sent, err := b.SendTo(server, off, n)
			server.Close()
			if err != nil || sent != n {
				t.Fatalf("SendTo = %d, %v; want %d", sent, err, n)
			}
			if p := <-got; !bytes.Equal(p, content[off:off+n]) {
				t.Errorf("the client read %d bytes, not the range asked for", len(p))
			}
		})
	}
}

func loopbackPair(t *testing.T) (net.Conn, net.Conn) {
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
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}
