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
