package mediation

import (
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

// after runs fire on the call's goroutine after d, unless cancelled.
func (c *call) after(d time.Duration, fire func()) timerID {
	c.nextTimer++
	id := c.nextTimer
	c.timers[id] = time.AfterFunc(d, func() { c.box.push(evTimer{id: id, fire: fire}) })
	return id
}

// cancel stops a timer; 0 is no timer.
func (c *call) cancel(id timerID) {
	if t, ok := c.timers[id]; ok {
		t.Stop()
		delete(c.timers, id)
	}
}

// onTimer runs a fired timer that is still wanted.
func (c *call) onTimer(ev evTimer) {
	if _, ok := c.timers[ev.id]; !ok {
		return
	}
	delete(c.timers, ev.id)
	ev.fire()
}

// stopTimers stops every timer of an ended call.
func (c *call) stopTimers() {
	for id, t := range c.timers {
		t.Stop()
		delete(c.timers, id)
	}
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
