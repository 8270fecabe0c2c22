package mediation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
	"github.com/mediation-emulator/mediation/sip"
)

// Transfer performed by the mediation server: with a trunk's
// enable_refer_support off, CCE does not pass a client's REFER to the
// gateway; it carries the transfer out itself. The client (the transferor)
// REFERs the PSTN party (the transferee, for whom the mediation server
// acts: RFC 3515 §2.4, RFC 5589 §6) to a target. The REFER gets 202 and
// NOTIFYs (message/sipfrag) of the progress; the mediation server INVITEs
// the Refer-To target on the edge side, as an inbound call of the PSTN
// party's (SfB Online routes it: a user, a number back out through a
// Mediation Server, a call park orbit), offering our relay. Once the
// target answers, the PSTN party's gateway leg stays and is re-INVITEd to
// the relay (a transferred call is always anchored, a bypassed one too, as
// CCE's documentation says), the target's leg becomes the call's edge leg,
// and the transferor's old leg is released: final NOTIFY, then BYE (a BYE
// of its own crossing ours gets 200 and ends nothing: onReleased). If the
// target does not answer, the call goes on as it was.

// transfer is a transfer in progress.
type transfer struct {
	refer  *sip.Incoming
	target string // the Refer-To's user part, for logs
	plan   mediaPlan
	out    *outgoing
	// provisional: the target sent a 1xx (a CANCEL may go).
	provisional bool
	// policy is the edge side's call settings: the target's INVITE asks
	// for 100rel and session timers as inbound calls' do.
	policy      CallSettings
	requestedSE time.Duration
	// earlierSeq is the highest CSeq of our requests (PRACKs) in the
	// early dialogs of the INVITE a 422 had us send again: a 2xx of that
	// INVITE's, late, is hung up above it (latedialogs.go).
	earlierSeq uint32
	// rel and early are the target's reliable provisionals PRACKed so far
	// and their early dialogs, by its tag (RFC 3262 §4).
	rel   sip.ReliableReceivers
	early map[string]*sip.Dialog
	// earlySDP is the SDP of each early dialog's latest 18x, by the
	// target's tag: the answer when the 2xx of that dialog has none (RFC
	// 3262 §5, RFC 3261 §13.2.1), as for an ordinary call's callee.
	earlySDP map[string][]byte
	// referSeq is the REFER's CSeq number, the id of its subscription
	// (RFC 3515 §2.4.6); subscribedUntil is when the subscription expires:
	// the target's ring time (ringTimer) and a margin.
	referSeq        uint32
	subscribedUntil time.Time
	ringTimer       timerID
	// subTimer ends the subscription when the time a refresh granted runs
	// out while the target still rings (refreshTransfer); subEnded: it
	// ended so (or by the transferor's unsubscribe) and its final NOTIFY
	// went, so the transfer, which goes on, notifies nothing more.
	// lastFrag is the sipfrag of the latest NOTIFY, the final one's then.
	subTimer timerID
	subEnded bool
	lastFrag string
	// progressed: the transferor was told of the target's first 18x.
	progressed bool
	// transferorGone: the client hung up its leg after our 202, while the
	// target rang (transferorLeft).
	transferorGone bool
	// retried422: the INVITE went again with the target's Min-SE.
	retried422 bool
}

// expiresLeft is what is left of x's subscription in whole seconds,
// rounded up, at least 1.
func (x *transfer) expiresLeft() int64 {
	left := max(time.Until(x.subscribedUntil), time.Second)
	return int64((left + time.Second - 1) / time.Second)
}

// transferorLeft takes the transferor's BYE while the target rings: RFC
// 5589 §6 lets it end its dialog once its REFER is accepted, and the
// transfer goes on for the PSTN party. Its leg gets no NOTIFY or BYE any
// more; if the target does not answer, the PSTN party has nobody left and
// the call ends.
func (c *call) transferorLeft(l *leg) {
	c.xfer.transferorGone = true
	c.reason = nil // its Reason is not for the PSTN party
	if off := c.offer; off != nil {
		if off.from == l {
			// Its own offer, pending at the PSTN party: a request still
			// pending when its dialog ends gets 487 (RFC 3261 §15.1.2).
			c.dropOffer(487, "Request Terminated")
		} else {
			// The PSTN party's, relayed to it: nobody is left to answer
			// it; 491 as to an offer of the PSTN party's from now on
			// (relayOffer), it may offer again once the target answered.
			c.log.Info().Msg("re-offer of the PSTN party pending at the transferor as it hung up: 491")
			c.dropOffer(491, "Request Pending")
		}
	}
	c.dropRefresh(l)
	// Its dialog is over: a call that ends now sends it no BYE. The
	// target's leg, should it answer, starts afresh (transferAnswered).
	l.byeSent, l.byeDone = true, true
	c.cancel(l.timerID)
	if l.ok != nil {
		c.stopResend(&l.ok.r)
		l.ok = nil
	}
	c.log.Info().Str("target", c.xfer.target).Msg("the transferor hung up while the transfer target rings: the transfer goes on")
}

