package mediation

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// Session timers (RFC 4028), per leg: on a leg where we are the refresher
// we send a refresh (UPDATE if the peer allows it, else a re-INVITE with
// the SDP the leg already has) at half the interval; on a leg where the
// peer refreshes, a refresh that does not come in time ends the call with
// BYE on both legs; one that came in time and still waits for the other
// leg's answer decides when that answer is in (expiryDue).

// armSessionTimer (re)starts l's session timer for its negotiated timer.
func (c *call) armSessionTimer(l *leg) {
	c.cancel(l.timerID)
	l.refreshBy, l.refreshTries = 0, 0 // a new interval: a refresh still to retry is moot
	l.timerID = 0
	l.expiryDue = false // a 2xx to the peer's refresh pending at the expiry: refreshed
	if !l.timer.Active || c.state != stateAnswered {
		return
	}
	if l.timer.WeRefresh {
		l.timerID = c.after(l.timer.RefreshAfter(), func() { c.refresh(l) })
		return
	}
	l.timerID = c.after(l.timer.ExpireAfter(), func() {
		if c.peerRefreshPending(l) {
			// RFC 4028 §10: BYE only if no refresh request came before
			// the expiry. This one came, and waits for the other leg's
			// answer: our final response to it decides
			// (expireAfterRefresh).
			l.expiryDue = true
			c.log.Info().Str("leg", l.role).Int64("interval_s", int64(l.timer.Interval/time.Second)).
				Msg("session timer expired with the peer's refresh pending: its outcome decides")
			return
		}
		c.log.Warn().Str("leg", l.role).Int64("interval_s", int64(l.timer.Interval/time.Second)).
			Msg("session timer expired: no refresh from the peer")
		c.hangup(nil, "session timer expired")
	})
}

// peerRefreshPending tells whether a re-INVITE or UPDATE of l's peer is
// waiting for our final response: its offer, relayed to the other leg,
// waits for that peer's answer. Any such request refreshes the session
// once it gets our 2xx (RFC 4028 §10 counts every re-INVITE and UPDATE
// in the dialog); the others are answered at once (a refresh without
// SDP, an unchanged offer, a 491), never pending.
func (c *call) peerRefreshPending(l *leg) bool {
	return c.offersOf(l) && c.offer.in != nil
}

// expireAfterRefresh ends the call whose session expired while its peer's
// refresh was pending (l.expiryDue), once that refresh has had a final
// response that is not a 2xx (RFC 4028: a refresh that fails does not
// refresh): the session expired meanwhile. A 2xx re-arms the timer and
// clears expiryDue (armSessionTimer). It runs after each event of the
// call, so that whichever path answers the refresh (the far side's
// refusal relayed, a CANCEL, an answer we cannot use, ...) is covered.
func (c *call) expireAfterRefresh() {
	for _, l := range [2]*leg{&c.caller.leg, &c.callee.leg} {
		if !l.expiryDue || c.peerRefreshPending(l) {
			continue
		}
		l.expiryDue = false
		if c.state != stateAnswered {
			return // ending already
		}
		c.log.Warn().Str("leg", l.role).Int64("interval_s", int64(l.timer.Interval/time.Second)).
			Msg("session timer expired: the peer's refresh pending at the expiry failed")
		c.hangup(nil, "session timer expired")
		return
	}
}

