package capture

import (
	"sync"
	"sync/atomic"
)

// queue hands packets from the SIP and RTP paths to a writer goroutine
// without blocking them: when the writer falls behind, packets are dropped
// and counted.
type queue struct {
	ch      chan Packet
	dropped atomic.Uint64
	mu      sync.Mutex // held while sending, so close does not race a send
	closed  bool
}

func newQueue() *queue { return &queue{ch: make(chan Packet, queueLen)} }

func (q *queue) put(p Packet) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	select {
	case q.ch <- p:
	default:
		q.dropped.Add(1)
	}
}

// close ends the writer's range over ch once it has drained it.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}
