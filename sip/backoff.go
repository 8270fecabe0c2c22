package sip

import (
	"math"
	"time"
)

// Backoff is a retransmission schedule: the first wait is T1, each next one
// doubles, capped at Cap when Cap > 0, and retransmission stops once the
// time since the first send reaches Total.
//
// RFC 3261 §17.1.1.2 (Timer A/B), §17.1.2.2 (Timer E/F) and §17.2.1 (Timer
// G/H) all give up at 64*T1; Timer A does not cap, Timers E and G cap at T2.
// RFC 3262 §3 retransmits a reliable provisional from T1, doubling without a
// cap, for 64*T1. RFC 3261 §13.3.1.4 retransmits a 2xx to INVITE from T1,
// doubling up to T2, for 64*T1: Cap = T2.
//
// Waits are relative to the previous send, so the caller re-arms one timer
// per retransmission with the value Next gives.
type Backoff struct{ T1, Cap, Total time.Duration }

// Next returns the wait before retransmission number n (n = 1 is the first
// retransmission, after the original send) and false when that
// retransmission would start at or after Total since the original send (the
// sender gives up at Total, so it is not sent). The wait is returned even
// when false; it is 0 for n < 1 or T1 <= 0, which never retransmit.
func (b Backoff) Next(n int) (time.Duration, bool) {
	if n < 1 || b.T1 <= 0 {
		return 0, false
	}
	wait := b.wait(n)
	if b.Total <= 0 {
		return wait, false
	}
	// start is when retransmission i-1 went out, relative to the original
	// send; it is below Total at the top of every iteration.
	var start time.Duration
	for i := 1; i <= n; i++ {
		wi := b.wait(i)
		if b.Cap > 0 && wi == b.Cap {
			// From here every wait is Cap: retransmission n starts at
			// start + (n-i+1)*Cap, which is before Total iff n-i+1 is
			// fewer than the Cap steps that fill what is left.
			left := b.Total - start
			steps := (left-1)/b.Cap + 1
			return wait, int64(n-i+1) < int64(steps)
		}
		// Without a cap the waits double, so this ends within 63 rounds.
		if wi >= b.Total-start {
			return wait, false
		}
		start += wi
	}
	return wait, true
}

// wait is the n-th wait (n >= 1): T1*2^(n-1), capped at Cap when Cap > 0,
// saturating instead of overflowing.
func (b Backoff) wait(n int) time.Duration {
	w := b.T1
	for i := 1; i < n; i++ {
		if b.Cap > 0 && w >= b.Cap {
			break
		}
		if w > math.MaxInt64/2 {
			w = math.MaxInt64
			break
		}
		w *= 2
	}
	if b.Cap > 0 && w > b.Cap {
		w = b.Cap
	}
	return w
}
