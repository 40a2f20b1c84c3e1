//go:build unix

package front

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// The gate looks at most at this much of a header block; a longer one is
// fasthttp's to refuse (431).
var peekBuffers = sync.Pool{New: func() any { b := make([]byte, frontMaxHeaderBytes); return &b }}

// peekHeader waits until c's first header block can be judged, or until
// deadline. It looks at what the kernel holds with MSG_PEEK, so that every
// byte is still there for fasthttp to read; the buffer is held only while
// looking, not while waiting.
func peekHeader(c net.Conn, deadline time.Time) headerVerdict {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return headerComplete
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return headerComplete
	}
	c.SetReadDeadline(deadline)
	verdict, judged := headerComplete, false
	err = raw.Read(func(fd uintptr) bool {
		bp := peekBuffers.Get().(*[]byte)
		defer peekBuffers.Put(bp)
		n, _, perr := syscall.Recvfrom(int(fd), *bp, syscall.MSG_PEEK)
		switch {
		case errors.Is(perr, syscall.EAGAIN):
			return false
		case perr != nil:
			verdict, judged = headerUnfinished, true
			return true
		case n == 0:
			// The client closed; fasthttp reads what it sent, if anything.
			judged = true
			return true
		}
		verdict, judged = judgeHeader((*bp)[:n])
		if !judged && n == len(*bp) {
			judged = true
		}
		// Not judged yet: the poller wakes this again when more arrives
		// (it is edge-triggered, so bytes already looked at do not).
		return judged
	})
	if err != nil && !judged {
		return headerUnfinished
	}
	return verdict
}

// drainQueued reads and drops what c's kernel buffer holds now.
func drainQueued(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	raw.Read(func(fd uintptr) bool {
		bp := peekBuffers.Get().(*[]byte)
		defer peekBuffers.Put(bp)
		for {
			n, _, err := syscall.Recvfrom(int(fd), *bp, 0)
			if n <= 0 || err != nil {
				return true
			}
		}
	})
}
