package registries

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

func TestStatusOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"no error is 200", nil, http.StatusOK},
		{"not found upstream is 404", fmt.Errorf("lodash: %w", ErrNotFound), http.StatusNotFound},
		{"not cached is 404, so that clients fall through", fmt.Errorf("%w: offline", ErrNotCached), http.StatusNotFound},
		{"an upstream time-out keeps its 504", fmt.Errorf("fetching: %w", &UpstreamError{Upstream: "x", Status: 504, Err: errors.New("slow")}), http.StatusGatewayTimeout},
		{"a refused upstream keeps its 502", &UpstreamError{Upstream: "x", Status: 502, Err: errors.New("refused")}, http.StatusBadGateway},
		{"an integrity failure is 502", fmt.Errorf("a.tgz: %w", ErrIntegrity), http.StatusBadGateway},
		{"an oversized upstream answer is 502", fmt.Errorf("%w: big", ErrTooLarge), http.StatusBadGateway},
		{"a client that went away is 499", context.Canceled, 499},
		{"anything else is 500", errors.New("disk full"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StatusOf(tt.err); got != tt.want {
				t.Errorf("StatusOf(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestUpstreamErrClassifiesTransportErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"a deadline is a time-out", context.DeadlineExceeded, http.StatusGatewayTimeout},
		{"an idle body is a time-out", fmt.Errorf("reading: %w", errIdle), http.StatusGatewayTimeout},
		{"a net.Error that timed out is a time-out", &url.Error{Op: "Get", URL: "http://x/", Err: timeoutErr{}}, http.StatusGatewayTimeout},
		{"a refused connection is a bad gateway", &url.Error{Op: "Get", URL: "http://x/", Err: syscall.ECONNREFUSED}, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := upstreamErr("registry.example", tt.err)
			var ue *UpstreamError
			if !errors.As(err, &ue) {
				t.Fatalf("upstreamErr gave %T, want *UpstreamError", err)
			}
			if ue.Status != tt.want || StatusOf(err) != tt.want {
				t.Errorf("status %d (StatusOf %d), want %d", ue.Status, StatusOf(err), tt.want)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("the cause is not kept: %v", err)
			}
			if msg := ErrorMessage(err); msg == "" || !strings.Contains(msg, "registry.example") {
				t.Errorf("message %q does not name the upstream", msg)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestSameHost(t *testing.T) {
	t.Parallel()
	parse := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://registry.npmjs.org/", "https://registry.npmjs.org/lodash/-/lodash-1.0.0.tgz", true},
		{"https://registry.npmjs.org/", "http://registry.npmjs.org/", false},
		{"https://registry.npmjs.org/", "https://registry.npmjs.org:8443/", false},
		{"https://registry.npmjs.org/", "https://evil.example/", false},
	}
	for _, tt := range tests {
		if got := SameHost(parse(tt.a), parse(tt.b)); got != tt.want {
			t.Errorf("SameHost(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
