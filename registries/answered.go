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
	committing map[string]chan struct{} // by docFlightKey, closed at the commit's end
	bodies     map[storage.Digest]*pendingBody
	n          atomic.Int32 // len(committing), read without the lock
}

type pendingBody struct {
	bytes   []byte
	holders int
}

// pendingGrace is how long a body answered but not kept stays readable: its
// caller, answered before the commit failed, may still be rendering it.
const pendingGrace = time.Minute

// begin marks key as committing, with body (when not nil) readable under
// d until the returned end is called: at once when the commit succeeded,
// pendingGrace later when it failed.
func (a *answeredDocs) begin(key string, d storage.Digest, body []byte) (end func(failed bool)) {
	done := make(chan struct{})
	a.mu.Lock()
	if a.committing == nil {
		a.committing, a.bodies = map[string]chan struct{}{}, map[storage.Digest]*pendingBody{}
	}
	a.committing[key] = done
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
