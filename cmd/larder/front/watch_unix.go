//go:build unix

package front

import (
	"net"
	"syscall"
)

// peekGone waits until conn's client hangs up (true), or bytes arrive, the
// connection fails otherwise, done is closed or the wait is woken (false).
// It reads nothing: it peeks at the socket's receive queue (MSG_PEEK).
func peekGone(conn net.Conn, done <-chan struct{}) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	var b [1]byte
	raw.Read(func(fd uintptr) bool {
		select {
		case <-done:
			return true
		default:
		}
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false // nothing yet: wait until the socket is readable
			case err != nil:
				// Reset, or any other failure: the client is gone.
				gone = true
			case n == 0:
				gone = true // end of stream: the client hung up
			}
			return true
		}
	})
	return gone
}
