package front

import (
	"net/http"
	"sync"
	"time"
)

// handlerWorkers runs handlers on goroutines that outlive a request. A
// fresh goroutine starts with a small stack, and larder's handler chain
// (router, log, registry, store) grows it on every request: in profiles
// that copying cost about a tenth of a cache hit. Idle workers are kept
// most recent first, so the busy ones stay warm, and leave after
// workerIdleTime without work, so a burst does not leave its goroutines
// behind.
type handlerWorkers struct {
	run func(*frontWriter, *http.Request)

	mu     sync.Mutex
	idle   []*handlerWorker // most recently idle last
	closed bool
	stop   chan struct{}
}

type handlerWorker struct {
	jobs      chan handlerJob
	idleSince time.Time
}

type handlerJob struct {
	w *frontWriter
	r *http.Request
}

const workerIdleTime = 10 * time.Second

func newHandlerWorkers(run func(*frontWriter, *http.Request)) *handlerWorkers {
	p := &handlerWorkers{run: run, stop: make(chan struct{})}
	go p.retire()
	return p
}

// start runs the handler for w and r on an idle worker, or a new one.
func (p *handlerWorkers) start(w *frontWriter, r *http.Request) {
	p.mu.Lock()
	var wk *handlerWorker
	if n := len(p.idle); n > 0 {
		wk = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
	}
	p.mu.Unlock()
	if wk == nil {
		wk = &handlerWorker{jobs: make(chan handlerJob, 1)}
		go p.work(wk)
	}
	wk.jobs <- handlerJob{w, r}
}

func (p *handlerWorkers) work(wk *handlerWorker) {
	for job := range wk.jobs {
		p.run(job.w, job.r)
		wk.idleSince = time.Now()
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, wk)
		p.mu.Unlock()
	}
}

// retire ends the workers idle for longer than workerIdleTime, until
// close.
func (p *handlerWorkers) retire() {
	tick := time.NewTicker(workerIdleTime / 2)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			p.mu.Lock()
			n := 0 // the idle list is oldest first
			for n < len(p.idle) && now.Sub(p.idle[n].idleSince) > workerIdleTime {
				close(p.idle[n].jobs)
				n++
			}
			p.idle = append(p.idle[:0], p.idle[n:]...)
			p.mu.Unlock()
		}
	}
}

// close ends the idle workers and the retiring; busy workers end when
// their handler returns and they find no more work.
func (p *handlerWorkers) close() {
	close(p.stop)
	p.mu.Lock()
	p.closed = true
	for _, wk := range p.idle {
		close(wk.jobs)
	}
	p.idle = nil
	p.mu.Unlock()
}
