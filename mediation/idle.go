package mediation

import "slices"

// idleWait is an action waiting for no INVITE exchange to be in progress
// in its leg's dialog (whenIdle).
type idleWait struct {
	l  *leg
	fn func()
}

// whenIdle runs fn on the call's goroutine once no INVITE exchange is in
// progress in l's dialog (inviteInProgress), which an INVITE of ours
// there must not cross (RFC 3261 §14.1): at once if none is, else right
// after the event that ends the last one (runIdle), not after RFC 3261
// §14.1's random wait, which is for resolving a 491, not for an exchange
// whose end we see. Every such exchange ends within its own timeout (an
// offer's or a refresh's 64*T1, a 2xx's wait for its ACK), so nothing
// waits for ever; once the call is ending, fn is dropped.
func (c *call) whenIdle(l *leg, fn func()) {
	if !c.inviteInProgress(l) {
		fn()
		return
	}
	x := c.extras()
	x.idle = append(x.idle, idleWait{l, fn})
}

// runIdle runs, after each event the call handles, the actions waiting
// for a dialog whose INVITE exchange has ended (whenIdle), in the order
// they came. An action may start an exchange itself: those waiting for
// the same dialog behind it then wait for that one's end.
func (c *call) runIdle() {
	x := c.extra
	if x == nil || len(x.idle) == 0 {
		return
	}
	for i := 0; i < len(x.idle); {
		if !c.live() {
			x.idle = nil
			return
		}
		w := x.idle[i]
		if c.inviteInProgress(w.l) {
			i++
			continue
		}
		x.idle = slices.Delete(x.idle, i, i+1)
		w.fn()
	}
}
