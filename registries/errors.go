package registries

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
)

// ErrNotFound: the upstream says the thing does not exist (404, 410).
var ErrNotFound = errors.New("not found upstream")

// ErrNotCached: the thing was never cached and the upstream cannot be asked,
// because larder is offline or the upstream is down.
var ErrNotCached = errors.New("not cached")

// ErrIntegrity: the upstream's bytes do not match the digest its own
// document declared. Nothing was stored.
var ErrIntegrity = errors.New("integrity check failed")

// ErrBadRequest: the request itself is malformed (a Host header net/http
// would refuse). A 400.
var ErrBadRequest = errors.New("bad request")

// ErrTooLarge: an upstream document or artifact exceeds its size bound.
var ErrTooLarge = errors.New("too large")

// UpstreamError is a failed exchange with the upstream, with the status a
// client should see (502 or 504).
type UpstreamError struct {
	Upstream string // host, for the message
	Status   int
	// Answered is the status the upstream answered with when it was one
	// larder does not expect (a 401, a 403, a 5xx); 0 when the exchange
	// itself failed. An ecosystem tells by it a side file the upstream
	// refuses from one it failed to serve.
	Answered int
	Err      error
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("upstream %s: %v", e.Upstream, e.Err)
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// StatusOf maps an error from this package to the HTTP status a client
// should get. Ecosystems shape the body; the status is decided here, once.
func StatusOf(err error) int {
	var ue *UpstreamError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.As(err, new(*HeldBackError)):
		return http.StatusForbidden
	case errors.As(err, &ue):
		return ue.Status
	case errors.Is(err, ErrNotCached):
		// 404 lets clients fall through and report "not found", which is
		// the truth from where they stand; the message says why.
		return http.StatusNotFound
	case errors.Is(err, ErrIntegrity), errors.Is(err, ErrTooLarge):
		return http.StatusBadGateway
	case errors.Is(err, context.Canceled):
		return 499 // the client went away; nobody reads this
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// larder's own disk, not the upstream and not a bug: clients
		// retry a 5xx, and an operator reads this one at a glance.
		return http.StatusInsufficientStorage
	default:
		return http.StatusInternalServerError
	}
}

// upstreamErr classifies a transport error: time-outs are 504, the rest 502.
func upstreamErr(host string, err error) error {
	status := http.StatusBadGateway
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errIdle) || errors.Is(err, errConnectTimeout) || (errors.As(err, &ne) && ne.Timeout()) {
		status = http.StatusGatewayTimeout
	}
	return &UpstreamError{Upstream: host, Status: status, Err: err}
}
