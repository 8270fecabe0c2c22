package mediation

import (
	"slices"
	"time"

	"github.com/mediation-emulator/mediation/sip"
)

// A call's timers fire as events on its own queue, so that a timer and a
// message of the call are never handled at the same time. A timer cancelled
// after it fired but before its event was taken does nothing.

type timerID uint64

// evTimer is a timer that fired.
type evTimer struct {
	id   timerID
	fire func()
}

// armedTimer is one of the call's timers not yet fired nor cancelled.
type armedTimer struct {
	id timerID
	t  *time.Timer
}

// after runs fire on the call's goroutine after d, unless cancelled.
func (c *call) after(d time.Duration, fire func()) timerID {
	c.nextTimer++
	id := c.nextTimer
	c.timers = append(c.timers, armedTimer{id, time.AfterFunc(d, func() { c.box.push(evTimer{id: id, fire: fire}) })})
	return id
}

// disarm forgets timer id and reports whether it was armed.
func (c *call) disarm(id timerID) (*time.Timer, bool) {
	for i, a := range c.timers {
		if a.id == id {
			c.timers = inline(slices.Delete(c.timers, i, i+1), c.firstTimers[:])
			return a.t, true
		}
	}
	return nil, false
}

// inline moves s back into first, the array in the call's allocation
// it started in, once it fits there again: a set-up that needed more does
// not leave the call holding a larger array of its own.
func inline[T any](s, first []T) []T {
	if cap(s) <= len(first) || len(s) > len(first) {
		return s
	}
	clear(first)
	return first[:copy(first, s)]
}

// cancel stops a timer; 0 is no timer.
func (c *call) cancel(id timerID) {
	if t, ok := c.disarm(id); ok {
		t.Stop()
	}
}

// onTimer runs a fired timer that is still wanted.
func (c *call) onTimer(ev evTimer) {
	if _, ok := c.disarm(ev.id); ok {
		ev.fire()
	}
}

// stopTimers stops every timer of an ended call.
func (c *call) stopTimers() {
	for _, a := range c.timers {
		a.t.Stop()
	}
	clear(c.timers)
	c.timers = c.timers[:0]
}

// resend is the state of something of ours retransmitted until answered
// (our 2xx until the ACK, a reliable 18x until its PRACK).
type resend struct {
	n       int
	timer   timerID
	stopped bool
}

// resendUntil retransmits with send on an unreliable transport, first
// after b.T1 and doubling (capped at b.Cap), until stopResend; giveUp runs
// when b.Total has passed. Over a reliable transport nothing is resent:
// only the wait is bounded.
func (c *call) resendUntil(r *resend, b sip.Backoff, reliable bool, send func(), giveUp func()) {
	r.n++
	wait, more := b.Next(r.n)
	if reliable || !more {
		r.timer = c.after(remaining(b, r.n), func() {
			if !r.stopped {
				r.stopped = true
				giveUp()
			}
		})
		return
	}
	r.timer = c.after(wait, func() {
		if r.stopped {
			return
		}
		send()
		c.resendUntil(r, b, reliable, send, giveUp)
	})
}

// stopResend ends a retransmission: its answer came or it is moot.
func (c *call) stopResend(r *resend) {
	r.stopped = true
	c.cancel(r.timer)
}

// remaining is how long after retransmission n-1 the sender gives up.
func remaining(b sip.Backoff, n int) time.Duration {
	var spent time.Duration
	for i := 1; i < n; i++ {
		w, _ := b.Next(i)
		spent += w
	}
	if left := b.Total - spent; left > 0 {
		return left
	}
	return 0
}
