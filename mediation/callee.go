package mediation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// The callee's leg: we are the UAC of the INVITE we send the other side.

// calleeLeg is the INVITE we sent and the dialogs it created.
type calleeLeg struct {
	leg
	// inv is our INVITE in flight, its req nil once the call has settled
	// (settle.go); invSeq and invCallID are its CSeq and Call-ID.
	inv    *outgoing
	invSeq uint32
	// provisional: the callee sent a 1xx (a CANCEL may now go out);
	// retried422: our INVITE was sent again after a 422. Beside invSeq,
	// in the word it leaves half empty.
	provisional, retried422 bool
	invCallID               string
	// final is the status of the callee's final response, 0 for none.
	final int
	// early are the early dialogs by the callee's tag (forks); dialog (in
	// leg) is the one of the latest 18x, then the one the 2xx confirmed.
	early map[string]*sip.Dialog
	rel   sip.ReliableReceivers
	// reliableAnswers are the callee's tags of the early dialogs in which
	// it answered our INVITE's offer in a reliable 18x.
	reliableAnswers []string
	// ack is the ACK of the 2xx, sent again for a retransmitted 2xx.
	ack *gosip.Request
	// requestedSE is the session interval our INVITE asked for (0: none).
	requestedSE time.Duration
	ringTimer   timerID
	trying      timerID
}

// inviteCallee sends the callee our INVITE with body as its offer.
func (c *call) inviteCallee(body []byte) {
	a, b := c.caller, c.callee
	req := a.invite.Req
	target, transport := c.deps.edgePeer, c.deps.edgeTransport
	if c.dir == outbound {
		target, transport = c.trunk.Addr, c.trunk.Transport
	}
	hdrs := []gosip.Header{sip.OptionHeader("Supported", b.supported()...)}
	if b.policy.PrackMode() == PrackRequired {
		hdrs = append(hdrs, sip.OptionHeader("Require", sip.Ext100rel))
	}
	if st := b.policy.SessionTimer; st.Enabled {
		b.requestedSE = st.Interval()
		hdrs = append(hdrs, sip.RequestHeaders(st.Interval(), st.Min())...)
	}
	hdrs = append(hdrs, c.forwardedHeaders(req)...)
	var params gosip.HeaderParams
	if c.dir == inbound {
		// What the SBC called, as it wrote it: a REFER we relayed named a
		// conference focus (gruu;opaque=app:conf:...) or the call park
		// orbit (opaque=app:cpsp) by these.
		params = sip.KeptURIParams(req.Recipient)
	}
	inv := b.side.NewInvite(sip.Invite{
		Target:       target,
		Transport:    transport,
		RequestUser:  c.calleeNumber(sip.UserOf(req.Recipient)),
		FromUser:     c.calleeNumber(sip.UserOf(req.From().Address)),
		FromDisplay:  req.From().DisplayName,
		ToUser:       c.calleeNumber(sip.UserOf(req.To().Address)),
		RequestPhone: sip.IsPhone(req.Recipient), FromPhone: sip.IsPhone(req.From().Address),
		ToPhone:       sip.IsPhone(req.To().Address),
		RequestParams: params,
		MaxForwards:   sip.MaxForwards(req) - 1,
		Body:          body,
		Headers:       hdrs,
	})
	tag, _ := inv.From().Params.Get("tag")
	c.deps.index.addDialog(c, string(*inv.CallID()), tag)
	c.relog(string(*inv.CallID()))
	if c.media.relay != nil {
		// Opened with the offer, before this Call-ID existed: its lines
		// name it from now on, as every other line of the call does.
		c.media.relay.SetLogger(c.media.log.Logger())
	}
	c.log.Debug().Str("target", target.String()).Str("transport", transport).Msg("calling the other side")
	if !c.sendInvite(inv) {
		return
	}
	b.ringTimer = c.after(b.policy.Ring(), c.onRingTimeout)
	c.attempted()
}

