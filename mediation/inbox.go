package mediation

import "sync"

// inboxCap bounds a call's queue: a peer flooding one call with requests
// cannot make the server hold an unbounded backlog for it.
const inboxCap = 1024

// inbox is a call's event queue. Pushing never blocks (the pusher is a
// socket's reading goroutine, which serves every call on that socket). The
// events are taken in the order they were pushed by one goroutine at a
// time, started when events arrive and none is running, and gone when the
// queue is empty: a call that waits (most of a call's life) holds no
// goroutine and no stack, only its state. The goroutines are the server's
// workers (workers.go), which outlive one drain.
type inbox struct {
	mu     sync.Mutex
	events []event
	// drain takes the events (the call); nil until start. An interface,
	// not the method value c.run, nor workers.run held as one: each would
	// be a small object of its own for the call's whole life.
	drain drainer
	// workers run drain.
	workers *workers
	// running: a drain goroutine is at work (or about to be).
	running bool
	closed  bool
}

// start arms the inbox with its drain, run by w, and runs it for the
// events already queued: a call starts taking events only once it is
// registered.
func (b *inbox) start(drain drainer, w *workers) {
	b.mu.Lock()
	b.drain, b.workers = drain, w
	run := len(b.events) > 0 && !b.running && !b.closed
	if run {
		b.running = true
	}
	b.mu.Unlock()
	if run {
		w.run(drain)
	}
}

// push queues e; false when the call is over or its queue is full.
func (b *inbox) push(e event) bool {
	b.mu.Lock()
	if b.closed || len(b.events) >= inboxCap {
		b.mu.Unlock()
		return false
	}
	b.events = append(b.events, e)
	run := !b.running && b.drain != nil
	if run {
		b.running = true
	}
	b.mu.Unlock()
	if run {
		b.workers.run(b.drain)
	}
	return true
}

// take returns the queued events, oldest first, and empties the queue.
// None means the drain is to return: the next push starts another.
func (b *inbox) take() []event {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := b.events
	b.events = nil
	if len(ev) == 0 {
		b.running = false
	}
	return ev
}

// close refuses further events and returns those still queued.
func (b *inbox) close() []event {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	ev := b.events
	b.events = nil
	return ev
}
