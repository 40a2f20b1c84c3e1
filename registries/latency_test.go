package registries

import (
	"testing"
	"time"
)

func TestLatencyEstimate(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	budget := 2 * time.Second
	var l latency
	if l.over(budget, t0) {
		t.Fatal("an upstream never asked is slow")
	}
	// A request in flight past the budget is proof before it answers.
	id := l.begin(t0)
	if l.over(budget, t0.Add(time.Second)) || !l.over(budget, t0.Add(3*time.Second)) {
		t.Error("a request waiting 3 s of a 2 s budget does not make the upstream slow, or one waiting 1 s does")
	}
	// The first answer alone decides: 3 s is slow, not averaged with nothing.
	l.end(id, t0.Add(3*time.Second))
	if !l.over(budget, t0.Add(3*time.Second)) {
		t.Errorf("after one 3 s answer the estimate is %s, not over %s", l.estimate(), budget)
	}
	// One fast answer halves it back under the budget.
	id = l.begin(t0)
	l.end(id, t0.Add(10*time.Millisecond))
	if l.over(budget, t0.Add(time.Minute)) {
		t.Errorf("after a fast answer the estimate is %s, still over %s", l.estimate(), budget)
	}
	// A request that failed without an answer is forgotten, not waited on.
	id = l.begin(t0)
	l.forget(id)
	if l.over(budget, t0.Add(time.Hour)) {
		t.Error("a forgotten request still counts as in flight")
	}
}

// A client's stale wait starts before the request it waits on is sent
// (the flight reads its cached copy first), so when the wait runs out the
// request itself may be a little short of the budget: the client that
// waited it out is the proof, not the request's own clock.
func TestLatencyAClientThatWaitedTheBudgetOutMakesTheUpstreamSlow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	budget := 2 * time.Second
	var l latency
	l.waitedOut(budget, t0.Add(budget)) // nothing in flight: it says nothing
	if l.over(budget, t0.Add(budget)) {
		t.Error("a wait run out with nothing in flight made the upstream slow")
	}
	// A request sent a moment ago is not the one the client waited on.
	fresh := l.begin(t0.Add(budget - time.Millisecond))
	l.waitedOut(budget, t0.Add(budget))
	if l.over(budget, t0.Add(budget)) {
		t.Error("a wait run out while only a request sent 1 ms ago is in flight made the upstream slow")
	}
	l.forget(fresh)
	id := l.begin(t0.Add(5 * time.Millisecond))
	l.waitedOut(budget, t0.Add(budget))
	if !l.over(budget, t0.Add(budget)) {
		t.Error("the request in flight is 5 ms short of the budget a client waited out, and the upstream is not slow")
	}
	// Its answer replaces the proof with a measure: a fast one clears it.
	l.end(id, t0.Add(budget+5*time.Millisecond))
	id = l.begin(t0)
	l.end(id, t0.Add(time.Millisecond))
	id = l.begin(t0)
	l.end(id, t0.Add(time.Millisecond))
	if l.over(budget, t0.Add(time.Hour)) {
		t.Errorf("after fast answers the estimate is %s and the upstream still slow", l.estimate())
	}
	// A request that failed without an answer takes its proof along.
	id = l.begin(t0)
	l.waitedOut(budget, t0.Add(budget))
	l.forget(id)
	if l.over(budget, t0.Add(time.Hour)) {
		t.Error("a wait run out on a request that then failed still makes the upstream slow")
	}
}
