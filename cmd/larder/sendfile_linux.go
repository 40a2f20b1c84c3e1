package main

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

const (
	// maxSendfileChunk bounds one sendfile call, as Go's own sendfile does.
	maxSendfileChunk = 4 << 20
	// maxInMemoryChunk bounds one call that holds its scheduler slot
	// (see sendFileAt), as nginx's sendfile_max_chunk does its worker.
	maxInMemoryChunk = 2 << 20
)

// sendFileAt sends n bytes of the file fd, from offset off, to c by
// sendfile with an explicit offset: the descriptor is shared by every
// request sending that blob, so its own offset is never used. handled is
// false, with nothing sent, when c cannot take sendfile.
//
// inMemory says the file's pages are most likely in the page cache, so a
// call cannot wait on the disk: it then bypasses the Go scheduler's
// system call protocol, as a call that cannot block may. A sendfile of a
// 1 MB tarball takes a few hundred microseconds, long enough for the
// runtime to hand the goroutine's processor to another thread and take
// it back afterwards: two thread wake-ups a request and a busy sysmon,
// about a tenth of serving it. nginx makes the same bet: its worker
// blocks in sendfile.
func sendFileAt(c net.Conn, fd uintptr, off, n int64, inMemory bool) (sent int64, err error, handled bool) {
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
			if inMemory {
				m, e = sendfileInMemory(sock, fd, &at, min(n-sent, maxInMemoryChunk))
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
	if sendErr != nil {
		err = sendErr
	}
	return sent, err, true
}

// sendfileInMemory is sendfile(2) as a raw system call (see sendFileAt).
func sendfileInMemory(sock, fd uintptr, at *int64, count int64) (int, error) {
	r, _, errno := syscall.RawSyscall6(syscall.SYS_SENDFILE, sock, fd, uintptr(unsafe.Pointer(at)), uintptr(count), 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}
