package registries

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// answeredDocs are the documents answered before their rows commit (see
// DocumentToAnswer). Until a commit ends, the database has neither the
// row nor the body: Body reads the body here, and a request for the
// document waits for the end, then looks again, exactly as if the commit
// had come before the answer. A body is counted once per document holding
// it, since two documents may have the same one.
type answeredDocs struct {
	mu         sync.Mutex
	committing map[string]chan struct{}    // by docFlightKey, closed at the commit's end
	answers    map[string]storage.Document // by docFlightKey, the row answered
	bodies     map[storage.Digest]*pendingBody
	n          atomic.Int32  // len(committing), read without the lock
	handed     chan struct{} // closed, and replaced, when an answer is handed over
}

type pendingBody struct {
	bytes   []byte
	holders int
}

// pendingGrace is how long a body answered but not kept stays readable: its
// caller, answered before the commit failed, may still be rendering it.
const pendingGrace = time.Minute

// begin marks key as committing the row answered as doc, with body (when
// not nil) readable under doc.Body until the returned end is called: at
// once when the commit succeeded, pendingGrace later when it failed.
func (a *answeredDocs) begin(key string, doc storage.Document, body []byte) (end func(failed bool)) {
	d := doc.Body
	done := make(chan struct{})
	a.mu.Lock()
	if a.committing == nil {
		a.committing, a.answers, a.bodies = map[string]chan struct{}{}, map[string]storage.Document{}, map[storage.Digest]*pendingBody{}
	}
	a.committing[key] = done
	a.answers[key] = doc
	a.n.Store(int32(len(a.committing)))
	if body != nil {
		e := a.bodies[d]
		if e == nil {
			e = &pendingBody{bytes: body}
			a.bodies[d] = e
		}
		e.holders++
	}
	a.mu.Unlock()
	return func(failed bool) {
		a.mu.Lock()
		delete(a.committing, key)
		delete(a.answers, key)
		a.n.Store(int32(len(a.committing)))
		a.mu.Unlock()
		close(done)
		if body == nil {
			return
		}
		if failed {
			time.AfterFunc(pendingGrace, func() { a.release(d) })
		} else {
			a.release(d)
		}
	}
}

func (a *answeredDocs) release(d storage.Digest) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.bodies[d]; e != nil {
		if e.holders--; e.holders == 0 {
			delete(a.bodies, d)
		}
	}
}

// wait returns once key is not committing, or ctx ends.
func (a *answeredDocs) wait(ctx context.Context, key string) error {
	if a.n.Load() == 0 {
		return nil
	}
	a.mu.Lock()
	done := a.committing[key]
	a.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// answer is the row answered under key while it commits.
func (a *answeredDocs) answer(key string) (storage.Document, bool) {
	if a.n.Load() == 0 {
		return storage.Document{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := a.answers[key]
	return d, ok
}

// body is a body answered and not yet committed.
func (a *answeredDocs) body(d storage.Digest) ([]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.bodies[d]
	if e == nil {
		return nil, false
	}
	return e.bytes, true
}

// nextHandover is closed once the next answer is handed over before its
// commit: a caller that joined a flight wakes to take the copy the flight
// answered (answer), not only at the flight's end. One channel serves
// every key: few callers wait on it, and only while they wait for a flight.
func (a *answeredDocs) nextHandover() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handed == nil {
		a.handed = make(chan struct{})
	}
	return a.handed
}

// handedOver wakes the callers of nextHandover; it comes after begin.
func (a *answeredDocs) handedOver() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handed != nil {
		close(a.handed)
		a.handed = nil
	}
}