// dropXfer forgets x, the transfer of the call's, which is over (or the
// call is), with its timers.
func (c *call) dropXfer(x *transfer) {
	c.xfer = nil
	c.cancel(x.ringTimer)
	c.cancel(x.subTimer)
}

// transferorGone tells whether the transferor hung up while the target
// rings: its leg, still the call's edge leg, has no dialog any more.
func (c *call) transferorGone() bool { return c.xfer != nil && c.xfer.transferorGone }

// transferLost ends the call of a transfer that failed after its
// transferor hung up: the PSTN party gets BYE.
func (c *call) transferLost(edge *leg, code int) {
	c.log.Info().Int("code", code).Msg("transfer failed and the transferor has hung up: the call ends")
	c.hangup(edge, "transfer_failed")
}

// performTransfer starts the transfer a REFER from the edge leg l asks for.
func (c *call) performTransfer(l *leg, in *sip.Incoming) {
	if l.side != c.deps.edge {
		// Nothing is pending: a 491 would only make the SBC try again
		// (RFC 3261 §14.1).
		_ = in.Reply(403, "Forbidden", "", warning(l.side, "transfers from the gateway side are not supported with enable_refer_support false"))
		return
	}
	if c.xfer != nil || c.offer != nil || c.repointing {
		// A transfer is not done until the PSTN party is re-pointed: a
		// REFER before then gets 491, as one during an offer does.
		_ = in.Reply(491, "Request Pending", "")
		return
	}
	var u gosip.Uri
	var params gosip.HeaderParams
	_, err := gosip.ParseAddressValue(sip.HeaderNamed(in.Req, "Refer-To").Value(), &u, &params)
	if u.User = sip.UserOf(u); err != nil || u.User == "" {
		_ = in.Reply(400, "Bad Request - Refer-To has no user part", "")
		return
	}
	if sip.CheckHeaderValue(u.User) != nil {
		_ = in.Reply(400, "Bad Request - Control Character In Header", "")
		return
	}
	g := c.other(l)
	// The target is offered our relay with the PSTN party's media, as an
	// inbound call's client is.
	party, raw := c.media.latest(relay.Gateway), c.media.raw[relay.Gateway]
	if c.media.latest(relay.Edge).OnHold() {
		// The PSTN party's direction answers the transferor's hold (SfB
		// clients hold before they transfer), which ends with the
		// transferor's leg: the new call is not on hold (RFC 5589 §6).
		// A hold of the PSTN party's own (its last offer's) is kept.
		dir := sdp.SendRecv
		if d := c.media.gwOfferDir; d == sdp.SendOnly || d == sdp.Inactive {
			dir = d
		}
		if party.Direction != dir {
			party.Direction, raw = dir, nil
		}
	}
	x := &transfer{refer: in, target: u.User, policy: c.deps.edgeCalls,
		plan: c.media.fresh(inbound, party, raw)}
	x.plan.useTrunk(c.trunk)
	body, err := x.plan.planOffer(c.deps.settings(), false, c.deps.alloc)
	if err != nil {
		x.plan.closeRelay()
		logNoPorts(&c.log, c.deps.noPortsLog, err)
		_ = in.Reply(mediaFailure(err).code, mediaFailure(err).phrase, "")
		return
	}
	x.plan.noOffer = transferred // no bypass ID offered: anchored
	_ = in.Reply(202, "Accepted", "")
	c.xfer = x
	x.referSeq = in.Req.CSeq().SeqNo
	// The target rings at most the edge side's ring_timeout (then it is
	// CANCELled, as a callee is); the subscription outlasts that by 64*T1,
	// so its final NOTIFY always comes while it is active and it needs no
	// refresh (one gets 200 all the same: refreshTransfer).
	x.subscribedUntil = time.Now().Add(x.policy.Ring() + c.deps.sip.Timeout())
	x.ringTimer = c.after(x.policy.Ring(), func() { c.onTransferRingTimeout(l, x) })
	c.notifyTransfer(l, x, "SIP/2.0 100 Trying", false, nil)

	hdrs := []gosip.Header{sip.OptionHeader("Supported", x.policy.optionTags()...)}
	if x.policy.PrackMode() == PrackRequired {
		hdrs = append(hdrs, sip.OptionHeader("Require", sip.Ext100rel))
	}
	if st := x.policy.SessionTimer; st.Enabled {
		x.requestedSE = st.Interval()
		hdrs = append(hdrs, sip.RequestHeaders(st.Interval(), st.Min())...)
	}
	if c.headerPolicy().ForwardCallHistory {
		// RFC 3892: the target learns who referred the call.
		by, refused := copyNamed(in.Req, []string{"Referred-By"}, 0, 0)
		if refused != "" {
			c.log.Warn().Str("header", refused).Msg("header not forwarded: control character in its value")
		}
		hdrs = append(hdrs, by...)
	}
	// From the PSTN party, to whom the Refer-To names (its parameters
	// kept: a conference focus, a call park orbit).
	pstn := g.dialog.Remote
	inv := c.deps.edge.NewInvite(sip.Invite{Target: c.deps.edgePeer, Transport: c.deps.edgeTransport,
		RequestUser: u.User, RequestPhone: sip.IsPhone(u), RequestParams: sip.KeptURIParams(u),
		FromUser: sip.UserOf(pstn), FromPhone: sip.IsPhone(pstn), ToUser: u.User, ToPhone: sip.IsPhone(u),
		MaxForwards: 70, Body: body, Headers: hdrs})
	tag, _ := inv.From().Params.Get("tag")
	c.deps.index.addDialog(c, string(*inv.CallID()), tag)
	c.log.Info().Str("target", x.target).Str("transfer_call_id", string(*inv.CallID())).
		Msg("REFER with refer support off: transferring the PSTN party ourselves")
	c.sendTransferInvite(l, inv)
}