// sendInvite sends (or, after a 422, sends again) the callee's INVITE.
func (c *call) sendInvite(inv *gosip.Request) bool {
	b := c.callee
	tx, err := b.side.Send(context.Background(), inv, c.sink)
	if err != nil {
		if errors.Is(err, sip.ErrMessageTooLarge) {
			// Our INVITE, built from the caller's, is larger than UDP
			// takes: another trunk (perhaps over TCP) may take it, else
			// the caller learns why.
			if c.failover("message_too_large") {
				return false
			}
			c.failSetup(setupError{513, "Message Too Large", "message_too_large"}, warning(c.caller.side, "the INVITE to the next hop is too large for UDP"))
			return false
		}
		c.log.Warn().Err(err).Msg("cannot send INVITE to the next hop")
		if c.retryElsewhere("unreachable") {
			return false
		}
		c.failSetup(setupError{503, "Service Unavailable", "next hop unreachable"})
		return false
	}
	if c.dir == outbound {
		c.pinPeer(c.trunk, c.trunk.Addr.Addr())
	}
	o := outgoing{leg: &b.leg, req: inv, onResponse: c.onCalleeResponse, onFail: c.onCalleeFail}
	if b == &c.legs.callee && !c.usedInv {
		// The first INVITE of the first callee leg, in the call's
		// allocation; another (a 422's retry) may be in flight with it.
		c.usedInv, c.firstInv = true, o
		b.inv = &c.firstInv
	} else {
		b.inv = &o
	}
	b.invSeq, b.invCallID = inv.CSeq().SeqNo, string(*inv.CallID())
	c.track(tx, b.inv)
	// Timer B of our own (sipgo's follows the process-wide T1): no
	// response at all within 64*T1 is a timeout.
	c.cancel(b.trying)
	b.trying = c.after(c.deps.sip.Timeout(), func() {
		if !b.provisional && b.final == 0 {
			c.terminate(b.inv)
			c.onCalleeFail(sip.ErrTimeout)
		}
	})
	return true
}

// onRingTimeout: the callee rang for ring_timeout without answering.
func (c *call) onRingTimeout() {
	if !c.live() || c.callee.final != 0 {
		return
	}
	c.log.Info().Int64("ring_timeout_ms", c.callee.policy.Ring().Milliseconds()).Msg("no answer: ring timeout")
	c.failSetup(setupError{408, "Request Timeout", "ring_timeout"}, warning(c.caller.side, "no answer within ring_timeout"))
}

// onCalleeResponse handles every response to the callee's INVITE, in the
// order they arrived.
func (c *call) onCalleeResponse(res *gosip.Response) {
	b := c.callee
	switch {
	case res.IsProvisional():
		if !b.provisional {
			b.provisional = true
			c.cancel(b.trying)
		}
		if res.StatusCode == 100 || !c.live() {
			return
		}
		d := c.earlyDialog(res)
		if sip.IsReliable(res) {
			rseq, _, _ := sip.RSeq(res)
			tag, _ := res.To().Params.Get("tag")
			if !b.rel.Accept(tag, rseq) {
				return // a retransmission or out of order: neither PRACKed nor relayed
			}
			if d != nil {
				c.prack(&b.leg, d, b.invSeq, rseq)
				if len(res.Body()) > 0 && !slices.Contains(b.reliableAnswers, d.RemoteTag) {
					b.reliableAnswers = append(b.reliableAnswers, d.RemoteTag)
				}
			}
		}
		c.relayProvisional(res)
	case res.IsSuccess():
		c.onCalleeAnswer(res)
	default:
		c.onCalleeRejected(res)
	}
}

// answered reports whether our INVITE has the callee's answer, in a
// reliable 18x of the early dialog req (the callee's) is in, or in its
// 2xx: until then it may not send a new offer there (RFC 3311 §5.1).
func (b *calleeLeg) answered(req *gosip.Request) bool {
	tag, _ := req.From().Params.Get("tag")
	return b.final >= 200 && b.final < 300 || slices.Contains(b.reliableAnswers, tag)
}

// earlyDialog is the early dialog a provisional with a To-tag creates (or
// belongs to): RFC 3261 §12.1.2.
func (c *call) earlyDialog(res *gosip.Response) *sip.Dialog {
	b := c.callee
	d := earlyDialogOf(&b.early, b.side, b.inv.req, res)
	if d != nil {
		b.dialog = d
	}
	return d
}

// earlyDialogOf is the early dialog of our INVITE inv on side that res (a
// response with a To-tag) is in: from early, by the peer's tag, refreshed
// by res (confirmed by a 2xx: its route set is the 2xx's, RFC 3261
// §13.2.2.4); or made from res and added. nil when res has no To-tag.
func earlyDialogOf(early *map[string]*sip.Dialog, side *sip.Side, inv *gosip.Request, res *gosip.Response) *sip.Dialog {
	tag, _ := res.To().Params.Get("tag")
	if tag == "" {
		return nil
	}
	if d := (*early)[tag]; d != nil {
		if res.IsSuccess() {
			d.Confirm(res)
		} else {
			d.Refresh(res)
		}
		d.Heard(res)
		return d
	}
	d := sip.NewUACDialog(side, inv, res)
	if *early == nil {
		*early = map[string]*sip.Dialog{}
	}
	(*early)[tag] = d
	return d
}

