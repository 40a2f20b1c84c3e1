package registries

import (
	"sync"
	"time"
)

// latency estimates how long the upstream takes to answer (to its response
// headers), so that a slow but alive upstream does not cost every client
// request the whole stale wait: when the estimate is over the budget, stale
// documents are answered at once and refreshed behind the client's back.
//
// The estimate is the first answer's time, then a moving average that
// weighs each new answer by half. A
// request still waiting counts too: one that has waited longer than the
// budget is proof enough, before it has answered at all, and so is a client
// that waited the budget out on one (waitedOut): its wait began before the
// request was sent, so the request's own clock may be a little short.
type latency struct {
	mu       sync.Mutex
	average  time.Duration
	measured bool // average holds at least one answer
	inFlight map[uint64]time.Time
	next     uint64
	// overdue is set by waitedOut and stands until an answer gives a
	// measure, or the requests in flight have all failed.
	overdue bool
}

// begin records a request sent upstream; call end with its id once its
// headers arrive, and forget if it failed without an answer.
func (l *latency) begin(now time.Time) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight == nil {
		l.inFlight = map[uint64]time.Time{}
	}
	l.next++
	l.inFlight[l.next] = now
	return l.next
}

func (l *latency) end(id uint64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start, ok := l.inFlight[id]
	if !ok {
		return
	}
	delete(l.inFlight, id)
	l.overdue = false
	took := now.Sub(start)
	if !l.measured {
		// The first answer is all there is to go by; averaging it with
		// nothing would halve a slow upstream's first 3 s into 1.5 s.
		l.average, l.measured = took, true
		return
	}
	l.average = (l.average + took) / 2
}

func (l *latency) forget(id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.inFlight, id)
	if len(l.inFlight) == 0 {
		l.overdue = false
	}
}

// waitedOut records that a client waited the whole budget out, at now, for
// an answer still outstanding. Only a request that has itself waited most
// of the budget is taken for the one it waited on: one sent a moment ago
// is another's.
func (l *latency) waitedOut(budget time.Duration, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, start := range l.inFlight {
		if now.Sub(start) > budget/2 {
			l.overdue = true
			return
		}
	}
}

// over reports whether the upstream is answering slower than budget.
func (l *latency) over(budget time.Duration, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.overdue || l.average > budget {
		return true
	}
	for _, start := range l.inFlight {
		if now.Sub(start) > budget {
			return true
		}
	}
	return false
}

// estimate returns the moving average, for the UI and logs.
func (l *latency) estimate() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.average
}
