package registries

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestIdleBodyCutsAStalledBody(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	cancelled := make(chan struct{})
	var once sync.Once
	cancel := func() {
		once.Do(func() { close(cancelled) })
		// What cancelling a request's context does to its body.
		pw.CloseWithError(context.Canceled)
	}
	b := newIdleBody(pr, 50*time.Millisecond, cancel)
	defer b.Close()
	go pw.Write([]byte("first bytes"))

	err := within(t, "reading a stalled body", func() error {
		_, err := io.ReadAll(b)
		return err
	})
	if !errors.Is(err, errIdle) {
		t.Fatalf("reading a stalled body: %v, want an idle time-out", err)
	}
	if StatusOf(upstreamErr("x", err)) != http.StatusGatewayTimeout {
		t.Errorf("an idle time-out maps to %d, want 504", StatusOf(upstreamErr("x", err)))
	}
	select {
	case <-cancelled:
	default:
		t.Errorf("the request was not cancelled")
	}
}

func TestIdleBodyLetsASteadyBodyThrough(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	b := newIdleBody(pr, 2*time.Second, func() { pw.CloseWithError(context.Canceled) })
	defer b.Close()
	// Twelve bytes 200ms apart: longer in all than the idle time-out, never
	// idle for as long.
	go func() {
		for range 12 {
			time.Sleep(200 * time.Millisecond)
			if _, err := pw.Write([]byte("x")); err != nil {
				return
			}
		}
		pw.Close()
	}()
	res := within(t, "reading a steady body", func() readResult {
		b, err := io.ReadAll(b)
		return readResult{b, err}
	})
	got, err := res.b, res.err
	if err != nil || string(got) != strings.Repeat("x", 12) {
		t.Errorf("ReadAll = %q, %v; want all twelve bytes", got, err)
	}
}

func TestIdleBodyCloseCancelsTheRequest(t *testing.T) {
	t.Parallel()
	pr, _ := io.Pipe()
	cancelled := false
	b := newIdleBody(pr, time.Hour, func() { cancelled = true })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !cancelled {
		t.Errorf("Close did not cancel the request")
	}
}

type readResult struct {
	b   []byte
	err error
}