// prack acknowledges the reliable provisional rseq to our INVITE invSeq on
// leg l (RFC 3262 §4) in its early dialog d, also from an SBC that sends
// them though we did not offer 100rel: leaving it unacknowledged would
// only make it give up on the call.
func (c *call) prack(l *leg, d *sip.Dialog, invSeq, rseq uint32) {
	req := d.NewRequest(gosip.PRACK, 0, nil, nil)
	req.AppendHeader(gosip.NewHeader("RAck", sip.RAck{RSeq: rseq, CSeq: invSeq, Method: gosip.INVITE}.String()))
	_, err := c.sendIn(l, d, req, func(r *gosip.Response) {
		if !r.IsProvisional() && !r.IsSuccess() {
			c.log.Warn().Int("code", r.StatusCode).Msg("callee refused our PRACK")
		}
	}, func(err error) { c.log.Warn().Err(err).Msg("PRACK not answered") })
	if err != nil {
		c.log.Warn().Err(err).Msg("PRACK not sent")
	}
}

// onCalleeAnswer handles the callee's 2xx: ACK it at once (early offer: the
// SDP exchange is complete), then answer the caller.
func (c *call) onCalleeAnswer(res *gosip.Response) {
	b := c.callee
	if b.final != 0 {
		// A retransmission (or another fork's 2xx) while the INVITE
		// transaction is alive.
		c.reAck(res)
		return
	}
	b.final = res.StatusCode
	c.cancel(b.trying)
	c.cancel(b.ringTimer)
	d := c.earlyDialog(res)
	if d == nil {
		c.log.Warn().Msg("callee's 2xx has no To-tag")
		d = sip.NewUACDialog(b.side, b.inv.req, res)
		b.dialog = d
	}
	ack, err := d.Ack(context.Background(), b.invSeq, nil)
	if err != nil {
		c.log.Warn().Err(err).Msg("ACK to the far side failed")
	}
	b.ack = ack
	// The INVITE transaction has nothing left to do; retransmissions of the
	// 2xx come as strays and are ACKed again.
	c.terminate(b.inv)
	if !c.live() {
		// Answered while we were cancelling it: hang it up.
		c.bye(&b.leg)
		return
	}
	c.abortLosingForkOffer()
	b.timer = sip.NegotiateUAC(res, b.requestedSE)
	body, err := c.answeredFork(res)
	if err == nil {
		body, err = c.answerBody(body)
	}
	if err != nil {
		c.log.Warn().Err(err).Msg("far side's 2xx has no usable SDP; hanging up")
		c.failSetup(answerFailure(err), warning(c.caller.side, err.Error()))
		return
	}
	c.answerCaller(body)
}

// abortLosingForkOffer ends the caller's early offer (an UPDATE) still
// waiting for its answer in the early dialog of a fork other than the one
// whose 2xx just made the call's dialog (callee.dialog). That fork's early
// dialog is over (RFC 3261 §13.2.2.4), and our 2xx to the caller ends the
// caller's early dialog paired with it: the fork's answer, when it comes,
// is stale, so nothing else would finish the offer. Kept, it would hold the
// call's offer slot (later offers refused with 491) until 64*T1 hung up the
// answered call. The caller's UPDATE gets 487 and keeps its old session, as
// for an offer ended by the CANCEL of its transaction.
//
// So too an inbound call's offer that another fork of the client made in
// its own early dialog, relayed to the SBC in our early dialog of that
// fork (callerForkTag), which our 2xx in the answering fork's ends: the
// SBC's answer there, 481 or a 2xx, is stale, and taken it hung up the
// answered call or moved its media to the losing fork (r27-review F1).
// That fork's UPDATE gets 487. An outbound call's callee offer (the SBC
// forking) is in the client's one dialog, which goes on, and stays.
func (c *call) abortLosingForkOffer() {
	off := c.offer
	if off == nil || off.out == nil {
		return
	}
	switch {
	case off.from == &c.caller.leg && off.out.dialog != c.callee.dialog:
	case off.from == &c.callee.leg && c.dir == inbound && c.callee.dialog != nil && c.forkOfferLost(off):
	default:
		return
	}
	c.log.Info().Str("method", string(off.method)).Bool("rollback", off.rollback).Str("leg", off.from.role).
		Msg("callee answered in another fork than the one an early offer was made in: offer ended with 487")
	c.abortOffer(487, "Request Terminated")
}

