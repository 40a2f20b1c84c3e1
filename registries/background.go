package registries

import (
	"context"
	"sync"
	"time"

	"github.com/panjf2000/ants/v2"
	"golang.org/x/sync/singleflight"
)

// background runs the work a request starts and does not wait on itself
// (a download, the document loaded beside it, what follows a kept
// artifact) on goroutines that outlive a task. A new goroutine starts on a
// small stack, and that work grows it deep into net/http and SQLite: on
// cold installs, copying those stacks was about 7% of larder's CPU.
// Idle goroutines leave after backgroundIdleTime, so a burst does not
// leave them behind.
var background = sync.OnceValue(func() *ants.Pool {
	p, err := ants.NewPool(-1, // unbounded, as the go statements it stands for
		ants.WithExpiryDuration(backgroundIdleTime),
		// ants recovers a task's panic by default; larder's goroutines do
		// not, and a panic must not leave a fill's clients waiting.
		ants.WithPanicHandler(func(v any) { panic(v) }))
	if err != nil {
		panic(err) // only for invalid options
	}
	return p
})

const backgroundIdleTime = 10 * time.Second

// goBackground runs task on a background goroutine.
func goBackground(task func()) {
	if background().Submit(task) != nil {
		go task() // the pool is never released: not expected
	}
}

// goTracked runs task on a background goroutine that Close stops (through
// ctx) and waits for, as for a download; not once Close has begun.
func (u *Upstream) goTracked(task func(ctx context.Context)) {
	u.fills.mu.Lock()
	tracked := u.fills.track()
	u.fills.mu.Unlock()
	if !tracked {
		return
	}
	goBackground(func() {
		defer u.fills.running.Done()
		task(u.fills.ctx)
	})
}

// GoTracked runs task in the background as larder runs a download: Close
// cancels its ctx and waits for it. Once Close has begun, task does not run.
func (u *Upstream) GoTracked(task func(ctx context.Context)) { u.goTracked(task) }

// doChan is singleflight's DoChan with the flight's function run on a
// background goroutine.
func doChan(g *singleflight.Group, key string, fn func() (any, error)) <-chan singleflight.Result {
	ch := make(chan singleflight.Result, 1)
	goBackground(func() {
		v, err, shared := g.Do(key, fn)
		ch <- singleflight.Result{Val: v, Err: err, Shared: shared}
	})
	return ch
}