// refresh sends a session refresh on l.
func (c *call) refresh(l *leg) {
	if c.state != stateAnswered {
		return
	}
	reinvite := !l.dialog.Allows(gosip.UPDATE)
	if c.inviteInProgress(l) || reinvite && c.repointAwaits(l) {
		// An offer is in progress, or a transfer's re-point re-INVITE
		// (repointGateway), in flight or waiting to go: it refreshes the
		// session when it completes (RFC 4028 §7.4). Try again shortly
		// in any case.
		l.timerID = c.after(4*c.deps.sip.T1, func() { c.refresh(l) })
		return
	}
	method := gosip.UPDATE
	var body []byte
	if reinvite {
		method, body = gosip.INVITE, c.sendLegSDP(l)
	}
	interval := l.timer.Interval
	contact := l.dialog.OurContact()
	req := l.dialog.NewRequest(method, 0, body, &contact)
	req.AppendHeader(sip.OptionHeader("Supported", l.supported()...))
	for _, h := range sip.RequestHeaders(interval, l.policy.SessionTimer.Min()) {
		req.AppendHeader(h)
	}
	// The session expires refreshBy, a whole interval after the last
	// refresh, unless a refresh succeeds first; a retry (after 491, 500,
	// ...) keeps the first attempt's deadline. RFC 4028 §10's margin of
	// min(32 s, a third) is for the side that does not refresh: it ends
	// the session slightly before it expires, whereas for the refresher
	// a refresh that succeeds before the expiry keeps the session.
	if l.refreshBy == 0 {
		l.refreshBy = time.Now().Add(l.timer.Interval - l.timer.RefreshAfter()).UnixNano()
	}
	expire := c.after(time.Until(time.Unix(0, l.refreshBy)), func() {
		c.log.Warn().Str("leg", l.role).Msg("session refresh not answered in time")
		c.hangup(nil, "session refresh failed")
	})
	l.refreshExpire = expire
	var ack *gosip.Request
	l.refreshing = method == gosip.INVITE
	// The dialog the refresh went in: a transfer may give the leg another
	// one before the answer comes (dropRefresh); the answer is then that
	// old dialog's alone.
	d := l.dialog
	// Stale: the leg has another dialog now, or its own was ended under
	// the refresh (the transferor hung up: dropRefresh).
	stale := func() bool { return l.dialog != d || l.refreshExpire != expire }
	_, err := c.sendIn(l, d, req, func(res *gosip.Response) {
		if res.IsProvisional() {
			return
		}
		stale := stale()
		if !stale {
			l.refreshing = false
		}
		switch {
		case res.IsSuccess() && method == gosip.INVITE:
			if c.ackReinvite(d, req, res, &ack) && !stale {
				l.lastAck = ack
			}
		case res.IsSuccess():
			d.Refresh(res) // an UPDATE is a target refresh too (RFC 3311 §5.2)
		}
		if c.state != stateAnswered || stale {
			return
		}
		c.cancel(expire)
		switch {
		case res.IsSuccess():
			l.refreshBy = 0
			if t := sip.NegotiateUAC(res, interval); t.Active {
				l.timer = t
			}
			c.armSessionTimer(l)
			if method == gosip.INVITE {
				// The peer may answer our unchanged SDP with a changed
				// one (a new address, hold): it binds (RFC 3264 §8).
				c.peerAnswered(l, res.Body())
			}
		case res.StatusCode == 481 || res.StatusCode == 408:
			c.hangup(nil, "session refresh failed")
		case method == gosip.UPDATE && sip.RefusesMethod(res, gosip.UPDATE):
			// The peer does not do UPDATE after all, whatever its Allow
			// said (405 without UPDATE in the 405's Allow, 501): a
			// re-INVITE refreshes as well (RFC 4028 §7.4, §10), at once
			// and for the rest of the dialog.
			d.NoUpdate = true
			c.log.Info().Int("code", res.StatusCode).Str("leg", l.role).Msg("session refresh by UPDATE refused as a method the peer does not do: refreshing by re-INVITE")
			c.refresh(l)
		default:
			if min, ok, _ := sip.ParseMinSE(res); res.StatusCode == 422 && ok && min > interval && l.refreshTries < maxQuickRefreshes {
				// RFC 4028 §7.4: again at once with the interval asked
				// for, a few times (a peer whose Min-SE keeps growing
				// gets the backed-off retries below).
				l.refreshTries++
				l.timer.Interval = min
				c.refresh(l)
				return
			}
			c.retryRefresh(l, res)
		}
	}, func(err error) {
		if stale() {
			return
		}
		l.refreshing = false
		c.cancel(expire)
		c.log.Warn().Err(err).Str("leg", l.role).Msg("session refresh got no answer")
		c.hangup(nil, "session refresh failed")
	})
	if err != nil {
		l.refreshing = false
		c.cancel(expire)
		c.log.Warn().Err(err).Str("leg", l.role).Msg("session refresh not sent")
		c.hangup(nil, "session refresh failed")
	}
}

// repointAwaits tells whether l is the PSTN party's leg with a transfer's
// re-point re-INVITE waiting to go there (repointGateway): for the end of
// an exchange in its dialog, or after a 491 for RFC 3261 §14.1's wait. A
// refresh re-INVITE of ours must not go meanwhile: it would be the
// re-point's offer sent again ahead of that wait, to glare again, and the
// re-point, once answered, refreshes the session itself (RFC 4028 §7.4).
// The re-point is bounded (maxRepointGlare tries, each within its 64*T1
// and a wait of at most maxRepointRetryAfter): then the call goes on
// refreshed, or ends (transfer_failed). A refresh by UPDATE, which carries
// no SDP and crosses no INVITE (RFC 3311 §5.1), need not wait.
func (c *call) repointAwaits(l *leg) bool {
	return c.repointing && l == c.legOf(c.deps.gw)
}

