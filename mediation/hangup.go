package mediation

import (
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// Ending a call: whatever ends it (a refusal, CANCEL, BYE, a timeout, the
// media timeout, shutdown), the first cause wins, the legs that need it get
// a final response, CANCEL or BYE, and the call ends once they have an
// outcome or the ending deadline passed. The record is written once.

// maxByeWait bounds the wait for the answer to one BYE on one target; a
// peer that is gone must not hold up the end of a call (or of the server)
// for Timer F's 32 s.
const maxByeWait = 4 * time.Second

// byeWait is how long one BYE waits for its answer: 64*T1, at most
// maxByeWait.
func (c *call) byeWait() time.Duration { return min(c.deps.sip.Timeout(), maxByeWait) }

// failSetup answers the caller with se (unless it has a final response
// already) and ends the call: the callee's INVITE is cancelled.
func (c *call) failSetup(se setupError, hdrs ...gosip.Header) {
	if !c.live() {
		return
	}
	if se.code >= 400 {
		c.log.Info().Int("code", se.code).Str("reason", se.reason).Msg("call setup failed")
	}
	c.respondCaller(se.code, se.phrase, hdrs...)
	c.end(nil, se.reason)
}

// hangup ends an answered call with BYE on every leg but from (nil: both).
func (c *call) hangup(from *leg, reason string) {
	if !c.live() {
		return
	}
	c.end(from, reason)
}

// endForOffer ends the call for a re-offer (or its rollback) that left the
// peers without a session they agree on. An answered call is hung up with
// BYE on both legs, end reason why. One not answered yet (an offer in an
// early dialog: UPDATE) fails as a setup does: the caller's INVITE still
// wants its final response, se, with a Warning saying why, and se.reason
// is the documented failure reason it is counted under.
func (c *call) endForOffer(why string, se setupError) {
	if c.state != stateAnswered {
		c.failSetup(se, warning(c.caller.side, why))
		return
	}
	c.hangup(nil, why)
}

// end starts the end of the call for reason; from is the leg whose peer
// already ended its dialog (it gets no BYE).
func (c *call) end(from *leg, reason string) {
	if !c.live() {
		return
	}
	c.endReason = reason
	if err := c.setState(stateEnding); err != nil {
		return
	}
	c.endAfter = max(time.Since(c.start), time.Nanosecond) // > 0: ended
	a, b := c.caller, c.callee
	c.cancel(b.ringTimer)
	c.cancel(b.trying)
	c.cancel(a.timerID)
	c.cancel(b.timerID)
	c.stopReliable()
	if c.offer != nil {
		// RFC 3261 §15.1.2: a request pending in a dialog that ends gets
		// 487.
		c.abortOffer(487, "Request Terminated")
	}
	if from != nil {
		from.byeDone = true
	}
	if x := c.xfer; x != nil {
		// A transfer still ringing: its target is CANCELled as the
		// callee would be.
		c.dropXfer(x)
		c.abandonInvite(x.out, x.provisional, c.deps.edge, x.rel, x.early)
		x.plan.closeRelay()
		if e := c.legOf(c.deps.edge); !x.transferorGone && e != nil && e.dialog != nil {
			// The REFER's implicit subscription ends with the call (RFC
			// 6665 §4.2.2): the transferor learns the transfer will not
			// happen before its BYE comes.
			c.notifyTransfer(e, x, "SIP/2.0 487 Request Terminated", true, nil)
		}
	}
	switch {
	case b.inv == nil:
	case b.final == 0:
		// The callee's INVITE is CANCELled (at its first provisional if
		// none came yet: RFC 3261 §9.1); the call ends without waiting for
		// the callee's 487.
		c.abandonInvite(b.inv, b.provisional, b.side, b.rel, b.early)
		b.final = 487
	case b.final < 300 && from != &b.leg:
		c.bye(&b.leg)
	}
	if a.final() >= 200 && a.final() < 300 && from != &a.leg {
		c.bye(&a.leg)
	}
	for _, r := range c.releasedLegs() {
		// A transferor's leg still waiting for its final NOTIFY's answer
		// (transfer.go): it gets its BYE now, not never.
		c.releaseLeg(r)
	}
	deadline := 2*c.byeWait() + time.Second
	for _, l := range []*leg{&a.leg, &b.leg} {
		if l.ok != nil && l.ok.byeHeld {
			// Its BYE waits for the ACK of our 2xx, up to 64*T1.
			deadline = c.deps.sip.Timeout() + c.byeWait() + time.Second
		}
	}
	c.endingDeadline = c.after(deadline, func() {
		c.log.Warn().Int64("waited_ms", deadline.Milliseconds()).Msg("legs still unanswered at the end of the call")
		c.finish(c.endReason)
	})
	c.maybeFinish()
}

// bye sends BYE on l's dialog; a BYE that cannot be delivered (refused,
// timed out) is tried on the dialog's next target, then recorded as
// undelivered.
func (c *call) bye(l *leg) {
	if l.byeSent || l.dialog == nil {
		return
	}
	l.byeSent = true
	if ok := l.ok; ok != nil && !ok.byeHeld {
		// RFC 3261 §15: no BYE before the ACK of our 2xx, or before its
		// retransmissions give up (the 2xx goes on meanwhile, so a
		// caller whose copy was lost still gets one). Sent at once, it
		// could overtake the 2xx, and the caller would never be answered.
		ok.byeHeld = true
		send := func() {
			l.byeSent = false
			c.bye(l)
		}
		ok.onAck = func(*gosip.Request) { send() }
		ok.onGiveUp = send
		c.log.Debug().Str("leg", l.role).Msg("BYE held until the ACK of our 2xx")
		return
	}
	if l.ok != nil {
		c.stopResend(&l.ok.r)
		l.ok = nil
	}
	req := l.dialog.NewRequest(gosip.BYE, 0, nil, nil)
	for _, h := range clones(c.reason) {
		req.AppendHeader(h)
	}
	var o *outgoing
	var wait timerID
	fail := func(err error) {
		c.cancel(wait)
		if o != nil && c.resend(o) {
			c.log.Warn().Err(err).Str("leg", l.role).Str("side", l.side.Name).Msg("BYE not delivered; trying the next target")
			wait = c.after(c.byeWait(), func() { c.terminate(o); o.onFail(sip.ErrTimeout) })
			return
		}
		c.log.Warn().Err(err).Str("leg", l.role).Str("side", l.side.Name).Msg("BYE could not be delivered")
		c.undelivered = append(c.undelivered, l.side.Name)
		l.byeDone = true
		c.maybeFinish()
	}
	var err error
	o, err = c.sendIn(l, l.dialog, req, func(res *gosip.Response) {
		if res.IsProvisional() {
			return
		}
		c.cancel(wait)
		l.byeDone = true
		c.maybeFinish()
	}, fail)
	if err != nil {
		o = nil
		fail(err)
		return
	}
	l.bye = o
	wait = c.after(c.byeWait(), func() { c.terminate(o); o.onFail(sip.ErrTimeout) })
}

// maybeFinish ends an ending call once nothing is outstanding.
func (c *call) maybeFinish() {
	if c.state != stateEnding {
		return
	}
	a, b := c.caller, c.callee
	for _, l := range []*leg{&a.leg, &b.leg} {
		if l.byeSent && !l.byeDone {
			return
		}
	}
	for _, l := range c.releasedLegs() {
		if l.byeSent && !l.byeDone {
			return
		}
	}
	c.finish(c.endReason)
}

// finish releases everything the call holds and writes its record: the
// last thing a call does.
func (c *call) finish(reason string) {
	if c.state == stateEnded {
		return
	}
	answered := !c.answerTime.IsZero()
	if c.state < stateEnding {
		c.endReason = reason
	}
	c.state = stateEnded
	if c.endAfter == 0 {
		c.endAfter = max(time.Since(c.start), time.Nanosecond)
	}
	for _, l := range []*leg{&c.caller.leg, &c.callee.leg} {
		if l.ok != nil && l.ok.byeHeld && !l.byeDone {
			// Its BYE was still waiting for our 2xx's ACK: never sent.
			c.undelivered = append(c.undelivered, l.side.Name)
		}
	}
	c.stopTimers()
	c.unpinPeers()
	for _, x := range c.out {
		tx, o := x.tx, x.o
		switch {
		case o.final && o.req.IsInvite():
			// Its transaction still ACKs retransmissions of the final
			// response until Timer D; it ends by itself.
		case o.abandoned:
			// Left to the sink: its CANCEL (still due at the first
			// provisional if not sent), a late 2xx ACKed and hung up.
			if !o.canceled {
				c.sink.cancelOnProvisional(tx)
			}
		default:
			tx.Terminate()
		}
	}
	rec := c.record(reason)
	c.final = &rec
	c.media.closeRelay()
	if err := c.deps.records.write(rec); err != nil {
		c.log.Error().Err(err).Msg("call record not written")
	}
	m := c.deps.metrics
	if !rec.MediationServerBypass {
		m.observeLeg("edge", rec.EdgeLeg)
		m.observeLeg("gateway", rec.GatewayLeg)
	}
	c.deps.index.remove(c)
	dir := c.dir.String()
	m.callsCurrent.WithLabelValues(dir).Dec()
	if c.bypassCounted {
		m.bypassActive.WithLabelValues(dir).Dec()
	}
	if !answered {
		m.failedCalls.WithLabelValues(dir, reasonLabel(reason)).Inc()
	}
	c.deps.trunkMetrics.ended(c.trunk.Name, dir, answered)
	c.log.Info().Str("reason", reason).Bool("answered", answered).Bool("bypass", c.media.decision.bypass).
		Strs("bye_undelivered", c.undelivered).Int64("duration_ms", c.endAfter.Milliseconds()).Msg("call ended")
	c.done.close()
}

// record is the call's quality record.
func (c *call) record(reason string) Record {
	r := Record{
		CallID: c.id, Direction: c.dir.String(), From: c.from, To: c.to, Gateway: c.trunk.Name,
		StartTime: c.start, EndReason: reason,
		MediationServerBypass: c.media.decision.bypass,
		BypassReason:          c.media.decision.code,
		EdgeCallID:            c.caller.dialog.CallID,
		ByeUndelivered:        c.undelivered,
		GatewaysTried:         c.tried,
	}
	if c.endAfter > 0 { // else in progress: it has no end yet (r24-ops F7)
		r.EndTime = c.start.Add(c.endAfter)
	}
	r.GatewayCallID = c.callee.invCallID
	if d := c.callee.dialog; d != nil {
		r.GatewayCallID = d.CallID // the leg's own: a transfer's, after one
	}
	if c.dir == inbound {
		r.EdgeCallID, r.GatewayCallID = r.GatewayCallID, r.EdgeCallID
	}
	if !c.answerTime.IsZero() {
		t := c.answerTime
		r.AnswerTime = &t
	}
	r.EdgeLeg, r.GatewayLeg = c.media.legRecords()
	return r
}
