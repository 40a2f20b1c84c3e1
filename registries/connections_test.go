package registries

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A cold install asks for many documents at once: larder opens at most
// MaxConnections to the upstream, and a request waiting its turn is not
// taken for an upstream that cannot be reached.
func TestConnectionsToAnUpstreamAreBoundedAndWaitingIsNotAFailure(t *testing.T) {
	t.Parallel()
	var open, most atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"name":"x"}`)
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			n := open.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	e := newTestEnv(t)
	// A connect time-out far shorter than the wait for a free connection.
	u := e.upstream(t, srv.URL+"/", Options{MaxConnections: 2, ConnectTimeout: 200 * time.Millisecond})

	const requests = 8
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := u.Document(context.Background(), DocRequest{Key: fmt.Sprint("doc-", i), Variant: "v", URL: fmt.Sprintf("%s/doc-%d", srv.URL, i),
				Prepare: func(b []byte, ct string) (Prepared, error) { return Prepared{Body: b, ContentType: ct}, nil }})
			errs <- err
		}()
	}
	time.Sleep(600 * time.Millisecond) // three connect time-outs, while most requests queue
	close(release)
	within(t, "the requests", func() bool { wg.Wait(); return true })
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a request waiting for a connection failed: %v", err)
		}
	}
	if m := most.Load(); m > 2 {
		t.Errorf("%d connections open at once, want at most 2", m)
	}
	if st := u.Health().State(); st.Status != StatusUp {
		t.Errorf("the upstream is %s (%s) after requests waited their turn", st.Status, st.LastError)
	}
}

// A dial outlives the request that started it (net/http keeps it going for
// the next request), and a proxy's CONNECT that is never answered is given
// a minute by net/http itself: without more, each connect time-out behind a
// hung proxy would hold one of MaxConnections for that minute, and the
// requests after it would queue, their wait not counted against the
// connect time-out, long after the client should have had its stale copy
// or its 504.
func TestAConnectTimeOutFreesItsConnectionForTheNextRequest(t *testing.T) {
	t.Parallel()
	p := newSilentProxy(t)
	e := newTestEnv(t)
	u := e.upstream(t, "https://registry.example/", Options{MaxConnections: 1, ConnectTimeout: failFast})
	throughProxy(t, u, p.addr)
	for i := range 3 {
		start := time.Now()
		err := within(t, "a request through the hung proxy", func() error {
			req, _ := http.NewRequest(http.MethodGet, "https://registry.example/left-pad", nil)
			resp, err := u.client.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		})
		if !errors.Is(err, errConnectTimeout) {
			t.Fatalf("request %d through a proxy that never answers CONNECT = %v; want the connect time-out", i+1, err)
		}
		if took := time.Since(start); took > failBound {
			t.Fatalf("request %d took %s with a connect time-out of %s: it waited for the connection an earlier one's dial still held", i+1, took, failFast)
		}
	}
	// Health probes may have asked too.
	if n := len(p.connects()); n < 3 {
		t.Errorf("the proxy was asked to CONNECT %d times; want one a request at least", n)
	}
}
