package registries

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
)

// loopbackOnly is the test switch of RefuseNonLoopbackDials.
var loopbackOnly atomic.Bool

// RefuseNonLoopbackDials makes every upstream client from now on refuse to
// connect anywhere but loopback (127.0.0.0/8, ::1, localhost), with an
// error that says so, before any name is resolved. Unit tests call it from
// TestMain, so that a test that would reach a public registry fails at once
// and clearly instead of depending on the network. Never called in
// production, where it changes nothing.
func RefuseNonLoopbackDials() { loopbackOnly.Store(true) }

// ErrDialRefused is what a guarded dial outside loopback returns.
var ErrDialRefused = fmt.Errorf("unit tests never dial outside loopback (registries.RefuseNonLoopbackDials)")

// guardDial wraps dial with the loopback guard, when it is on.
func guardDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if loopbackOnly.Load() && !isLoopback(addr) {
			return nil, fmt.Errorf("dial %s %s: %w", network, addr, ErrDialRefused)
		}
		return dial(ctx, network, addr)
	}
}

// isLoopback reports whether host:port names a loopback address, without
// resolving anything but "localhost".
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
