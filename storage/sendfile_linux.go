package storage

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

const (
	// maxSendfileChunk bounds one sendfile call, as Go's own sendfile does.
	maxSendfileChunk = 4 << 20
	// maxInMemoryChunk bounds one raw call, which holds its scheduler
	// slot (see sendFileAt), as nginx's sendfile_max_chunk does its worker.
	maxInMemoryChunk = 2 << 20
)

// sendFileAt sends n bytes of the file fd, from offset off, to c by
// sendfile with an explicit offset: the descriptor is shared by every
// request sending that blob, so its own offset is never used. handled is
// false, with nothing sent, when c or the file cannot take sendfile; the
// caller then copies.
//
// resident, when not nil, tells whether a range of the file is all in the
// page cache. A call on such a range cannot wait on the disk, so it is
// made as a raw system call, bypassing the Go scheduler's protocol for a
// call that may block: a sendfile of a 1 MB tarball takes a few hundred
// microseconds, long enough for the runtime to hand the goroutine's
// processor to another thread and take it back afterwards, two thread
// wake-ups a request and a busy sysmon, about a tenth of serving it.
// nginx's worker blocks in sendfile all the same.
func sendFileAt(c net.Conn, fd uintptr, off, n int64, resident func(off, n int64) bool) (sent int64, err error, handled bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0, nil, false
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	var sendErr error
	err = raw.Write(func(sock uintptr) bool {
		for sent < n {
			at := off + sent
			var m int
			var e error
			if chunk := min(n-sent, maxInMemoryChunk); resident != nil && resident(at, chunk) {
				m, e = sendfileInMemory(sock, fd, &at, chunk)
			} else {
				m, e = syscall.Sendfile(int(sock), int(fd), &at, int(min(n-sent, maxSendfileChunk)))
			}
			if m > 0 {
				sent += int64(m)
			}
			switch {
			case e == syscall.EAGAIN:
				return false // wait until the socket takes more
			case e == syscall.EINTR:
			case e != nil:
				sendErr = e
				return true
			case m == 0:
				// The file ends before its size: cut short on disk.
				sendErr = io.ErrUnexpectedEOF
				return true
			}
		}
		return true
	})
	if sent == 0 && unsupported(sendErr) {
		return 0, nil, false
	}
	if sendErr != nil {
		err = sendErr
	}
	return sent, err, true
}

// unsupported reports a sendfile error that says the file or socket
// cannot be sent this way, as opposed to one the connection failed with.
func unsupported(err error) bool {
	return err == syscall.EINVAL || err == syscall.ENOSYS || err == syscall.EOPNOTSUPP
}

// sendfileInMemory is sendfile(2) as a raw system call (see sendFileAt).
func sendfileInMemory(sock, fd uintptr, at *int64, count int64) (int, error) {
	r, _, errno := syscall.RawSyscall6(syscall.SYS_SENDFILE, sock, fd, uintptr(unsafe.Pointer(at)), uintptr(count), 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}
