//go:build !unix

package front

import (
	"net"
	"time"
)

// Without MSG_PEEK the gate cannot look without reading: every connection
// goes to fasthttp as it comes.
func peekHeader(net.Conn, time.Time) headerVerdict { return headerComplete }

func drainQueued(net.Conn) {}
