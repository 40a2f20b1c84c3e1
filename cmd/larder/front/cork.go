package front

import "net"

// cork holds back partial TCP segments on c until uncork is called, as
// nginx's tcp_nopush does: the headers then leave with the start of the
// body rather than in a packet of their own, and a body's end does not
// wake the client for a fragment. Only for bodies already in hand: corked
// bytes wait for a full segment, or for up to 200 ms. corked is false, and
// uncork does nothing, for anything but a TCP connection (or where
// TCP_CORK does not exist).
func cork(c net.Conn) (uncork func(), corked bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return func() {}, false
	}
	raw, err := tc.SyscallConn()
	if err != nil || !setCork(raw, true) {
		return func() {}, false
	}
	return func() { setCork(raw, false) }, true
}