// forkOfferLost reports whether off, an offer of the client (its UPDATE,
// or our rollback towards the SBC after it) relayed to the SBC in our
// early dialog of one of its forks, went in another of our early dialogs
// than the one of the fork whose 2xx has just come (callee.dialog, before
// answeredFork moves the caller's dialog to it).
func (c *call) forkOfferLost(off *relayedOffer) bool {
	went := off.ourTag
	if went == "" {
		went = c.caller.tag // the caller dialog's own, still the first fork's
	}
	f := c.forks[c.callee.dialog.RemoteTag]
	switch {
	case f != nil:
		return f.tag != went
	case len(c.forks) == 0 || len(c.forks) >= maxEarlyDialogs:
		return went != c.caller.tag // the answering fork takes the caller dialog's tag (forkTag)
	default:
		return true // a fork first heard by its 2xx: a new tag of ours (forkTag)
	}
}

// reAck answers a retransmitted 2xx of the callee's INVITE with our ACK
// again (RFC 3261 §13.2.2.4).
func (c *call) reAck(res *gosip.Response) {
	b := c.callee
	tag, _ := res.To().Params.Get("tag")
	if b.dialog == nil || (b.ack == nil && !c.caller.settled()) {
		return
	}
	if tag != b.dialog.RemoteTag {
		// Another fork answered too: ACK and hang up that dialog (RFC 3261
		// §13.2.2.4), the call stays with the first.
		if c.hangUpFork(b.inviteReq(), res) {
			c.log.Info().Str("fork_tag", tag).Msg("second 2xx from another fork: ACK and BYE")
		}
		return
	}
	c.ackAgain()
}

// hangUpFork ACKs a 2xx of the callee's INVITE in a dialog that is not
// the call's (another fork's, RFC 3261 §13.2.2.4) and hangs that dialog
// up with BYE, once: its UAS sends the 2xx again until our ACK reaches it
// (§13.3.1.4), and each copy is ACKed again, but another BYE would be a
// request in a dialog the first one ended, with the CSeq that one already
// used (§12.2.1.1), refused and needless. The fork is marked in c.forks
// (forks.go), which holds at most maxEarlyDialogs forks heard of first by
// their 2xx, and goes at settle: a fork not remembered gets a BYE per copy,
// as all did before, up to maxEarlyDialogs such forks (c.lateForks); the
// 2xx of any fork beyond those is ACKed only, counted and logged
// (rate-limited): a callee (or whoever can put responses on its path)
// sending 2xx under ever new To-tags had each cost an ACK, a BYE
// transaction and a goroutine waiting for it, without bound (r26-hostile
// H1). It reports whether the BYE went.
func (c *call) hangUpFork(invite *gosip.Request, res *gosip.Response) bool {
	b := c.callee
	tag, _ := res.To().Params.Get("tag")
	f := c.forks[tag]
	if f != nil && f.hungUp {
		c.log.Debug().Str("fork_tag", tag).Msg("2xx of a fork already hung up, again: ACK only")
		c.deps.ackLate(b.side, invite, res)
		return false
	}
	if f == nil && (c.caller.settled() || len(c.forks) >= maxEarlyDialogs) {
		// A fork c.forks will not remember.
		if c.deps.hungUp.seen(res) {
			// The server remembers it (latedialogs.go): a copy.
			c.log.Debug().Str("fork_tag", tag).Msg("2xx of a fork already hung up, again: ACK only")
			c.deps.ackLate(b.side, invite, res)
			return false
		}
		if c.lateForks >= maxEarlyDialogs {
			c.deps.metrics.sipExcessForks.WithLabelValues(b.side.Name).Inc()
			if ok, n := c.deps.forkLog.Allow(); ok {
				c.log.Warn().Str("fork_tag", tag).Int("forks_max", 2*maxEarlyDialogs).Int("suppressed", n).
					Msg("2xx from more forks than a call hangs up: ACK only, no BYE")
			}
			c.deps.ackLate(b.side, invite, res)
			return false
		}
		c.lateForks++
	}
	c.forkHungUp(tag)
	c.deps.lateAnswer(b.side, invite, res, c.earlySeq(tag))
	return true
}