// sendTransferInvite sends the transfer target its INVITE (again, after a
// 422).
func (c *call) sendTransferInvite(l *leg, inv *gosip.Request) {
	x := c.xfer
	tx, err := c.deps.edge.Send(context.Background(), inv, c.sink)
	if err != nil {
		c.log.Warn().Err(err).Msg("transfer INVITE not sent")
		c.transferFailed(l, 503, "Service Unavailable")
		return
	}
	x.out = &outgoing{leg: l, req: inv, onFail: func(error) { c.transferFailed(l, 408, "Request Timeout") }}
	x.out.onResponse = func(res *gosip.Response) { c.onTransferResponse(l, inv, res) }
	c.track(tx, x.out)
}

// onTransferResponse takes the transfer target's responses to inv.
func (c *call) onTransferResponse(edge *leg, inv *gosip.Request, res *gosip.Response) {
	x := c.xfer
	switch {
	case x == nil || x.out.req != inv:
		if res.IsSuccess() {
			var seq uint32
			if x != nil {
				seq = x.earlierSeq // the INVITE a 422 had us send again
			}
			c.deps.lateAnswer(c.deps.edge, inv, res, seq)
		}
	case res.IsProvisional():
		x.provisional = true
		if res.StatusCode == 100 || sip.IsReliable(res) && !c.prackTransfer(x, edge, res) {
			return // a 100, or a reliable one again or out of order
		}
		x.keepEarly(res)
		if !x.progressed && !x.transferorGone {
			// The transferor hears of the target's progress once (RFC
			// 3515 §2.4.5): its first provisional other than 100 (180,
			// 183, or a 181 or 182).
			x.progressed = true
			c.notifyTransfer(edge, x, sipfrag(res.StatusCode, res.Reason), false, nil)
		}
	case res.StatusCode == 422 && !x.retried422:
		// As for a callee (retryWithInterval): INVITE again with its
		// Min-SE, once, also when ours asked for no timer (a proxy may
		// have put its own Session-Expires in it, RFC 4028 §8.1).
		if min, ok, _ := sip.ParseMinSE(res); ok && min > x.requestedSE {
			x.retried422, x.requestedSE = true, min
			c.log.Info().Int64("session_expires_s", int64(min/time.Second)).Msg("transfer target wants a longer session interval (422): INVITE again")
			// A new request, as a callee's retry is (forgetEarlyDialogs):
			// its provisionals start over, under the target's tag and
			// RSeq again or not, and its CSeq is above our PRACKs in the
			// early dialogs the 422 ended (RFC 3262 §3-4, RFC 3261 §12.3).
			for _, d := range x.early {
				x.earlierSeq = max(x.earlierSeq, d.LocalSeq)
			}
			x.rel, x.early, x.earlySDP, x.provisional = sip.ReliableReceivers{}, nil, nil, false
			again := withInterval(inv, min)
			if cseq := again.CSeq(); cseq.SeqNo <= x.earlierSeq {
				cseq.SeqNo = x.earlierSeq + 1
			}
			c.sendTransferInvite(edge, again)
			return
		}
		c.transferFailed(edge, res.StatusCode, res.Reason)
	case !res.IsSuccess():
		c.transferFailed(edge, res.StatusCode, res.Reason)
	default:
		c.transferAnswered(edge, res)
	}
}

