package registries

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every way an upstream can fail (issue 12) is recorded by its health, is
// answered with the status the client should see, and costs no more than
// the time-out configured for it.

// failFast are the time-outs of these tests: small, so that each failure
// costs a fraction of a second.
const failFast = 300 * time.Millisecond

// failBound is how long one failure may take to reach the client: many
// times failFast, so that a loaded machine passes, yet below the default
// connect time-out (5 s) and far below the minute that Go's transport waits
// for a proxy's answer to CONNECT, or the defaults of the response and idle
// time-outs (15 s, 30 s), any of which would show here.
const failBound = 4 * time.Second

// failingOptions are o with quick probes. Time-outs o leaves zero are the
// test environment's generous ones: a failure that owes nothing to a
// time-out must not be turned into one by a loaded machine (a TLS handshake
// under the race detector can take longer than failFast).
func failingOptions(o Options) Options {
	o.ProbeInterval = 20 * time.Millisecond
	if o.FailuresToDown == 0 {
		o.FailuresToDown = 3
	}
	return o
}

// leftPadAt is leftPad on an upstream that is not a fakeUpstream.
func leftPadAt(base string) DocRequest {
	return DocRequest{
		Key: "left-pad", Variant: "full", Package: "left-pad",
		URL: base + "left-pad", Accept: "application/json", Prepare: asIs,
	}
}

// healthWatch records every change of an upstream's health, in order.
type healthWatch struct {
	mu      sync.Mutex
	changes []HealthState
	changed chan struct{} // signalled after each change
}

// watchHealth records u's changes of health from now on. Call it before
// the first request: it replaces the callback, which nothing reads yet.
func watchHealth(u *Upstream) *healthWatch {
	w := &healthWatch{changed: make(chan struct{}, 1)}
	next := u.health.onChange
	u.health.onChange = func(from, to HealthState) {
		w.mu.Lock()
		w.changes = append(w.changes, to)
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
		next(from, to)
	}
	return w
}

func (w *healthWatch) seen() []HealthState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]HealthState(nil), w.changes...)
}

// waitFor waits until the health has gone to status, at most limit, and
// returns that state.
func (w *healthWatch) waitFor(t *testing.T, status HealthStatus, limit time.Duration) HealthState {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		for _, st := range w.seen() {
			if st.Status == status {
				return st
			}
		}
		select {
		case <-w.changed:
		case <-deadline.C:
			t.Fatalf("the upstream did not go %s within %s; it went through %v", status, limit, statuses(w.seen()))
		}
	}
}

func statuses(sts []HealthState) []HealthStatus {
	var out []HealthStatus
	for _, st := range sts {
		out = append(out, st.Status)
	}
	return out
}

// rawUpstream accepts connections on 127.0.0.1 and hands each to serve,
// which should return when done is closed. It returns the listener's
// address; everything stops when the test ends.
func rawUpstream(t *testing.T, serve func(c net.Conn, done <-chan struct{})) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c, done)
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// readRequest reads one HTTP request's head from c.
func readRequest(c net.Conn) (*http.Request, error) {
	return http.ReadRequest(bufio.NewReader(c))
}

// resetAfterRequest reads the request, then resets the connection (RST,
// not FIN): SO_LINGER 0, then close.
func resetAfterRequest(c net.Conn, _ <-chan struct{}) {
	if _, err := readRequest(c); err != nil {
		c.Close()
		return
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
}

// notTLS answers a TLS client hello with bytes that are not TLS, then
// waits.
func notTLS(c net.Conn, done <-chan struct{}) {
	defer c.Close()
	buf := make([]byte, 512)
	if _, err := c.Read(buf); err != nil {
		return
	}
	io.WriteString(c, "garbage, not a TLS record\r\n")
	<-done
}

// silentProxy is an HTTP proxy that accepts connections, reads the CONNECT
// request and never answers it, as a hung corporate proxy does.
type silentProxy struct {
	addr    string
	mu      sync.Mutex
	targets []string // the CONNECT requests it read, host:port
}

func newSilentProxy(t *testing.T) *silentProxy {
	p := &silentProxy{}
	p.addr = rawUpstream(t, func(c net.Conn, done <-chan struct{}) {
		defer c.Close()
		req, err := readRequest(c)
		if err != nil {
			return
		}
		if req.Method == http.MethodConnect {
			p.mu.Lock()
			p.targets = append(p.targets, req.Host)
			p.mu.Unlock()
		}
		<-done
	})
	return p
}

func (p *silentProxy) connects() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// transportOf is the transport newClient built for u. Tests may change it
// before u's first request, and only then.
func transportOf(t *testing.T, u *Upstream) *http.Transport {
	t.Helper()
	cb, ok := u.client.Transport.(connectBound)
	if !ok {
		t.Fatalf("the upstream client's transport is a %T, not connectBound", u.client.Transport)
	}
	tr, ok := cb.rt.(*http.Transport)
	if !ok {
		t.Fatalf("connectBound wraps a %T, not *http.Transport", cb.rt)
	}
	return tr
}

// throughProxy sends u's requests through the proxy at addr. Production
// takes the proxy from HTTPS_PROXY, but http.ProxyFromEnvironment reads the
// environment once per process, so t.Setenv cannot set it for one test;
// the transport's Proxy field, which ProxyFromEnvironment fills, is set
// here instead.
func throughProxy(t *testing.T, u *Upstream, addr string) {
	t.Helper()
	transportOf(t, u).Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
}

// withNXDOMAIN makes u's name look-ups fail as a resolver fails a name
// under .invalid (RFC 6761): every query is answered NXDOMAIN, by a
// resolver in the process. The system's resolver would send the query to
// whatever /etc/resolv.conf names (Go does not answer .invalid itself), and
// a machine without one would turn the failure into a time-out.
func withNXDOMAIN(t *testing.T, u *Upstream) {
	t.Helper()
	d := &net.Dialer{Timeout: u.opts.ConnectTimeout, KeepAlive: 30 * time.Second, Resolver: &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			go answerNXDOMAIN(server)
			return client, nil
		},
	}}
	transportOf(t, u).DialContext = d.DialContext
}

