package e2e

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// A client that opens connections and trickles its request headers
// (slowloris) is cut off after the read-header time-out, and larder keeps
// serving everyone else meanwhile.
func TestASlowClientIsCutOffAndOthersAreServed(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	l := startLarder(t, npmConfig(up, ""))
	var conns []net.Conn
	for range 50 {
		c, err := net.Dial("tcp", l.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("GET /npm/leaf HTTP/1.1\r\nHost: x\r\nX-Slow: "))
		conns = append(conns, c)
	}
	if resp, _ := l.get(t, "/npm/leaf"); resp.StatusCode != 200 {
		t.Errorf("another client while 50 slow ones wait: %d", resp.StatusCode)
	}
	start := time.Now()
	c := conns[0]
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	io.Copy(io.Discard, c) // returns when larder closes the connection
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("a slow client held its connection for %v", d)
	}
}
