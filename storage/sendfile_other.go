//go:build !linux

package storage

import "net"

// sendFileAt is sendfile with an explicit offset, which only Linux has
// here: elsewhere blobs are copied.
func sendFileAt(c net.Conn, fd uintptr, off, n int64, resident func(off, n int64) bool) (sent int64, err error, handled bool) {
	return 0, nil, false
}