// answerNXDOMAIN answers each DNS query on c (TCP framing: a 2-byte length,
// then the message) with the query itself, flagged a response whose code
// is NXDOMAIN.
func answerNXDOMAIN(c net.Conn) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, msg); err != nil || len(msg) < 12 {
			return
		}
		msg[2] |= 0x80       // QR: a response
		msg[3] = 0x80 | 0x03 // RA, and RCODE 3: NXDOMAIN
		if _, err := c.Write(append(n[:], msg...)); err != nil {
			return
		}
	}
}

// untrustedTLS is an https upstream whose certificate the client does not
// trust.
func untrustedTLS(t *testing.T) string {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // its handshake errors are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// stallOptions bound a stalled body by failFast. The probe, which reads
// the base URL's body to the end, is bounded by ConnectTimeout +
// ResponseTimeout: short too, so that the probes that mark a stalling
// upstream down take a second, not fifteen.
var stallOptions = Options{IdleTimeout: failFast, ConnectTimeout: 500 * time.Millisecond, ResponseTimeout: 500 * time.Millisecond}

// failureMode is one way an upstream fails.
type failureMode struct {
	name string
	// opts sets the time-out this failure must be bounded by to failFast;
	// the others stay long, so that neither they nor the fill's own
	// deadline (ResponseTimeout + 10 IdleTimeout) could hide one that does
	// not work.
	opts Options
	// upstream sets up the failing upstream and returns its base URL; setup,
	// if set, adjusts the link before its first request.
	upstream   func(t *testing.T) (base string, setup func(t *testing.T, u *Upstream))
	wantStatus int
	wantCause  string // in the client's message and the first recorded error
}

func failureModes() []failureMode {
	fake := func(handler func(f *fakeUpstream) http.Handler) func(t *testing.T) (string, func(*testing.T, *Upstream)) {
		return func(t *testing.T) (string, func(*testing.T, *Upstream)) {
			f := newFakeUpstream(t)
			// The probe asks the base URL: it fails as the document does.
			f.handle("/", handler(f))
			f.handle("/left-pad", handler(f))
			return f.URL("/"), nil
		}
	}
	raw := func(scheme string, serve func(net.Conn, <-chan struct{})) func(t *testing.T) (string, func(*testing.T, *Upstream)) {
		return func(t *testing.T) (string, func(*testing.T, *Upstream)) {
			return scheme + "://" + rawUpstream(t, serve) + "/", nil
		}
	}
	return []failureMode{
		{"a refused connection is a 502", Options{}, func(t *testing.T) (string, func(*testing.T, *Upstream)) {
			return refusedURL(t), nil
		}, http.StatusBadGateway, "connection refused"},
		{"a connection reset after the request is a 502", Options{}, raw("http", resetAfterRequest), http.StatusBadGateway, "reset"},
		{"a host name that does not resolve is a 502", Options{}, func(t *testing.T) (string, func(*testing.T, *Upstream)) {
			return "http://larder-upstream.invalid/", withNXDOMAIN
		}, http.StatusBadGateway, "no such host"},
		{"a certificate the client does not trust is a 502", Options{}, func(t *testing.T) (string, func(*testing.T, *Upstream)) {
			return untrustedTLS(t), nil
		}, http.StatusBadGateway, "certificate"},
		{"an https upstream that does not speak TLS is a 502", Options{}, raw("https", notTLS), http.StatusBadGateway, "TLS handshake"},
		{"a proxy that never answers CONNECT is a 504 within the connect time-out", Options{ConnectTimeout: failFast}, func(t *testing.T) (string, func(*testing.T, *Upstream)) {
			p := newSilentProxy(t)
			return "https://registry.example/", func(t *testing.T, u *Upstream) {
				throughProxy(t, u, p.addr)
				t.Cleanup(func() {
					if cs := p.connects(); len(cs) == 0 || cs[0] != "registry.example:443" {
						t.Errorf("the proxy was asked to CONNECT to %v, want registry.example:443", cs)
					}
				})
			}
		}, http.StatusGatewayTimeout, "connect time-out"},
		{"no response headers within the response time-out is a 504", Options{ResponseTimeout: failFast}, fake(func(f *fakeUpstream) http.Handler {
			return f.hangHandler()
		}), http.StatusGatewayTimeout, "timeout awaiting response headers"},
		{"a body that stalls past the idle time-out is a 504", stallOptions, fake(func(f *fakeUpstream) http.Handler {
			return f.stallingHandler([]byte(`{"name":"left-pad","versions":{}}`))
		}), http.StatusGatewayTimeout, "idle time-out"},
		{"a 5xx is a 502", Options{}, fake(func(*fakeUpstream) http.Handler {
			return statusHandler(http.StatusServiceUnavailable)
		}), http.StatusBadGateway, "503"},
	}
}

func TestEveryWayAnUpstreamFailsIsRecordedAnsweredAndBounded(t *testing.T) {
	t.Parallel()
	for _, m := range failureModes() {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			base, setup := m.upstream(t)
			u := e.upstream(t, base, failingOptions(m.opts))
			if setup != nil {
				setup(t, u)
			}
			watch := watchHealth(u)
			req := leftPadAt(base)

			start := time.Now()
			res := within(t, "Document from a failing upstream", func() docResult {
				d, err := u.Document(context.Background(), req)
				return docResult{d, err}
			})
			took := time.Since(start)

			t.Run("the client gets the status and cause, in bounded time", func(t *testing.T) {
				var ue *UpstreamError
				if !errors.As(res.err, &ue) {
					t.Fatalf("Document = %v, %v; want an *UpstreamError", res.doc.Status, res.err)
				}
				if StatusOf(res.err) != m.wantStatus {
					t.Errorf("status %d, want %d (%v)", StatusOf(res.err), m.wantStatus, res.err)
				}
				msg := ErrorMessage(res.err)
				if host, _ := url.Parse(base); !strings.Contains(msg, host.Host) || !strings.Contains(msg, m.wantCause) {
					t.Errorf("message %q does not name the upstream %s and the cause %q", msg, host.Host, m.wantCause)
				}
				if took > failBound {
					t.Errorf("the failure took %s with time-outs of %s", took, failFast)
				}
				assertNotCached(t, u, req)
			})
			t.Run("one failure makes the upstream suspect, with the error", func(t *testing.T) {
				sts := watch.seen()
				if len(sts) == 0 {
					t.Fatalf("the failure changed nothing: %+v", u.Health().State())
				}
				if first := sts[0]; first.Status != StatusSuspect || !strings.Contains(first.LastError, m.wantCause) || first.LastErrAt.IsZero() {
					t.Errorf("first change to %+v, want suspect with an error naming %q", first, m.wantCause)
				}
				if st := u.Health().State(); st.Up || st.LastError == "" {
					t.Errorf("after the failure the state is %+v", st)
				}
			})
			t.Run("the probes fail alike and FailuresToDown failures make it down", func(t *testing.T) {
				// The client's failure and two probes: each costs failFast
				// at most.
				st := watch.waitFor(t, StatusDown, failBound+2*failBound)
				if st.DownSince.IsZero() || st.LastError == "" {
					t.Errorf("down as %+v, without since when or why", st)
				}
				if got := statuses(watch.seen()); len(got) < 2 || got[0] != StatusSuspect || got[1] != StatusDown {
					t.Errorf("went through %v, want suspect then down", got)
				}
			})
		})
	}
}

