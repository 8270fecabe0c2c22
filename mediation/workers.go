package mediation

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdle is how long an idle worker waits for more work before it
// exits: long enough to carry a steady call rate, short enough that a burst
// does not leave hundreds of goroutines behind.
const workerIdle = 2 * time.Second

// workers runs the calls' event drains (inbox.start/push) on goroutines
// that outlive one drain. A drain goes deep (the call's handlers, sipgo's
// transactions, the socket write) and a new goroutine starts on a small
// stack: at 800 calls/s growing and copying those stacks cost about 6 % of
// the daemon's CPU (runtime.newstack in a CPU profile). A worker that has
// grown its stack keeps it for the next drain, as fasthttp's worker pool
// does. There is no cap on the number of workers: a drain may block on a
// slow TCP peer, and a capped pool would make every other call wait for it.
//
// Each drain still runs alone for its call (the inbox's running flag), so
// a call's state keeps one owner at a time.
type workers struct {
	// work hands a drain to an idle worker; unbuffered, so a send succeeds
	// only when one is waiting.
	work chan drainer
	quit chan struct{}
	idle time.Duration
	// waiting counts the idle workers; started, the workers ever started.
	waiting, started atomic.Int64
	// mu orders starting a worker (wg.Add) before close's wg.Wait.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newWorkers(idle time.Duration) *workers {
	return &workers{work: make(chan drainer), quit: make(chan struct{}), idle: idle}
}

// drainer is what a worker runs: a call's event drain (call.run).
type drainer interface{ run() }

// run runs f on an idle worker, or on a new one when none is idle. After
// close, f runs on a goroutine of its own that ends with it.
func (w *workers) run(f drainer) {
	select {
	case w.work <- f:
		return
	default:
	}
	w.mu.Lock()
	closed := w.closed
	if !closed {
		w.wg.Add(1)
		w.started.Add(1)
	}
	w.mu.Unlock()
	if closed {
		go f.run()
		return
	}
	go w.loop(f)
}

func (w *workers) loop(f drainer) {
	defer w.wg.Done()
	t := time.NewTimer(w.idle)
	defer t.Stop()
	for {
		f.run()
		t.Reset(w.idle)
		w.waiting.Add(1)
		select {
		case f = <-w.work:
			w.waiting.Add(-1)
		case <-t.C:
			w.waiting.Add(-1)
			return
		case <-w.quit:
			w.waiting.Add(-1)
			return
		}
	}
}

// close makes idle workers exit and waits, at most timeout, for the busy
// ones to finish their drain (one blocked on a dead TCP peer must not hold
// up the server's exit).
func (w *workers) close(timeout time.Duration) {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.quit)
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}
