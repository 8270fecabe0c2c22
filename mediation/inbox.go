package mediation

import "sync"

// inboxCap bounds a call's queue: a peer flooding one call with requests
// cannot make the server hold an unbounded backlog for it.
const inboxCap = 1024

// inbox is a call's event queue. Pushing never blocks (the pusher is a
// socket's reading goroutine, which serves every call on that socket); the
// call's own goroutine takes the events in the order they were pushed.
type inbox struct {
	mu     sync.Mutex
	events []event
	wake   chan struct{}
	closed bool
}

func newInbox() *inbox { return &inbox{wake: make(chan struct{}, 1)} }

// push queues e; false when the call is over or its queue is full.
func (b *inbox) push(e event) bool {
	b.mu.Lock()
	if b.closed || len(b.events) >= inboxCap {
		b.mu.Unlock()
		return false
	}
	b.events = append(b.events, e)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns the queued events, oldest first, and empties the queue.
func (b *inbox) take() []event {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := b.events
	b.events = nil
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