// prackTransfer PRACKs a reliable provisional of the transfer target
// (RFC 3262 §4) in its early dialog, once per RSeq in order; false when
// res is not the next of its early dialog (a retransmission, out of
// order, no To-tag or RSeq).
func (c *call) prackTransfer(x *transfer, edge *leg, res *gosip.Response) bool {
	rseq, _, err := sip.RSeq(res)
	if tag, _ := res.To().Params.Get("tag"); tag == "" || err != nil || !x.rel.Accept(tag, rseq) {
		return false
	}
	c.prack(edge, earlyDialogOf(&x.early, c.deps.edge, x.out.req, res), x.out.req.CSeq().SeqNo, rseq)
	return true
}

// keepEarly notes the SDP of the target's 18x res as its early dialog's
// latest (by its To-tag). Reliable or not, as for an ordinary call's
// callee (answerBody, answeredFork): a 2xx without SDP stands on it.
func (x *transfer) keepEarly(res *gosip.Response) {
	tag, _ := res.To().Params.Get("tag")
	if tag == "" || len(res.Body()) == 0 {
		return
	}
	if x.earlySDP == nil {
		x.earlySDP = map[string][]byte{}
	}
	x.earlySDP[tag] = res.Body()
}

// answerOf is the target's SDP answer that its 2xx res completes: the
// 2xx's own, or, when it has none, that of the latest 18x in the early
// dialog res confirms (its To-tag: another fork's SDP is no answer of
// this one's). nil for none.
func (x *transfer) answerOf(res *gosip.Response) []byte {
	if len(res.Body()) > 0 {
		return res.Body()
	}
	tag, _ := res.To().Params.Get("tag")
	return x.earlySDP[tag]
}

// onTransferRingTimeout gives up on a target still ringing at the edge
// side's ring_timeout: CANCEL, as for a callee, and the transferor's
// final NOTIFY says 408.
func (c *call) onTransferRingTimeout(edge *leg, x *transfer) {
	if c.xfer != x {
		return
	}
	c.log.Info().Int64("ring_timeout_ms", x.policy.Ring().Milliseconds()).Str("target", x.target).
		Msg("transfer target did not answer within ring_timeout: CANCEL")
	c.abandonInvite(x.out, x.provisional, c.deps.edge, x.rel, x.early)
	c.transferFailed(edge, 408, "Request Timeout")
}

// sipfrag is the message/sipfrag status line of a response (RFC 3515
// §2.4.5), with the phrase sip.Phrase lets through.
func sipfrag(code int, reason string) string {
	return fmt.Sprintf("SIP/2.0 %d %s", code, sip.Phrase(code, reason))
}