// An artifact whose body stalls counts as a failure like a document's.
func TestAStalledArtifactIsRecordedAnsweredAndBounded(t *testing.T) {
	t.Parallel()
	x := newArtifactFixture(t, failingOptions(stallOptions))
	watch := watchHealth(x.u)
	good := randomBytes(smallSize, 12)
	x.f.handle(tarballUpstream, x.f.stallingHandler(good))
	x.f.handle("/", x.f.stallingHandler([]byte(`{"db_name":"registry"}`)))
	x.announce(t, good)

	start := time.Now()
	got := x.get(t, http.MethodGet, nil)
	took := time.Since(start)
	if got.resp == nil || got.resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("got %v (%v, %q), want a 504", got.resp, got.readErr, got.body)
	}
	if msg := string(got.body); !strings.Contains(msg, "idle time-out") {
		t.Errorf("message %q does not say the upstream stalled", msg)
	}
	if took > failBound {
		t.Errorf("the failure took %s with an idle time-out of %s", took, failFast)
	}
	if sts := watch.seen(); len(sts) == 0 || sts[0].Status != StatusSuspect || !strings.Contains(sts[0].LastError, "idle time-out") {
		t.Errorf("went through %+v, want suspect first, for the stalled body", sts)
	}
	watch.waitFor(t, StatusDown, 3*failBound)
	x.assertNothingStored(t)
}
