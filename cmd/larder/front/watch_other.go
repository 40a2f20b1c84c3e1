//go:build !unix

package front

import "net"

// peekGone cannot peek here: a client's hang-up is seen only when a write
// to it fails.
func peekGone(net.Conn, <-chan struct{}) bool { return false }