// transferAnswered completes the transfer: ACK the target, put its leg in
// the place of the transferor's (released: final NOTIFY, then BYE) and
// re-INVITE the PSTN party to the relay.
func (c *call) transferAnswered(edge *leg, res *gosip.Response) {
	x := c.xfer
	c.dropXfer(x)
	// The early dialog a PRACK went in, if any, carries on: its CSeq is
	// past the PRACK's.
	d := earlyDialogOf(&x.early, c.deps.edge, x.out.req, res)
	if d == nil {
		d = sip.NewUACDialog(c.deps.edge, x.out.req, res) // a 2xx without To-tag
	}
	ack, err := d.Ack(context.Background(), x.out.req.CSeq().SeqNo, nil)
	if err != nil {
		c.log.Debug().Err(err).Msg("ACK to the transfer target")
	}
	c.terminate(x.out)
	// The PSTN party's SDP goes on from what it last had of us (RFC 3264
	// §8), as it is now: a re-offer may have moved it on while the target
	// rang.
	x.plan.sdp[relay.Gateway] = c.media.sdp[relay.Gateway]
	gwSDP, err := []byte(nil), errors.New("no SDP answer in 18x or 200")
	if answer := x.answerOf(res); answer != nil {
		gwSDP, err = x.plan.planAnswer(answer, true, "")
	}
	if err != nil {
		c.log.Warn().Err(err).Msg("transfer target's answer not usable; hanging it up")
		_, _, _ = d.Send(context.Background(), d.NewRequest(gosip.BYE, 0, nil, nil), sip.Discard)
		x.plan.closeRelay()
		if x.transferorGone {
			c.transferLost(edge, 488)
			return
		}
		c.notifyTransfer(edge, x, "SIP/2.0 488 Not Acceptable Here", true, nil)
		return
	}
	if c.offer != nil && !c.offer.superseded {
		// A re-offer that came while the target rang: it was for the
		// media and the leg now replaced. Its sender may offer again.
		c.log.Info().Msg("re-offer in progress when the transfer target answered: 491")
		c.dropOffer(491, "Request Pending")
	}
	// The call is anchored from now on.
	prevRelay := c.media.relay
	c.media.closeRelay()
	if prevRelay != nil && x.plan.relay != nil {
		// The record counts the whole call: the old relay's final
		// counts, taken now that it is closed (after its last packet).
		x.plan.relay.Continues(prevRelay)
		// The PSTN party's stream goes on into the new relay: its SRTP
		// rollover counter with it (relay.Session.Inherit), else all its
		// media would be refused once its stream has wrapped.
		if err := x.plan.relay.Inherit(relay.Gateway, prevRelay); err != nil {
			c.log.Warn().Err(err).Msg("PSTN party's SRTP state not carried over to the transferred call's relay")
		}
	}
	if c.bypassCounted {
		c.bypassCounted = false
		c.deps.metrics.bypassActive.WithLabelValues(c.dir.String()).Dec()
	}
	c.media = x.plan
	c.media.answered()
	// The transferor's old leg is released: it learns the outcome, then
	// gets BYE (RFC 5589 §6.1 lets either end it).
	old := &leg{role: edge.role, side: edge.side, media: edge.media, policy: edge.policy, dialog: edge.dialog}
	c.release(old)
	if x.transferorGone {
		old.byeSent, old.byeDone = true, true // its BYE came while the target rang
	} else {
		c.notifyTransfer(old, x, "SIP/2.0 200 OK", true, func() { c.releaseLeg(old) })
	}
	// The target's leg takes its place: its dialog, the session timer its
	// 2xx set (RFC 4028 §7.2), our ACK (sent again for a retransmitted 2xx).
	c.dropRefresh(edge)
	if edge.ok != nil {
		c.stopResend(&edge.ok.r)
		edge.ok = nil
	}
	edge.dialog, edge.timer, edge.lastAck = d, sip.NegotiateUAC(res, x.requestedSE), ack
	edge.byeSent, edge.byeDone = false, false
	edge.policy = x.policy
	c.armSessionTimer(edge)
	c.relog(c.callee.dialog.CallID)
	if c.media.relay != nil {
		c.media.relay.SetLogger(c.media.log.Logger())
	}
	c.log.Info().Str("target", x.target).Str("released_call_id", old.dialog.CallID).
		Msg("transfer answered: the PSTN party is with the target, the transferor's leg released, call anchored")
	c.repointGateway(gwSDP)
}

// dropOffer ends the offer in progress for its sender, whose leg a
// transfer replaces or whose transferor hung up: its request gets code
// and what it staged is dropped (abortOffer). One that went to the PSTN
// party's leg, which the call keeps, is not over there: its re-INVITE is
// CANCELled (at its first provisional, RFC 3261 §9.1; an UPDATE cannot
// be) and it stays the call's offer, superseded, until the far side's
// final response (ACKed, binding nothing: onOfferAnswer), so that no
// INVITE of ours crosses it in that dialog (RFC 3261 §14.1): the re-point
// waits for it. One that went to the transferor's leg stays in that
// dialog, whose answer is its own (onOfferAnswer: stale).
func (c *call) dropOffer(code int, phrase string) {
	off := c.offer
	if off == nil || off.superseded {
		return
	}
	if c.other(off.from).side != c.deps.gw || off.out == nil {
		c.abortOffer(code, phrase)
		return
	}
	if off.ro != nil { // a rollback has nothing staged
		c.media.refuse(off.ro)
	}
	if off.cancelled {
		// Its sender CANCELled it and has its 487; our CANCEL has gone,
		// or goes with the first provisional (onReInviteCancel).
		off.superseded, off.in, off.ro = true, nil, nil
		return
	}
	replyOffer(off.in, code, phrase)
	off.superseded, off.in, off.ro = true, nil, nil
	if off.out.req.IsInvite() {
		if off.provisional {
			c.cancelOffer(off, "")
		} else {
			off.cancelDue = true
		}
	}
}