// lateCalleeAnswer handles a 2xx that comes once the call has ended: one
// of the callee's INVITE (a fork's, or the call's own dialog's) as
// hangUpFork does, any other (a transfer target's, a trunk the call failed
// over from) ACKed and sent BYE.
func (c *call) lateCalleeAnswer(side *sip.Side, res *gosip.Response) {
	if b := c.callee; side == b.side && res.CallID() != nil && string(*res.CallID()) == b.invCallID {
		_ = c.hangUpFork(nil, res)
		return
	}
	c.deps.lateAnswer(side, nil, res, 0)
}

// onCalleeRejected handles the callee's final non-2xx response.
func (c *call) onCalleeRejected(res *gosip.Response) {
	b := c.callee
	if b.final != 0 {
		return
	}
	if res.StatusCode == 422 && !b.retried422 && c.live() {
		// Also when our INVITE asked for no timer (requestedSE 0): a
		// proxy on the way may have put its own Session-Expires in it
		// (RFC 4028 §8.1), and the callee's minimum is then ours to
		// meet (§7.4). Once only: a 422 to the retry is not retried.
		if min, ok, _ := sip.ParseMinSE(res); ok && min > b.requestedSE {
			c.retryWithInterval(min)
			return
		}
	}
	b.final = res.StatusCode
	c.cancel(b.trying)
	c.cancel(b.ringTimer)
	if !c.live() {
		c.maybeFinish()
		return
	}
	if isExtensionMismatch(res.StatusCode) {
		// About our INVITE, not the caller's: never relayed as is
		// (extmismatch.go).
		c.onExtensionMismatch(res)
		return
	}
	if res.StatusCode >= 500 && res.StatusCode < 600 {
		c.restTrunk(res)
		// A 503 is the address's failure (RFC 3263 §4.3: a box of an
		// SBC pair being drained): the trunk's next address first.
		// Other 5xx are the trunk's answer.
		if res.StatusCode == 503 && c.retryTarget("503") || c.failover(strconv.Itoa(res.StatusCode)) {
			return
		}
	}
	c.log.Info().Int("code", res.StatusCode).Str("reason", res.Reason).Msg("far side rejected the call")
	code, phrase, hdrs := c.failureFor(res)
	if code >= 300 && code < 400 {
		// redirect.go: the caller may recurse through us.
		if redirect := c.redirectContacts(res); len(redirect) > 0 {
			hdrs = append(hdrs, redirect...)
		} else {
			c.log.Info().Int("code", code).Msg("redirect names no number the caller could call through us: 480")
			code, phrase = 480, "Temporarily Unavailable"
		}
	}
	c.failSetup(setupError{code, phrase, fmt.Sprint(res.StatusCode)}, hdrs...)
}

// retryWithInterval sends the INVITE again with the Min-SE of the callee's
// 422 (RFC 4028 §7.4): same dialog identifiers, next CSeq.
func (c *call) retryWithInterval(min time.Duration) {
	b := c.callee
	b.retried422 = true
	b.requestedSE = min
	c.log.Info().Int64("session_expires_s", int64(min/time.Second)).Msg("callee wants a longer session interval (422): INVITE again")
	above := c.forgetEarlyDialogs()
	again := withInterval(b.inv.req, min)
	if cseq := again.CSeq(); cseq.SeqNo <= above {
		// One higher than the previous request (RFC 3261 §8.1.3.5): our
		// PRACKs (and UPDATEs relayed) in the INVITE's early dialogs
		// counted above it, and a UAS that keeps its count per Call-ID
		// and From-tag has seen them.
		cseq.SeqNo = above + 1
	}
	c.sendInvite(again)
}

