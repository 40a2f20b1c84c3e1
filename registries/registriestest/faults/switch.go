package faults

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Switch is a fake upstream's fault mode, and the listeners it closes and
// opens again as the mode asks: every host of one fake (PyPI's index and
// its files host) fails together. Its methods are safe for concurrent use.
//
// A fake's handler logs a request first, then asks Await how to answer it,
// so that a request parked by Hang is logged all the same.
type Switch struct {
	mu      sync.Mutex
	mode    Mode
	changed chan struct{} // closed and replaced on every Set
	done    chan struct{} // closed by Close
	closed  bool
	hosts   []*host
	delay   time.Duration // before every answer: a slow but alive upstream
}

type host struct {
	addr string // kept across Refuse
	h    http.Handler
	srv  *http.Server // nil while refusing or closed
	ln   net.Listener
}

// NewSwitch returns a Switch in mode Normal, with no listener yet.
func NewSwitch() *Switch {
	return &Switch{changed: make(chan struct{}), done: make(chan struct{})}
}

// Listen serves h on a free port of 127.0.0.1 and returns its address,
// which stays the same for the Switch's whole life, across Refuse. It
// panics if it cannot listen, as httptest.NewServer does.
func (s *Switch) Listen(h http.Handler) (addr string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("faults: cannot listen on 127.0.0.1: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := &host{addr: ln.Addr().String(), h: h}
	s.hosts = append(s.hosts, hs)
	if s.closed || s.mode == Refuse {
		ln.Close()
	} else {
		hs.serve(ln)
	}
	return hs.addr
}

func (h *host) serve(ln net.Listener) {
	h.srv = &http.Server{
		Handler:           h.h,
		ErrorLog:          log.New(io.Discard, "", 0),
		ReadHeaderTimeout: 30 * time.Second,
	}
	h.ln = ln
	go h.srv.Serve(ln) //nolint:errcheck // returns when closed
}

// stop closes the listener and every connection. The listener is closed
// here, not only by srv.Close, which misses it when Serve has not started
// yet: once stop returns, connections are refused.
func (h *host) stop() {
	if h.srv == nil {
		return
	}
	h.ln.Close()
	h.srv.Close()
	h.srv, h.ln = nil, nil
}

// relisten binds h's address again, retrying for a while in case the port
// is still being released.
func (h *host) relisten() {
	for deadline := time.Now().Add(2 * time.Second); ; {
		ln, err := net.Listen("tcp", h.addr)
		if err == nil {
			h.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("faults: cannot listen on %s again: %v", h.addr, err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Set switches to m. Entering Refuse closes every listener and
// connection; leaving it listens again on the same addresses (Set panics
// if one cannot be bound again within two seconds). Requests parked by
// Hang are released and answered in the new mode. Set does nothing after
// Close.
func (s *Switch) Set(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.mode = m
	for _, h := range s.hosts {
		if m == Refuse {
			h.stop() // idle keep-alive connections too
		} else if h.srv == nil {
			h.relisten()
		}
	}
	close(s.changed) // wakes parked Hang handlers
	s.changed = make(chan struct{})
}

// Mode returns the current mode.
func (s *Switch) Mode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

// Close closes every listener and connection and releases parked
// requests, without waiting for them. It may be called more than once.
func (s *Switch) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, h := range s.hosts {
		h.stop() // before waking parked handlers, so that none can answer
	}
	close(s.done)
}

// SetDelay makes every answer wait d before its response headers leave, as
// a slow but alive registry does; 0 (the default) answers at once. The wait
// adds to the mode's (Hang still waits for its change); a client that goes
// away, or Close, ends it.
func (s *Switch) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Await returns the mode to answer r in, parking r while the mode is Hang
// and then for the delay SetDelay set.
// It returns false when the Switch was closed, r raced with Set(Refuse),
// or r's client went away: the handler then drops the connection
// unanswered with panic(http.ErrAbortHandler) (returning would send an
// empty 200).
func (s *Switch) Await(r *http.Request) (Mode, bool) {
	for {
		s.mu.Lock()
		mode, changed, closed := s.mode, s.changed, s.closed
		s.mu.Unlock()
		if closed || mode == Refuse {
			return mode, false
		}
		if mode != Hang {
			return mode, s.awaitDelay(r)
		}
		select {
		case <-changed:
		case <-s.done:
			return mode, false
		case <-r.Context().Done():
			return mode, false
		}
	}
}

// Admit is Await for a fake's handler: it drops the connection unanswered
// when Await says so, answers 500 in mode Error500, and otherwise returns
// the mode to answer in and true.
func (s *Switch) Admit(w http.ResponseWriter, r *http.Request) (Mode, bool) {
	mode, ok := s.Await(r)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	if mode == Error500 {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return mode, false
	}
	return mode, true
}

func (s *Switch) awaitDelay(r *http.Request) bool {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
	case <-r.Context().Done():
	}
	return false
}

// Truncated answers 200 with the whole Content-Length of body but only its
// first half, then cuts the connection: Truncate. Headers set before stay.
func Truncated(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body[:len(body)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	panic(http.ErrAbortHandler) // closes the connection mid-body
}

// Flipped returns a copy of b with its last byte flipped: other bytes of
// the same length, for WrongDigest. An empty b gives one zero byte.
func Flipped(b []byte) []byte {
	if len(b) == 0 {
		return []byte{0}
	}
	out := append([]byte(nil), b...)
	out[len(out)-1] ^= 0xff
	return out
}