// inviteInProgress tells whether an INVITE exchange is in progress in
// l's dialog, in either direction, which another INVITE of ours there
// must not cross (RFC 3261 §14.1): an offer (the call's offers are
// between its two legs, relayed either way, and a superseded one is
// waiting for its final response), our 2xx to l's peer's INVITE waiting
// for its ACK, our session refresh or re-point re-INVITE.
func (c *call) inviteInProgress(l *leg) bool {
	return c.offer != nil || l.ok != nil || l.refreshing
}

// maxRepointGlare bounds the re-INVITEs of the PSTN party that meet 491,
// or 500 with Retry-After.
const maxRepointGlare = 3

// maxRepointRetryAfter bounds the Retry-After of a 500 to the re-point
// that is waited for: RFC 3261 §14.2's 500 for an INVITE crossing another
// gives 0 to 10 s.
const maxRepointRetryAfter = 10 * time.Second

// repointGateway re-INVITEs the PSTN party's leg to the relay with body,
// the SDP of the transferred call, once no other INVITE exchange is in
// progress in that dialog (RFC 3261 §14.1: an offer pending there, our
// 2xx waiting for its ACK, our session refresh): right after the event
// that ends it (whenIdle), the PSTN party having no media path until
// then. Until it has its answer, a REFER gets 491 (performTransfer). Its
// old media path is gone (the relay it used is closed): a 491, or a 500
// with a Retry-After of at most maxRepointRetryAfter (RFC 3261 §14.2: an
// INVITE of the SBC's crossed it), is retried after the RFC 3261 §14.1
// wait (the Retry-After's, if longer), then once that dialog is idle, up
// to maxRepointGlare times; any other refusal, or no answer, ends the
// call (transfer_failed) rather than leave the two parties without audio.
func (c *call) repointGateway(body []byte) {
	g := c.legOf(c.deps.gw)
	c.repointing = true
	if c.inviteInProgress(g) {
		c.log.Info().Msg("transfer re-INVITE to the PSTN party waits for the end of the exchange in progress in its dialog")
	}
	c.whenIdle(g, func() { c.repointTry(body, 0) })
}

// repointRetry tells whether r, a response to the re-point in g's dialog,
// says an INVITE of the SBC's crossed it, and after how long it may go
// again: a 491 after the RFC 3261 §14.1 wait, a 500 with a Retry-After of
// at most maxRepointRetryAfter (RFC 3261 §14.2) after that or the wait,
// whichever is longer.
func (c *call) repointRetry(g *leg, r *gosip.Response) (time.Duration, bool) {
	switch secs, ok := retryAfter(r); {
	case r.StatusCode == 491:
		return c.glareWait(g), true
	case r.StatusCode == 500 && ok && time.Duration(secs)*time.Second <= maxRepointRetryAfter:
		return max(c.glareWait(g), time.Duration(secs)*time.Second), true
	}
	return 0, false
}