// forgetEarlyDialogs drops what the callee leg kept of its INVITE's
// provisionals, which the INVITE's final response (a 422 we send the
// INVITE again for) ended: the retry is a new request, whose provisionals
// start over. RFC 3262 §3 numbers RSeq per request and §4 keeps the UAC's
// RSeq state only until the request's final response, so the retry's
// reliable 18x, from a callee that reuses its To-tag and counts from RSeq
// 1 again (one deriving its tag from the Call-ID and From-tag, a sipp
// scenario), is a new one to PRACK and relay, not a retransmission
// (r27-early F2). The early dialogs are over too (RFC 3261 §12.3: a
// non-2xx final response ends them): the retry's are made anew from it,
// their PRACKs counted from its CSeq, and until one comes there is no
// early dialog to relay an offer of the caller's into (491). Nor is a
// CANCEL sent before a provisional to the retry (RFC 3261 §9.1). Outbound,
// c.forks are the SBC's forks (their early answers to our first INVITE);
// inbound they pair the client's forks with our early dialogs towards the
// SBC, the caller's, which go on: those stay. It returns the highest CSeq
// we used in those early dialogs (PRACKs, relayed UPDATEs), 0 for none.
func (c *call) forgetEarlyDialogs() uint32 {
	b := c.callee
	var above uint32
	gone := false
	for _, d := range b.early {
		above = max(above, d.LocalSeq)
		gone = gone || c.offer != nil && c.offer.out != nil && c.offer.out.dialog == d
	}
	if off := c.offer; off != nil && (gone || off.out != nil && off.out.dialog != nil && off.out.dialog == b.dialog) {
		// An early offer relayed into one of those dialogs (the
		// caller's UPDATE) has no dialog to be answered in any more:
		// ended as when another fork's 2xx ends its dialog
		// (abortLosingForkOffer), its UPDATE answered 487; a rollback of
		// ours there is dropped (r27-review2 F2). Kept, it held the
		// call's offer until 64*T1 failed the ringing call.
		c.log.Info().Str("method", string(off.method)).Bool("rollback", off.rollback).
			Msg("INVITE sent again after 422: an early offer in the early dialog it ended ended with 487")
		c.abortOffer(487, "Request Terminated")
	}
	b.rel, b.reliableAnswers, b.early, b.dialog = sip.ReliableReceivers{}, nil, nil, nil
	b.provisional = false
	if c.dir == outbound {
		c.forks = nil
	}
	return above
}

// withInterval is INVITE inv again with Session-Expires and Min-SE min,
// after a 422 (RFC 4028 §7.4): same dialog identifiers, next CSeq, a new
// branch (Send adds the Via).
func withInterval(inv *gosip.Request, min time.Duration) *gosip.Request {
	again := inv.Clone()
	again.SetBody(inv.Body())
	again.RemoveHeader("Via")
	again.RemoveHeader("Session-Expires")
	again.RemoveHeader("Min-SE")
	again.ReplaceHeader(&gosip.CSeqHeader{SeqNo: inv.CSeq().SeqNo + 1, MethodName: gosip.INVITE})
	for _, h := range sip.RequestHeaders(min, min) {
		again.AppendHeader(h)
	}
	return again
}

// onCalleeFail: the callee's INVITE got no final response.
func (c *call) onCalleeFail(err error) {
	b := c.callee
	if b.final != 0 {
		return
	}
	b.final = 408
	c.cancel(b.ringTimer)
	c.cancel(b.trying)
	if !c.live() {
		c.maybeFinish()
		return
	}
	if errors.Is(err, sip.ErrTransport) {
		c.log.Warn().Err(err).Msg("next hop unreachable")
		if c.retryElsewhere("unreachable") {
			return
		}
		c.failSetup(setupError{503, "Service Unavailable", "next hop unreachable"})
		return
	}
	// No response at all (Timer B) is what the fast failover timer waits
	// for, only sooner when 64*T1 is shorter than gateway_failover.timeout:
	// the call goes on as that timer would have sent it, to the trunk's
	// next address, else to the next trunk (r28-trunks F2). After a
	// provisional the trunk has answered: only its next address is left.
	retry := c.retryTarget
	if !b.provisional {
		retry = c.retryElsewhere
	}
	if retry("timeout") {
		return
	}
	c.log.Info().Err(err).Msg("no final answer from the far side")
	c.failSetup(setupError{408, "Request Timeout", "timeout"})
}

