package registries

import (
	"context"
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
