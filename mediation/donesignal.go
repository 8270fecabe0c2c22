package mediation

import "sync"

// doneSignal is a channel closed once something is over, made only when
// someone waits for it: a call's end is waited for by an admin hang-up,
// not by most calls (a query does not wait on it: see call.query), and a
// channel is a small object
// (112 bytes) that every call would hold for its whole life, in a size
// class the set-up's garbage churns (README "Performance").
type doneSignal struct {
	mu     sync.Mutex
	ch     chan struct{}
	closed bool
}

// wait is the channel, closed once close has been called.
func (d *doneSignal) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
		if d.closed {
			close(d.ch)
		}
	}
	return d.ch
}

// close marks it over and wakes the waiters; once only.
func (d *doneSignal) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	if d.ch != nil {
		close(d.ch)
	}
}