func (c *call) repointTry(body []byte, glare int) {
	g := c.legOf(c.deps.gw)
	d := g.dialog
	contact := d.OurContact()
	reinv := d.NewRequest(gosip.INVITE, 0, body, &contact)
	reinv.AppendHeader(sip.OptionHeader("Supported", g.supported()...))
	if g.timer.Active && g.timer.WeRefresh {
		// A re-INVITE refreshes the session too (RFC 4028 §7.4), as our
		// relayed re-offers do (sendOffer).
		for _, h := range sip.RequestHeaders(g.timer.Interval, g.policy.SessionTimer.Min()) {
			reinv.AppendHeader(h)
		}
	}
	var wait timerID
	var ack *gosip.Request
	final := false
	fail := func(why string) {
		c.log.Warn().Str("why", why).Msg("transfer re-INVITE to the PSTN party failed: the call ends")
		c.hangup(nil, "transfer_failed")
	}
	out, err := c.sendIn(g, d, reinv, func(r *gosip.Response) {
		if r.IsSuccess() && ack != nil {
			c.ackReinvite(d, reinv, r, &ack) // a retransmitted 2xx
			return
		}
		if !r.IsProvisional() {
			final = true
			g.refreshing = false
			c.cancel(wait)
		}
		switch {
		case r.IsProvisional():
		case r.IsSuccess():
			c.repointing = false
			c.ackReinvite(d, reinv, r, &ack)
			g.lastAck = ack
			if t := sip.NegotiateUAC(r, g.timer.Interval); t.Active {
				g.timer = t
				c.armSessionTimer(g)
			}
			// An answer that moves its media binds us as an offer would.
			c.peerAnswered(g, r.Body())
		default:
			retryIn, retry := c.repointRetry(g, r)
			if !retry || glare >= maxRepointGlare {
				fail(strconv.Itoa(r.StatusCode) + " " + r.Reason)
				return
			}
			c.log.Info().Int("code", r.StatusCode).Int64("retry_in_ms", retryIn.Milliseconds()).Msg("transfer re-INVITE to the PSTN party met another INVITE in its dialog: trying again")
			c.after(retryIn, func() {
				if c.live() {
					c.whenIdle(g, func() { c.repointTry(body, glare+1) })
				}
			})
		}
	}, func(err error) {
		if !final {
			final = true
			g.refreshing = false
			c.cancel(wait)
			fail(err.Error())
		}
	})
	if err != nil {
		fail("not sent: " + err.Error())
		return
	}
	// An INVITE of ours is in progress in that dialog: a crossing one of
	// the PSTN party's, or an offer of the target's for it, gets 491
	// (RFC 3261 §14.1), as during our session refresh.
	g.refreshing = true
	// Our own 64*T1 (sipgo's Timer B follows its process-wide T1).
	wait = c.after(c.deps.sip.Timeout(), func() {
		if !final {
			final = true
			g.refreshing = false
			c.terminate(out)
			fail("no answer")
		}
	})
}

// releaseLeg hangs up the transferor's old leg after a transfer.
func (c *call) releaseLeg(old *leg) {
	if old.byeSent || old.byeDone || c.state == stateEnded {
		// Already hung up by the client (onReleased), or the call is over.
		return
	}
	// As any leg's BYE: the dialog's next target tried, an undelivered
	// one recorded, an ending call waiting for it (maybeFinish).
	c.bye(old)
}

// maxReleasedLegs bounds the released legs a call keeps whose dialogs
// are over: a call transferred on and on (each target transferring it
// again) keeps the latest ones, enough for their transferors' late
// requests.
const maxReleasedLegs = 8

// release adds old, a transferor's edge leg the call no longer has, to
// c.extra.released: requests in its dialog are its own, not the edge leg's
// (onReleased). Beyond maxReleasedLegs the oldest leg whose dialog is
// over goes. A leg whose dialog is not over never goes: dropped, it
// would get no BYE when the call ends (hangup BYEs the released legs it
// has), and its transferor's dialog would stay open for good. When none
// is over, the oldest not yet hung up (its final NOTIFY unanswered:
// releaseLeg waits for that) gets its BYE now, so a leg stays beyond the
// bound only while its BYE is under way (answered, or given up, within
// the BYE's wait) and the next release drops it.
func (c *call) release(old *leg) {
	x := c.extras()
	r := x.released
	for len(r) >= maxReleasedLegs {
		i := slices.IndexFunc(r, func(l *leg) bool { return l.byeDone })
		if i < 0 {
			break
		}
		r = slices.Delete(r, i, i+1)
	}
	if len(r) >= maxReleasedLegs {
		if i := slices.IndexFunc(r, func(l *leg) bool { return !l.byeSent }); i >= 0 {
			c.log.Info().Str("released_call_id", r[i].dialog.CallID).Int("released_legs", len(r)+1).
				Msg("too many released legs: the oldest still open is hung up before its final NOTIFY is answered")
			c.releaseLeg(r[i])
		}
	}
	x.released = append(r, old)
}

// releasedLegs are the call's released legs, oldest first.
func (c *call) releasedLegs() []*leg {
	if c.extra == nil {
		return nil
	}
	return c.extra.released
}

// releasedLeg is the released leg whose Call-ID is callID, nil for none.
func (c *call) releasedLeg(callID string) *leg {
	for _, r := range c.releasedLegs() {
		if r.dialog.CallID == callID {
			return r
		}
	}
	return nil
}

