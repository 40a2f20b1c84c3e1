//go:build !linux

package front

import "syscall"

// setCork does nothing where TCP_CORK does not exist: responses are then
// sent as net/http writes them.
func setCork(syscall.RawConn, bool) bool { return false }