// maxQuickRefreshes bounds the refreshes sent again at once for a 422
// with a larger Min-SE within one refresh cycle.
const maxQuickRefreshes = 3

// glareWait is how long to wait before sending again an INVITE in l's
// dialog that got 491 (RFC 3261 §14.1): 2.1 to 4 s when we own the
// dialog's Call-ID (we sent the INVITE that made it: the callee's leg, or
// a transfer target's that took a leg's place), 0 to 2 s otherwise, in
// steps of 10 ms. A test may set it (SIPConfig.glareWait).
func (c *call) glareWait(l *leg) time.Duration {
	if w := c.deps.sip.glareWait; w > 0 {
		return w
	}
	if l.dialog != nil && l.dialog.UAC {
		return 2100*time.Millisecond + time.Duration(rand.IntN(191))*10*time.Millisecond
	}
	return time.Duration(rand.IntN(201)) * 10 * time.Millisecond
}

// afterGlare runs try once an INVITE of ours in l's dialog that met 491
// may go again: after wait (glareWait's, which the caller has logged),
// then after another glareWait each time busy says an exchange crossing
// ours is still in progress; never once the call has ended.
func (c *call) afterGlare(l *leg, wait time.Duration, busy func() bool, try func()) {
	var retry func()
	retry = func() {
		switch {
		case !c.live():
		case busy():
			c.after(c.glareWait(l), retry)
		default:
			try()
		}
	}
	c.after(wait, retry)
}

// retryRefresh sends the refresh again after a failure response res that
// leaves the session up (RFC 4028 §10: only a timeout, 408 or 481 ends
// it): after 491 at the random wait of RFC 3261 §14.1 (2.1-4 s when we
// own the dialog's Call-ID, 0-2 s otherwise), after a Retry-After its
// delay, else 4*T1 (a 422 without a larger Min-SE among them: not again at
// once). A 491's wait is cut to half the time left before the session
// expires, when that is shorter (not below the 4*T1 floor), so that the
// retry goes out and has time to be answered. A retry that would come too
// late all the same ends the call when the session expires.
func (c *call) retryRefresh(l *leg, res *gosip.Response) {
	l.refreshTries++
	wait := 4 * c.deps.sip.T1
	switch ra := res.GetHeader("Retry-After"); {
	case res.StatusCode == 491:
		wait = c.glareWait(l)
	case ra != nil:
		if n, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(ra.Value(), ";", 2)[0])); err == nil && n >= 0 {
			wait = time.Duration(n) * time.Second
		}
	}
	// Never sooner than 4*T1, doubling with each retry (a peer answering
	// Retry-After: 0 for ever got thousands of refreshes a second).
	floor := 4 * c.deps.sip.T1 << min(l.refreshTries-1, 6)
	wait = max(wait, floor)
	left := time.Until(time.Unix(0, l.refreshBy))
	if res.StatusCode == 491 && wait > left/2 {
		// RFC 3261 §14.1's wait spreads out two peers that would glare
		// again; a retry after the expiry spreads nothing out, the call
		// ends first. With short intervals (lab min_se) the wait can be
		// longer than what is left: half of that leaves the retry time
		// to be answered, and another 491 time for another retry.
		wait = max(left/2, floor)
	}
	ev := c.log.Debug()
	if l.refreshTries == 1 {
		ev = c.log.Warn() // at most once a refresh cycle (quick 422 retries count too)
	}
	ev.Int("code", res.StatusCode).Str("leg", l.role).Int64("retry_in_ms", wait.Milliseconds()).
		Int64("expires_in_ms", left.Milliseconds()).Msg("session refresh refused: trying again")
	if wait >= left {
		l.timerID = c.after(left, func() { c.hangup(nil, "session refresh failed") })
		return
	}
	l.timerID = c.after(wait, func() { c.refresh(l) })
}

// dropRefresh forgets l's session refresh cycle, for a leg whose dialog a
// transfer ends or replaces: a refresh in flight there, refused (481) or
// unanswered, must not end the call that goes on without that dialog.
func (c *call) dropRefresh(l *leg) {
	c.cancel(l.timerID)
	c.cancel(l.refreshExpire)
	l.refreshExpire = 0 // the answer of a refresh in flight is stale
	l.refreshing, l.refreshBy, l.refreshTries = false, 0, 0
	l.expiryDue = false // that dialog's expiry is moot too
}
