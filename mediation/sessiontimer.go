package mediation

import (
	"context"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// Session timers (RFC 4028), per leg: on a leg where we are the refresher
// we send a refresh (UPDATE if the peer allows it, else a re-INVITE with
// the SDP the leg already has) at half the interval; on a leg where the
// peer refreshes, a refresh that does not come in time ends the call with
// BYE on both legs.

// armSessionTimer (re)starts l's session timer for its negotiated timer.
func (c *call) armSessionTimer(l *leg) {
	c.cancel(l.timerID)
	l.timerID = 0
	if !l.timer.Active || c.state != stateAnswered {
		return
	}
	if l.timer.WeRefresh {
		l.timerID = c.after(l.timer.RefreshAfter(), func() { c.refresh(l) })
		return
	}
	l.timerID = c.after(l.timer.ExpireAfter(), func() {
		c.log.Warn().Str("leg", l.role).Int64("interval_s", int64(l.timer.Interval/time.Second)).
			Msg("session timer expired: no refresh from the peer")
		c.hangup(nil, "session timer expired")
	})
}

// refresh sends a session refresh on l.
func (c *call) refresh(l *leg) {
	if c.state != stateAnswered {
		return
	}
	if c.offer != nil || l.ok != nil {
		// An offer is in progress; it refreshes the session when it
		// completes. Try again shortly in any case.
		l.timerID = c.after(4*c.deps.sip.T1, func() { c.refresh(l) })
		return
	}
	method := gosip.UPDATE
	var body []byte
	if !l.dialog.Allows(gosip.UPDATE) {
		method, body = gosip.INVITE, c.legSDP(l)
	}
	interval := l.timer.Interval
	contact := l.side.Contact(l.dialog.Transport)
	req := l.dialog.NewRequest(method, 0, body, &contact)
	req.AppendHeader(sip.OptionHeader("Supported", l.supported()...))
	for _, h := range sip.RequestHeaders(interval, l.policy.SessionTimer.Min()) {
		req.AppendHeader(h)
	}
	expire := c.after(l.timer.ExpireAfter()-l.timer.RefreshAfter(), func() {
		c.log.Warn().Str("leg", l.role).Msg("session refresh not answered in time")
		c.hangup(nil, "session refresh failed")
	})
	var acked bool
	var ack *gosip.Request
	_, err := c.sendIn(l, l.dialog, req, func(res *gosip.Response) {
		if res.IsProvisional() {
			return
		}
		if res.IsSuccess() {
			l.dialog.Refresh(res) // the new target, before the ACK is built (RFC 3261 §13.2.2.4)
		}
		if res.IsSuccess() && method == gosip.INVITE {
			if !acked {
				acked = true
				ack, _ = l.dialog.Ack(context.Background(), req.CSeq().SeqNo, nil)
				l.lastAck = ack
			} else if ack != nil {
				_ = l.dialog.WriteAck(context.Background(), ack)
			}
		}
		if c.state != stateAnswered {
			return
		}
		c.cancel(expire)
		switch {
		case res.IsSuccess():
			if t := sip.NegotiateUAC(res, interval); t.Active {
				l.timer = t
			}
			c.armSessionTimer(l)
		case res.StatusCode == 422:
			if min, ok, _ := sip.ParseMinSE(res); ok && min > interval {
				l.timer.Interval = min
			}
			c.refresh(l)
		case res.StatusCode == 481 || res.StatusCode == 408:
			c.hangup(nil, "session refresh failed")
		default:
			// RFC 4028 §10: the session is still up until it expires; keep
			// trying at the refresh interval.
			c.log.Warn().Int("code", res.StatusCode).Str("leg", l.role).Msg("session refresh refused")
			l.timerID = c.after(l.timer.ExpireAfter()-l.timer.RefreshAfter(), func() { c.hangup(nil, "session refresh failed") })
		}
	}, func(err error) {
		c.cancel(expire)
		c.log.Warn().Err(err).Str("leg", l.role).Msg("session refresh got no answer")
		c.hangup(nil, "session refresh failed")
	})
	if err != nil {
		c.cancel(expire)
		c.log.Warn().Err(err).Str("leg", l.role).Msg("session refresh not sent")
		c.hangup(nil, "session refresh failed")
	}
}