// onStray handles a response no transaction wanted: a retransmitted 2xx of
// the callee's INVITE (whose transaction we ended after the ACK) or of a
// re-INVITE.
func (c *call) onStray(side *sip.Side, res *gosip.Response) {
	cseq := res.CSeq()
	if cseq == nil || cseq.MethodName != gosip.INVITE {
		return
	}
	if off := c.offer; off != nil && off.out != nil && side == c.other(off.from).side &&
		cseq.SeqNo == off.out.req.CSeq().SeqNo && branch(res) == branch(off.out.req) {
		// A response to the relayed re-INVITE in progress, whose
		// transaction is gone: its connection ended under it (off.lost,
		// or about to be: the end of the transaction may reach the call
		// after this response over another connection did). A non-2xx's
		// ACK was that transaction's: sent here, back where it came from
		// (onOfferAnswer ACKs a 2xx). A provisional may send the CANCEL
		// that waited for one (onOfferAnswer), to where it came from.
		off.lost = true
		if res.StatusCode >= 300 {
			side.AckLost(off.out.req, res)
		}
		c.onOfferAnswer(off, res)
		return
	}
	if res.IsProvisional() {
		return
	}
	if !res.IsSuccess() {
		return
	}
	if b := c.callee; side == b.side && b.inv != nil && cseq.SeqNo == b.invSeq && res.CallID() != nil && string(*res.CallID()) == b.invCallID {
		c.reAck(res)
		return
	}
	if c.givenUpAttempt(side, res) {
		// The 2xx of a trunk the call failed over from, whose INVITE's
		// transaction had ended (its connection reset or closed while
		// ringing): its callee picked up a call no one is on. ACKed and
		// hung up in its own dialog, as an abandoned INVITE's 2xx is.
		c.log.Info().Str("sip_call_id", string(*res.CallID())).Msg("a trunk the call failed over from answered after all: ACK and BYE")
		c.deps.lateAnswer(side, nil, res, c.ourSeqIn(string(*res.CallID())))
		return
	}
	l := c.legOf(side)
	if l == nil || l.dialog == nil || res.CallID() == nil || string(*res.CallID()) != l.dialog.CallID {
		return
	}
	if tag, _ := res.To().Params.Get("tag"); tag != l.dialog.RemoteTag {
		// Another fork's 2xx to the INVITE that made l's dialog (a
		// transfer target's: the callee's are reAck's): ACKed and hung
		// up in its own dialog (RFC 3261 §13.2.2.4), never ACKed in ours.
		c.deps.lateAnswer(side, nil, res, 0)
		return
	}
	if l.lastAck != nil && l.lastAck.CSeq().SeqNo == cseq.SeqNo {
		_ = l.dialog.WriteAck(context.Background(), l.lastAck)
		return
	}
	if l.lastAck == nil || cseq.SeqNo > l.lastAck.CSeq().SeqNo {
		// A 2xx to a re-INVITE of ours that nothing ACKed (its offer
		// over, the call ending): every 2xx is ACKed (RFC 3261
		// §13.2.2.4), or its UAS resends it for 64*T1.
		ack := l.dialog.NewRequest(gosip.ACK, cseq.SeqNo, nil, nil)
		_ = l.dialog.WriteAck(context.Background(), ack)
		if !c.live() || c.state != stateAnswered || len(res.Body()) == 0 {
			c.log.Debug().Uint32("cseq", cseq.SeqNo).Str("leg", l.role).Msg("2xx to a re-INVITE no longer ours to take: ACK only")
			return
		}
		// The call goes on, and the far side took an offer we gave up
		// (its offerer's CANCEL, taken as cancelled at 64*T1): the two
		// peers disagree, as after a 2xx crossing our CANCEL
		// (onOfferAnswer). It is offered the session it had again, as a
		// rollback (r27-review3 F2); with another exchange in progress,
		// that one settles it.
		if c.offer != nil || l.ok != nil || l.refreshing {
			c.log.Info().Str("leg", l.role).Msg("far side answered a re-INVITE of ours given up, another exchange in progress: left to it")
			return
		}
		c.log.Warn().Str("leg", l.role).Msg("far side answered a re-INVITE of ours given up: offering it its session again")
		c.sendRollback(&relayedOffer{from: c.other(l), method: gosip.INVITE, body: c.sendLegSDP(l), rollback: true, dialog: l.dialog})
	}
}

// givenUpAttempt reports whether res, a 2xx to an INVITE that found this
// call, answers an outbound call's earlier attempt on the gateway side: a
// Call-ID of the call's that is neither its callee's INVITE's nor its
// callee dialog's. Only outbound: the gateway side has no other INVITEs
// of a call (transfers are on the edge side).
func (c *call) givenUpAttempt(side *sip.Side, res *gosip.Response) bool {
	b := c.callee
	if c.dir != outbound || side != b.side || res.CallID() == nil {
		return false
	}
	id := string(*res.CallID())
	return id != b.invCallID && (b.dialog == nil || id != b.dialog.CallID)
}