// onReleased answers a request in one of the transferors' released legs:
// its BYE (first, or crossing ours) gets 200 and ends nothing; once its
// dialog is over (our BYE answered, or its own taken) a BYE gets 481,
// and so does anything else at any time. false: in of none of them.
func (c *call) onReleased(in *sip.Incoming) bool {
	if in.Req.CallID() == nil {
		return false
	}
	r := c.releasedLeg(string(*in.Req.CallID()))
	if r == nil || in.Side != r.side {
		return false
	}
	if !in.Req.IsAck() && !c.fromOwnPeer(r, in) {
		c.refuseForeign(r, in) // as for the call's own legs (dialogtrust.go)
		return true
	}
	switch {
	case in.Req.IsAck():
	case in.Req.Method == gosip.BYE && !r.byeDone:
		r.byeDone = true
		_ = in.Reply(200, "OK", "")
		c.log.Info().Msg("the transferor hung up its released leg")
	default:
		_ = in.Reply(481, "Call/Transaction Does Not Exist", "")
	}
	return true
}

// transferFailed ends a transfer that did not happen: the call goes on as
// it was; the client's subscription says why.
func (c *call) transferFailed(edge *leg, code int, reason string) {
	x := c.xfer
	if x == nil {
		return
	}
	c.dropXfer(x)
	x.plan.closeRelay()
	if x.transferorGone {
		c.transferLost(edge, code)
		return
	}
	c.log.Info().Int("code", code).Str("target", x.target).Msg("transfer failed; the call goes on")
	c.notifyTransfer(edge, x, sipfrag(code, reason), true, nil)
}

// notifyTransfer sends the subscriber of x's REFER a NOTIFY with frag in
// l's dialog; then (nil: nothing) runs once it has an outcome, or could
// not be sent. The Event names the REFER's CSeq (RFC 3515 §2.4.6: a
// MUST from a dialog's second REFER on, harmless on the first); the
// Contact is ours, as NOTIFY, a target refresh request, must carry (RFC
// 6665 §7.1, §4.3); an active subscription's expires is what is left of
// it (RFC 6665 §4.2.2).
func (c *call) notifyTransfer(l *leg, x *transfer, frag string, final bool, then func()) {
	if x.subEnded {
		// Its final NOTIFY went when it ended (endTransferSubscription).
		if then != nil {
			then()
		}
		return
	}
	state := "terminated;reason=noresource"
	if !final {
		state = "active;expires=" + strconv.FormatInt(x.expiresLeft(), 10)
	}
	x.lastFrag = frag
	c.sendTransferNotify(l, x, frag, state, then)
}

// endTransferSubscription ends x's subscription before the transfer's
// outcome, at the transferor's unsubscribe or when the time a refresh
// granted runs out: its final NOTIFY says terminated;reason=timeout (RFC
// 6665 §4.1.3: the subscription was not refreshed; §4.1.2.3, §4.2.2: a
// notifier sends one as a subscription ends) with the target's latest
// progress. The transfer goes on without it (RFC 3515 ties no transfer to
// its subscription).
func (c *call) endTransferSubscription(l *leg, x *transfer) {
	c.cancel(x.subTimer)
	x.subEnded = true
	c.log.Info().Str("target", x.target).Msg("the transferor's subscription to its REFER ended while the target rings: the transfer goes on")
	c.sendTransferNotify(l, x, x.lastFrag, "terminated;reason=timeout", nil)
}

// sendTransferNotify sends notifyTransfer's NOTIFY with Subscription-State
// state.
func (c *call) sendTransferNotify(l *leg, x *transfer, frag, state string, then func()) {
	contact := l.dialog.OurContact()
	n := l.dialog.NewRequest(gosip.NOTIFY, 0, nil, &contact)
	n.AppendHeader(gosip.NewHeader("Event", "refer;id="+strconv.FormatUint(uint64(x.referSeq), 10)))
	n.AppendHeader(gosip.NewHeader("Subscription-State", state))
	n.AppendHeader(gosip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	n.SetBody([]byte(frag + "\r\n"))
	done := func() {
		if then != nil {
			then()
			then = nil
		}
	}
	_, err := c.sendIn(l, l.dialog, n, func(res *gosip.Response) {
		if !res.IsProvisional() {
			done()
		}
	}, func(error) { done() })
	if err != nil {
		c.log.Debug().Err(err).Msg("NOTIFY of the transfer not sent")
		done()
	}
}
