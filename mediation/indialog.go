package mediation

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sdp"
	"github.com/mediation-emulator/mediation/sip"
)

// Requests from either leg's peer, in arrival order.

// onRequest routes a request of the call's peers.
func (c *call) onRequest(in *sip.Incoming) {
	req := in.Req
	if c.onReleased(in) {
		return // the transferor's released leg (transfer.go)
	}
	l := c.legOf(in.Side)
	if l == nil {
		goneAnswer(in)
		return
	}
	toTag, _ := req.To().Params.Get("tag")
	if ownPeerChecked(req.Method, toTag) && !c.fromOwnPeer(l, in) {
		c.refuseForeign(l, in)
		return
	}
	switch req.Method {
	case gosip.INVITE:
		if toTag == "" {
			c.onDuplicateInvite(in)
			return
		}
		c.inDialog(l, in, c.onReInvite)
	case gosip.ACK:
		c.onAck(l, in)
	case gosip.CANCEL:
		if toTag == "" {
			c.onCancel(in)
			return
		}
		c.onReInviteCancel(l, in)
	case gosip.BYE:
		c.inDialog(l, in, c.onBye)
	case gosip.PRACK:
		c.inDialog(l, in, c.onPrack)
	case gosip.UPDATE:
		c.inDialog(l, in, c.onUpdate)
	case gosip.REFER:
		c.inDialog(l, in, c.onRefer)
	case gosip.NOTIFY:
		c.inDialog(l, in, c.onNotify)
	case gosip.SUBSCRIBE:
		c.inDialog(l, in, c.onSubscribe)
	case gosip.OPTIONS:
		_ = in.Reply(200, "OK", "", sip.CapabilityHeaders(l.supported()...)...)
	default:
		_ = in.Reply(405, "Method Not Allowed", "", gosip.NewHeader("Allow", sip.Allow))
	}
}

// inDialog checks a request against its dialog (RFC 3261 §12.2.2) before
// handle sees it: the dialog must exist and the CSeq must not go back.
func (c *call) inDialog(l *leg, in *sip.Incoming, handle func(*leg, *sip.Incoming)) {
	d := c.dialogOf(l, in.Req)
	if d == nil {
		_ = in.Reply(481, "Call/Transaction Does Not Exist", "")
		return
	}
	if err := c.checkRemoteSeq(l, d, in.Req); err != nil {
		_ = in.Reply(500, "Server Internal Error - CSeq out of order", "")
		return
	}
	if bad := sip.Unsupported(in.Req, l.supported()...); len(bad) > 0 {
		// RFC 3261 §8.2.2.3, for every request but ACK and CANCEL (which
		// do not come here): a BYE or re-INVITE requiring what we do not
		// do is refused, and the call goes on as it was.
		c.log.Info().Strs("unsupported", bad).Str("method", string(in.Req.Method)).Msg("in-dialog request requires extensions we do not support: 420")
		_ = in.Reply(420, "Bad Extension", "", sip.OptionHeader("Unsupported", bad...))
		return
	}
	d.Heard(in.Req)
	handle(l, in)
}

// dialogOf is the dialog of l a request from its peer belongs to: the
// caller's one dialog, or the callee's dialog (or early dialog), whose
// remote tag must be the request's From-tag (RFC 3261 §12.2.2: the
// registry found the call by Call-ID and our To-tag alone; a request
// with another From-tag is in no dialog of ours, whoever guessed the
// rest).
func (c *call) dialogOf(l *leg, req *gosip.Request) *sip.Dialog {
	tag, _ := req.From().Params.Get("tag")
	if l == &c.caller.leg {
		if l.dialog.RemoteTag != tag {
			return nil
		}
		if c.state >= stateAnswered {
			// Our early dialogs of the callee's forks that did not
			// answer ended with the 2xx (RFC 3261 §13.2.2.4): a request
			// in one (their To-tags stay registered, to be told apart)
			// is in no dialog.
			if ours, _ := req.To().Params.Get("tag"); ours != l.dialog.LocalTag {
				return nil
			}
		}
		return l.dialog
	}
	if d := c.callee.dialog; d != nil && d.RemoteTag == tag {
		return d
	}
	return c.callee.early[tag]
}

// onAck takes the ACK of a 2xx of ours.
func (c *call) onAck(l *leg, in *sip.Incoming) {
	if c.dialogOf(l, in.Req) == nil {
		// Another From-tag: not this dialog's ACK (RFC 3261 §12.2.2). It
		// gets no response, and our 2xx goes on until the real one.
		return
	}
	c.ackFor(l, in.Req)
}

// onBye ends the call on a BYE from either leg.
func (c *call) onBye(l *leg, in *sip.Incoming) {
	a := c.caller
	_ = in.Reply(200, "OK", "")
	if c.live() {
		c.reason = reasonOf(in.Req)
	}
	switch {
	case !c.live():
		// A BYE racing our own end of the call: that leg is over.
		if !l.byeDone {
			l.byeDone = true
			c.maybeFinish()
		}
	case l == &a.leg && a.final() == 0:
		// RFC 3261 §15: a BYE of the caller in the early dialog ends the
		// INVITE (487) and the callee is cancelled.
		c.log.Info().Msg("caller sent BYE before the answer")
		c.failSetup(setupError{487, "Request Terminated", "canceled"})
	case c.state != stateAnswered:
		// The callee hung up an early dialog: the call cannot complete.
		c.failSetup(setupError{480, "Temporarily Unavailable", "callee_bye"}, clones(c.reason)...)
	case c.xfer != nil && l.side == c.deps.edge:
		// The transferor hangs up once its REFER is accepted, while the
		// target rings (transfer.go).
		c.transferorLeft(l)
	default:
		c.hangup(l, "bye from "+l.side.Name)
	}
}

// relayedOffer is a re-offer (re-INVITE or UPDATE with SDP) from one leg,
// relayed to the other; staged in the media plan until the answer.
type relayedOffer struct {
	from  *leg
	in    *sip.Incoming
	ro    *reoffer
	out   *outgoing
	timer timerID
	// method and body are the request sent the other leg, for a resend.
	method gosip.RequestMethod
	body   []byte
	// dialog is the other leg's dialog the offer first went in (one of
	// the client's early dialogs: forkDialog): its resends (a 422 retry,
	// the 405/501 re-INVITE) and its rollback go there too, not to
	// whichever fork was heard last by then.
	dialog *sip.Dialog
	// ourTag is our tag in the caller's early dialog the offer goes in
	// when it is not the caller dialog's own: an inbound call's client
	// fork's UPDATE goes to the SBC in that fork's early dialog with it
	// (callerForkTag), as its resends and rollback do. "" otherwise.
	ourTag string
	// ack is our ACK of a 2xx to the re-INVITE out (ackReinvite).
	ack *gosip.Request
	// session is the session timer of from's dialog once our 2xx to in is
	// sent (renegotiateTimer): until then, and for good if the offer is
	// refused, the dialog's timer is as it was (RFC 4028: only a 2xx
	// changes it).
	session sip.SessionTimer
	// rollback: not a peer's offer but ours, restoring the session of the
	// other leg's peer (rollback.go); glare counts its 491s. words: what
	// its logs and end reason call it, nil for a rollback's (an offer of
	// ours that moves the caller to the session of our 200, earlymove.go,
	// is handled as a rollback but for those).
	rollback bool
	words    *offerWords
	glare    int
	// cancelled: its offerer CANCELled its re-INVITE, answered 487 at
	// once (RFC 3261 §9.2); the offer stays the call's until the far
	// side's final response, which a 2xx crossing our CANCEL makes one we
	// roll back (onOfferAnswer).
	cancelled bool
	// provisional: the far side sent a provisional response to the
	// relayed re-INVITE; cancelDue: its offerer CANCELled it before one
	// came, so our CANCEL waits for one (RFC 3261 §9.1).
	provisional, cancelDue bool
	// superseded: a transfer ended the offer for its sender (dropOffer)
	// while it was pending at the PSTN party's leg, which the call keeps:
	// its sender has its answer, nothing is staged, and it stays the
	// call's offer only until the far side's final response, so that no
	// INVITE of ours crosses it in that dialog (RFC 3261 §14.1).
	superseded bool
	// lost: the connection the relayed re-INVITE went on ended before a
	// final response (the SBC closed it, as one with short-lived
	// connections does); the offer waits for the response over another
	// connection (RFC 3261 §18.2.2), which comes as a stray (onStray),
	// until its timer.
	lost bool
	// answer is the peer's answer (in an ACK, a refresh's 2xx) this offer
	// was made from (in is nil), for a resend after the far side's 491;
	// answers is that peer's count of answers then (leg.answers).
	answer  []byte
	answers uint8
}

// offersOf tells whether the offer in progress is l's peer's own, still
// waiting for the other peer's answer (RFC 3261 §14.2: its next one gets
// 500 with Retry-After). A rollback of that peer's refused offer is ours,
// to the other peer: an offer crossing it is glare.
func (c *call) offersOf(l *leg) bool {
	return c.offer != nil && c.offer.from == l && !c.offer.rollback && !c.offer.cancelled && !c.offer.superseded
}

// onReInvite handles a re-INVITE: relayed to the other leg when it has
// SDP, answered locally with the leg's current SDP when it has none (a
// session refresh).
func (c *call) onReInvite(l *leg, in *sip.Incoming) {
	switch {
	case c.state == stateEnding:
		// Our BYE is on its way: the dialog is over for us. 491 would have
		// the peer try again (RFC 3261 §14.1).
		_ = in.Reply(481, "Call/Transaction Does Not Exist", "")
		return
	case c.offersOf(l), l.ok != nil, c.state != stateAnswered && l == &c.caller.leg:
		// l's peer sent another INVITE while one of its own is not done
		// with (the caller's first one, or a re-INVITE waiting for the
		// other leg or for its ACK): RFC 3261 §14.2.
		c.retryLater(in)
		return
	case c.state != stateAnswered, c.offer != nil, c.other(l).ok != nil, l.refreshing, c.other(l).refreshing:
		// An INVITE towards the other peer is in progress (the initial
		// INVITE to the callee, a re-offer relayed from l's side, or our
		// 2xx to the other peer still waiting for its ACK, perhaps with an
		// offer in it), or our own session refresh re-INVITE on either
		// leg: relaying this one would cross it (RFC 3261 §14.1, §14.2,
		// RFC 3264 §4). Glare.
		_ = in.Reply(491, "Request Pending", "")
		return
	}
	l.dialog.Refresh(in.Req)
	timer, ok := c.renegotiateTimer(l, in)
	if !ok {
		return
	}
	if len(in.Req.Body()) == 0 {
		// Our 200 offers the SDP the leg already has; the ACK answers it
		// (RFC 3261 §13.2.1, §14).
		c.answerLocally(l, in, timer, c.sendLegSDP(l))
		return
	}
	c.relayOffer(l, in, in.Req.Method, in.Req.Body(), timer)
}

// unchangedOffer reports an offer of l's peer that repeats prev, the SDP
// it last sent, o= version included: RFC 3264 §8 has any change increment the
// version, so it modifies nothing. SBCs send such re-INVITEs and UPDATEs to
// refresh the session (RFC 4028) or to check the dialog.
func (c *call) unchangedOffer(l *leg, prev, offer sdp.Media) bool {
	return len(c.legSDP(l)) > 0 && offer.OriginSessionID == prev.OriginSessionID &&
		offer.OriginVersion == prev.OriginVersion && sdp.SameStream(offer, prev) && sdp.SameLayout(offer, prev)
}

// answerUnchanged answers an offer that changes nothing for the other
// peer (unchangedOffer; or, anchored, a peer moving its media, moveMedia)
// itself with the SDP l's peer already has from us: the other peer, whose
// session does not change, is not asked (an SfB client would see a
// re-INVITE at every refresh of the SBC's session timer). timer is l's
// session timer from our 2xx on (renegotiateTimer).
func (c *call) answerUnchanged(l *leg, in *sip.Incoming, timer sip.SessionTimer) {
	c.log.Debug().Str("leg", l.role).Str("method", in.Req.Method.String()).Msg("offer answered without the other leg: nothing changes for it")
	c.answerLocally(l, in, timer, c.sendLegSDP(l))
}

// answerLocally answers in, a request of l's peer that the other leg is
// not asked about (a session refresh, an offer that changes nothing for
// the other peer), with 200 and body; timer is l's session timer from
// that 200 on (renegotiateTimer). Only a 2xx refreshes the session (RFC
// 4028): a 200 too large for UDP, which the requester got as 513 instead,
// leaves l's timer and its expiry as they were.
func (c *call) answerLocally(l *leg, in *sip.Incoming, timer sip.SessionTimer, body []byte) {
	prev := l.timer
	l.timer = timer // the 200 names the new interval and refresher
	res := c.inDialogResponse(l, in, 200, "OK", body)
	var err error
	if in.Req.IsInvite() {
		err = c.sendOK(l, in, res, func(ack *gosip.Request) { c.onAckAnswer(l, ack) },
			func() { c.hangup(nil, "no ACK for our 2xx to a re-INVITE") })
	} else {
		err = in.Respond(res)
	}
	if errors.Is(err, sip.ErrMessageTooLarge) {
		c.log.Info().Str("leg", l.role).Str("method", in.Req.Method.String()).
			Msg("our 200 too large for UDP, 513 sent instead: session timer left as it was")
		l.timer = prev
		return
	}
	c.armSessionTimer(l)
}

// onAckAnswer takes the answer in the ACK of our 200 to a re-INVITE
// without SDP, which offered l's peer the SDP it already had. An answer
// that changes nothing of its media (the usual session refresh) is the end
// of it; one that does (a new address or port, a codec, hold) binds us as
// an offer of that peer would, and goes to the other leg like one, with no
// request to answer when it comes back.
func (c *call) onAckAnswer(l *leg, ack *gosip.Request) { c.peerAnswered(l, ack.Body()) }

// peerAnswered takes body, an answer of l's peer to an offer of ours that
// repeated the SDP it already had (our 2xx to its SDP-less re-INVITE,
// answered in the ACK; our session refresh re-INVITE, answered in its
// 2xx): one that changes its media binds us as its own offer would.
func (c *call) peerAnswered(l *leg, body []byte) {
	if len(body) == 0 || !c.live() {
		return
	}
	ans, err := sdp.Parse(body)
	if err != nil {
		c.log.Warn().Err(err).Str("leg", l.role).Msg("peer's answer (in an ACK or a refresh's 2xx) not usable: the session stays as it was")
		return
	}
	// Counted before the look for a change: a later answer, changing
	// nothing or not, is the peer's latest word, and an earlier one still
	// waiting (below) no longer goes.
	l.answers++
	if c.media.unchangedAnswer(l.media, ans) {
		return
	}
	if c.media.rekeyed(l.media, ans, body) {
		// At once, even with another offer in progress: the other peer
		// is not asked, and an offer staged meanwhile takes this peer's
		// key from its answer to it, or keeps what it has, at commit.
		return
	}
	busy := func() bool { return c.offer != nil || c.other(l).ok != nil || c.other(l).refreshing }
	if !busy() {
		c.log.Info().Str("leg", l.role).Msg("peer's answer (in an ACK or a refresh's 2xx) changes the media: relayed to the other leg unless only its address moved")
		c.relayOffer(l, nil, gosip.INVITE, body, l.timer)
		return
	}
	// An offer of ours is in progress (a relayed one, our refresh of the
	// other leg), or our 2xx to the other peer waits for its ACK: a
	// re-INVITE now would cross it (RFC 3261 §14.1). The answer binds
	// all the same (a new SRTP key the peer sends with from now on, a new
	// address): it goes once that is over, checked every T1, unless a
	// later answer of the peer's came meanwhile. Dropped, the peer's
	// media under its new key failed to decrypt until its next refresh.
	c.log.Info().Str("leg", l.role).Msg("peer's answer (in an ACK or a refresh's 2xx) changes the media while another offer is in progress: relayed once that is over")
	n, was := l.answers, c.media.latest(l.media)
	var retry func()
	retry = func() {
		switch {
		case !c.live() || l.answers != n:
		case busy():
			c.after(c.deps.sip.T1, retry)
		case !sdp.SameStream(c.media.latest(l.media), was):
			// The peer's SDP changed meanwhile (its own re-INVITE or
			// UPDATE, its answer to an offer we relayed it): this
			// answer is out of date.
			c.log.Info().Str("leg", l.role).Msg("peer's answer (in an ACK or a refresh's 2xx) waited for another offer, which changed its media since: dropped")
		case c.media.unchangedAnswer(l.media, ans):
		default:
			c.log.Info().Str("leg", l.role).Msg("peer's answer (in an ACK or a refresh's 2xx) changes the media: relayed to the other leg unless only its address moved")
			c.relayOffer(l, nil, gosip.INVITE, body, l.timer)
		}
	}
	c.after(c.deps.sip.T1, retry)
}

// onUpdate handles UPDATE (RFC 3311) in an early or confirmed dialog: with
// SDP it is relayed like a re-INVITE's offer, without it is a session
// refresh answered here.
func (c *call) onUpdate(l *leg, in *sip.Incoming) {
	if c.state == stateEnding {
		_ = in.Reply(481, "Call/Transaction Does Not Exist", "") // as onReInvite
		return
	}
	l.dialog.Refresh(in.Req)
	if len(in.Req.Body()) > 0 && (l.refreshing || c.other(l).refreshing) {
		// Our refresh re-INVITE (an offer) is in progress: glare (RFC
		// 3311 §5.2).
		_ = in.Reply(491, "Request Pending", "")
		return
	}
	if ok := l.ok; len(in.Req.Body()) > 0 && ok != nil {
		// Our 2xx to l's peer's INVITE still waits for its ACK. It
		// offered (the INVITE had no SDP; the answer is due in the ACK):
		// glare, RFC 3311 §5.2. Else the peer's INVITE is not done with
		// until its ACK, as for a re-INVITE (onReInvite): RFC 3261 §14.2.
		if len(ok.in.Req.Body()) == 0 && len(ok.res.Body()) > 0 {
			_ = in.Reply(491, "Request Pending", "")
		} else {
			c.retryLater(in)
		}
		return
	}
	if len(in.Req.Body()) > 0 && c.offer != nil {
		// RFC 3311 §5.2: an offer of l's peer still unanswered is 500
		// with Retry-After; one we sent it (relayed from the other leg,
		// or a rollback), glare.
		if c.offersOf(l) {
			c.retryLater(in)
		} else {
			_ = in.Reply(491, "Request Pending", "")
		}
		return
	}
	if len(in.Req.Body()) > 0 && c.state != stateAnswered {
		// RFC 3311 §5.1, §5.2 in an early dialog: the INVITE's offer must
		// have had its answer in a reliable provisional (the SDP of an
		// unreliable one is only a preview). The caller's INVITE is an
		// offer we received and have not answered: 500 with Retry-After;
		// ours to the callee an offer we sent that it has not answered:
		// glare, 491.
		ourTag, _ := in.Req.To().Params.Get("tag")
		switch {
		case l == &c.caller.leg && !c.caller.answered(in.Req) && c.media.offeredIn18x(ourTag):
			// A delayed offer's: the offer is ours, in our reliable 18x
			// there, its answer due in the PRACK: glare (RFC 3311 §5.2).
			_ = in.Reply(491, "Request Pending", "")
			return
		case l == &c.caller.leg && !c.caller.answered(in.Req):
			c.retryLater(in)
			return
		case l == &c.callee.leg && !c.callee.answered(in.Req):
			_ = in.Reply(491, "Request Pending", "")
			return
		}
		if why := c.earlyOfferBlocked(c.other(l), c.forkDialog(l, in)); why != "" {
			// Valid on l's side, but it cannot go on to the other peer
			// before the call is answered; then it would go as a
			// re-INVITE.
			c.retryLater(in, warning(l.side, why))
			return
		}
	}
	timer, ok := c.renegotiateTimer(l, in)
	if !ok {
		return
	}
	if len(in.Req.Body()) == 0 {
		c.answerLocally(l, in, timer, nil)
		return
	}
	if c.other(l).dialog == nil || !c.live() || c.other(l).ok != nil {
		// No dialog to relay it in yet, or our 2xx to the other peer
		// (perhaps with an offer) still waits for its ACK: glare.
		_ = in.Reply(491, "Request Pending", "")
		return
	}
	c.relayOffer(l, in, in.Req.Method, in.Req.Body(), timer)
}

// retryLater answers a request that arrived while an earlier one of the
// same peer is still being handled: 500 with a Retry-After of 0 to 10
// seconds, drawn at random (RFC 3261 §14.2, RFC 3311 §5.2).
func (c *call) retryLater(in *sip.Incoming, hdrs ...gosip.Header) {
	hdrs = append(hdrs, gosip.NewHeader("Retry-After", strconv.Itoa(rand.IntN(11))))
	_ = in.Reply(500, "Server Internal Error - request pending", "", hdrs...)
}

// noEarlyUpdate is why an offer cannot go to a peer that does not do
// UPDATE before the call is answered.
const noEarlyUpdate = "the other side does not take UPDATE before the call is answered"

// earlyOfferBlocked is why an offer cannot be sent to to's peer in its
// early dialog, "" when it can. RFC 3311 §5.1: the peer must not have
// left UPDATE out of an Allow (a peer that sent none is given the benefit of
// the doubt: SBCs omit Allow in 18x), and the INVITE's own offer must have
// had its answer reliably in that dialog (our reliable 18x to the caller,
// PRACKed; the callee's to us). fork is the client's early dialog the
// offer goes to when not to's latest (forkDialog), nil otherwise.
func (c *call) earlyOfferBlocked(to *leg, fork *sip.Dialog) string {
	d := to.dialog
	if fork != nil {
		d = fork
	}
	if d == nil || (len(d.Allow) > 0 || d.NoUpdate) && !d.Allows(gosip.UPDATE) {
		return noEarlyUpdate
	}
	var reliable bool
	if to == &c.callee.leg {
		reliable = slices.Contains(c.callee.reliableAnswers, d.RemoteTag)
	} else {
		reliable = slices.Contains(c.caller.reliableAnswers, c.caller.tag)
	}
	if !reliable {
		return "the other side's early answer was not reliable: its offer cannot be renegotiated before the call is answered"
	}
	return ""
}

// renegotiateTimer is the leg's session timer as a refresh (in, a
// re-INVITE or UPDATE) sets it, once our 2xx to it is sent: the caller
// applies it then, not before (a relayed offer may yet be refused, and a
// refused request changes nothing, RFC 4028). false when the request was
// refused here (422, 400).
func (c *call) renegotiateTimer(l *leg, in *sip.Incoming) (sip.SessionTimer, bool) {
	t, err := sip.NegotiateUAS(in.Req, l.policy.SessionTimer.Min())
	switch {
	case errors.Is(err, sip.ErrIntervalTooSmall):
		_ = in.Reply(422, "Session Interval Too Small", "", sip.MinSEHeader(sip.TooSmallMinSE(in.Req, l.policy.SessionTimer.Min())))
		return l.timer, false
	case err != nil:
		_ = in.Reply(400, "Bad Request - "+err.Error(), "")
		return l.timer, false
	}
	if t.Active || !l.timer.Active {
		return t, true
	}
	// No Session-Expires: the timer goes on, its refresher named as this
	// request sees it (the peer is its UAC) and never a peer that does
	// not support timers.
	return l.timer.KeptFor(in.Req), true
}

// inDialogResponse is our response to a request in l's dialog, with our
// Contact (target refresh responses need it) and l's session timer.
func (c *call) inDialogResponse(l *leg, in *sip.Incoming, code int, phrase string, body []byte) *gosip.Response {
	res := in.Response(code, phrase, "", body)
	if code >= 200 && code < 300 {
		contact := l.side.ContactFor(in.Req)
		res.AppendHeader(&contact)
		res.AppendHeader(sip.OptionHeader("Supported", l.supported()...))
		for _, h := range l.timer.AnswerHeaders(in.Req) {
			res.AppendHeader(h)
		}
	}
	return res
}

// relayOffer stages the offer (body, in a request of method) of l's peer
// and sends it to the other leg: UPDATE when the request was an UPDATE
// and the other peer allows it (the only way in an early dialog), else
// re-INVITE. in is the request to answer; nil when the offer came in an
// ACK (onAckAnswer), which nothing answers. timer is l's session timer
// once our 2xx to in is sent (renegotiateTimer).
func (c *call) relayOffer(l *leg, in *sip.Incoming, method gosip.RequestMethod, sdpBody []byte, timer sip.SessionTimer) {
	answer := sdpBody
	offer, err := sdp.Parse(sdpBody)
	if err != nil {
		why := "unparseable SDP in " + string(method)
		if errors.Is(err, sdp.ErrNoAudio) {
			// A switch to T.38 fax, or video alone: the SDP is fine.
			why = "no audio stream in the " + string(method) + "'s offer: only audio is relayed"
		}
		replyOffer(in, 488, "Not Acceptable Here", warning(l.side, why))
		return
	}
	offer, sdpBody = c.media.usableOffer(l.media, offer, sdpBody) // as a first offer (inboundOffer)
	if c.state == stateAnswered {
		// Parsed once for both: a settled call keeps only its body.
		prev := c.media.latest(l.media)
		if c.unchangedOffer(l, prev, offer) || c.media.moveMedia(l.media, prev, offer, sdpBody) {
			if in != nil { // an answer (in an ACK, a refresh's 2xx) wants no reply
				c.answerUnchanged(l, in, timer)
			}
			return
		}
	}
	to := c.other(l)
	if to.side == c.deps.edge && c.transferorGone() {
		// The transferor hung up while the target rings: its dialog is
		// over (a request in it gets 481, which would end the PSTN
		// party's call) and nobody can answer the offer yet (answered
		// here, it would bind a session the target never agreed to).
		// 491, as to an offer crossing one of ours: the PSTN party
		// offers again after the RFC 3261 §14.1 wait, to the target once
		// it has answered. An answer (in an ACK, a refresh's 2xx) is not
		// relayed either: the re-point offers the whole session.
		c.log.Info().Str("method", string(method)).Msg("re-offer of the PSTN party while the transferor is gone and the transfer target rings: not relayed, 491")
		replyOffer(in, 491, "Request Pending")
		return
	}
	if method != gosip.UPDATE || (!to.dialog.Allows(gosip.UPDATE) && c.state == stateAnswered) {
		method = gosip.INVITE
	}
	if method == gosip.INVITE && c.state != stateAnswered {
		replyOffer(in, 491, "Request Pending")
		return
	}
	ro, body, err := c.media.reOffer(l.media, offer, sdpBody, in == nil)
	if err != nil {
		c.log.Warn().Err(err).Str("leg", l.role).Msg("re-offer refused: not relayed to the other peer")
		replyOffer(in, 488, "Not Acceptable Here", warning(l.side, err.Error()))
		return
	}
	off := &relayedOffer{from: l, in: in, ro: ro, method: method, body: body, session: timer}
	if in == nil {
		off.answer, off.answers = answer, l.answers
	}
	c.offer = off
	c.sendOffer(off)
}

// sendOffer sends the staged offer off to the other leg (again after a
// 422 that raised that leg's session interval).
func (c *call) sendOffer(off *relayedOffer) {
	to := c.other(off.from)
	d := off.dialog
	if d == nil {
		d = c.forkDialog(off.from, off.in)
	}
	if d == nil {
		d = to.dialog
		off.ourTag = c.callerForkTag(off.from, off.in)
	}
	off.dialog = d
	contact := d.OurContact()
	req := newRequestAs(d, off.ourTag, off.method, off.body, &contact)
	req.AppendHeader(sip.OptionHeader("Supported", to.supported()...))
	if to.timer.Active && to.timer.WeRefresh {
		// Our re-offer refreshes that leg's session as well (RFC 4028 §7.4).
		for _, h := range sip.RequestHeaders(to.timer.Interval, to.policy.SessionTimer.Min()) {
			req.AppendHeader(h)
		}
	}
	var err error
	off.ack = nil    // a new request: its 2xx gets an ACK of its own
	off.lost = false // and a connection of its own (r27-review3 F3)
	off.out, err = c.sendIn(to, d, req, func(res *gosip.Response) { c.onOfferAnswer(off, res) },
		func(err error) {
			if c.offer != off {
				return
			}
			if errors.Is(err, sip.ErrTransport) && off.out.req.IsInvite() {
				// Its connection ended under it: a transport error is a
				// 503 to that transaction (RFC 3261 §8.1.3.1), not the
				// call's end, and the far side may answer over a new
				// connection (§18.2.2). The offer waits for that, until
				// its timer (off.timer: 64*T1 ends it as any unanswered
				// offer). It used to end the call at once. A response
				// over the new connection may have come first (onStray
				// set lost).
				if !off.lost {
					off.lost = true
					c.log.Info().Err(err).Str("leg", c.other(off.from).role).
						Msg("connection of the relayed re-INVITE ended before its answer: waiting for one over another connection")
				}
				return
			}
			c.log.Warn().Err(err).Msg("re-offer got no answer")
			c.offerUnanswered()
		})
	if err == nil && off.ro != nil {
		off.ro.out = true
	}
	if err != nil {
		c.log.Warn().Err(err).Msg("re-offer not sent")
		c.abortOffer(503, "Service Unavailable")
		if off.rollback {
			c.endForOffer(off.failReason(), failedRollback)
		}
		return
	}
	off.timer = c.after(c.deps.sip.Timeout(), func() {
		if c.offer == off {
			c.terminate(off.out)
			c.offerUnanswered()
		}
	})
}

// dialogGone tells whether d, a dialog of leg to that an offer went in, is
// no longer one the call's offers are answered in: neither the leg's
// dialog nor, before the answer, one of the client's early dialogs.
func (c *call) dialogGone(to *leg, d *sip.Dialog) bool {
	return d != to.dialog && (c.state == stateAnswered || to != &c.callee.leg || c.callee.early[d.RemoteTag] != d)
}

// offerUnanswered ends the call whose relayed re-offer got no response at
// all: RFC 3261 §12.2.1.2 has the dialog terminated, as for a 408 or 481
// (onOfferAnswer). Kept up, its peers would disagree about the session (a
// late 2xx the far side sent us, a 408 its offerer got). A late 2xx is
// then a stray one of an ended call: ACKed and hung up.
func (c *call) offerUnanswered() {
	if off := c.offer; off != nil && off.superseded {
		// Its sender has its answer and the transfer's re-point offers
		// the session: the far side, which never answered (our CANCEL
		// neither), is taken to have cancelled it (RFC 3261 §9.1), and
		// the call goes on.
		c.log.Info().Str("leg", c.other(off.from).role).Msg("superseded re-offer got no final response from the far side: taken as cancelled")
		c.cancel(off.timer)
		c.offer = nil
		return
	}
	if off := c.offer; off != nil && off.cancelled {
		// Its offerer has its 487 and its session: the far side, which
		// answered our CANCEL (or not) but never the re-INVITE, is taken
		// to have cancelled it too (RFC 3261 §9.1: the transaction is
		// considered cancelled after 64*T1), and the call goes on.
		c.log.Info().Str("leg", c.other(off.from).role).Msg("cancelled re-offer got no final response from the far side: taken as cancelled")
		c.cancel(off.timer)
		c.offer = nil
		c.media.refuse(off.ro)
		return
	}
	reason, se := "re-offer: no answer", setupError{408, "Request Timeout", "reoffer_no_answer"}
	if c.offer != nil && c.offer.rollback {
		reason, se = c.offer.failReason(), failedRollback
	}
	c.abortOffer(408, "Request Timeout")
	c.endForOffer(reason, se)
}

// onOfferAnswer takes the other leg's answer to a relayed offer.
func (c *call) onOfferAnswer(off *relayedOffer, res *gosip.Response) {
	to := c.other(off.from)
	// The dialog the offer went in: a transfer may have given the leg
	// another one since (the offer was then aborted); the answer is that
	// old dialog's alone.
	d := off.out.dialog
	// Or one of the client's forks, still early (forkDialog).
	stale := c.dialogGone(to, d)
	switch {
	case res.IsSuccess() && off.out.req.IsInvite():
		// ACK every 2xx (retransmissions too) of our re-INVITE, whether
		// or not the offer is still the call's.
		if c.ackReinvite(d, off.out.req, res, &off.ack) && !stale {
			to.lastAck = off.ack
		}
	case res.IsSuccess():
		d.Refresh(res) // an UPDATE is a target refresh too (RFC 3311 §5.2)
	}
	if res.IsProvisional() && c.offer == off {
		off.provisional = true
		if off.cancelDue {
			off.cancelDue = false
			c.cancelOffer(off, res.Source())
		}
	}
	if res.IsProvisional() || c.offer != off || stale {
		return
	}
	if off.superseded {
		// Its 2xx is ACKed (above) and binds nothing: the transfer's
		// re-point, which waited for this, offers the session.
		c.log.Info().Int("code", res.StatusCode).Str("leg", to.role).Msg("re-offer superseded by the transfer answered by the far side")
		c.cancel(off.timer)
		c.offer = nil
		return
	}
	if off.cancelled {
		c.cancel(off.timer)
		c.offer = nil
		if !res.IsSuccess() {
			c.media.refuse(off.ro)
			return
		}
		// Its 2xx crossed our CANCEL: the far side took the offer its
		// offerer cancelled and was answered 487 for, and the two no
		// longer agree. It is offered its earlier session again, as the
		// far side of an answer we cannot use is (rollback.go).
		c.log.Warn().Str("leg", to.role).Msg("far side took a re-offer its offerer cancelled (its 2xx crossed our CANCEL): offering it its earlier session again")
		c.rollback(off, false)
		return
	}
	if min, ok, _ := sip.ParseMinSE(res); res.StatusCode == 422 && ok && to.timer.Active && to.timer.WeRefresh && min > to.timer.Interval {
		// The 422 is about the Session-Expires we put on that leg, not
		// about the offer: again with its Min-SE (RFC 4028 §7.4), the
		// requester never sees it.
		c.log.Info().Int64("min_se_s", int64(min/time.Second)).Str("leg", to.role).Msg("422 to a relayed offer: sent again with the leg's Min-SE")
		to.timer.Interval = min
		c.cancel(off.timer)
		c.sendOffer(off)
		return
	}
	refusesUpdate := off.method == gosip.UPDATE && sip.RefusesMethod(res, gosip.UPDATE)
	if refusesUpdate {
		// The far side does not do UPDATE after all, whatever its Allow
		// said (405 without UPDATE in the 405's Allow, 501): not for this
		// dialog's offers, relayed or ours, nor for its refreshes.
		d.NoUpdate = true
	}
	if refusesUpdate && c.state == stateAnswered {
		// A re-INVITE carries the same offer (RFC 3311 §5.1): sent at
		// once, the offerer never sees the refusal.
		c.log.Info().Int("code", res.StatusCode).Str("leg", to.role).Msg("relayed UPDATE refused as a method the far side does not do: sent again as a re-INVITE")
		c.cancel(off.timer)
		off.method = gosip.INVITE
		c.sendOffer(off)
		return
	}
	c.cancel(off.timer)
	c.offer = nil
	if off.rollback {
		c.onRollbackAnswer(off, res)
		return
	}
	if !res.IsSuccess() {
		c.media.refuse(off.ro)
		c.log.Info().Int("code", res.StatusCode).Msg("re-offer refused by the far side")
		switch {
		case refusesUpdate && off.in != nil:
			// In the early dialogs: no re-INVITE before the answer. Its
			// offerer may try again once the call is answered (then as
			// a re-INVITE), as when the far side's Allow had said so
			// (earlyOfferBlocked); the far side's 405 is about its
			// methods, not ours.
			c.retryLater(off.in, warning(off.from.side, noEarlyUpdate))
		case res.StatusCode == 405:
			// Relayed, a 405 must say what we allow (RFC 3261 §21.4.6).
			replyOffer(off.in, res.StatusCode, res.Reason, gosip.NewHeader("Allow", sip.Allow))
		case off.in != nil:
			// Never without the header its code needs (farfailure.go).
			code, phrase, hdrs := c.offerFailure(off, res)
			replyOffer(off.in, code, phrase, hdrs...)
		}
		switch {
		case res.StatusCode == 481 || res.StatusCode == 408:
			c.endForOffer("re-offer: dialog gone", setupError{480, "Temporarily Unavailable", "reoffer_dialog_gone"})
		case off.in == nil:
			c.answerOfferRefused(off, res)
		}
		return
	}
	if t := sip.NegotiateUAC(res, to.timer.Interval); t.Active {
		to.timer = t
		c.armSessionTimer(to)
	}
	body, err := c.media.commit(off.ro, res.Body(), off.in != nil)
	if err != nil && off.in == nil {
		// The offer was its peer's answer (in an ACK, in a refresh's
		// 2xx): that peer is bound to it, nothing can refuse it, and
		// restoring the far side's earlier session would leave the two
		// peers disagreeing all the same.
		c.log.Warn().Err(err).Str("leg", to.role).
			Msg("far side's answer to a re-offer that came in an answer (ACK, refresh 2xx) not usable, and its offerer cannot go back: ending the call")
		c.endForOffer(reasonAnswerUnusable, failedRollback)
		return
	}
	if err != nil {
		c.log.Warn().Err(err).Msg("far side's answer to the re-offer not usable")
		replyOffer(off.in, 488, "Not Acceptable Here", warning(off.from.side, err.Error()))
		// The far side took the offer all the same (its 2xx, ACKed):
		// it is offered its old session again.
		c.rollback(off, true)
		return
	}
	c.earlyOfferDone(off, res)
	if off.in == nil {
		// An answer in an ACK, relayed: its peer has nothing to hear back.
		c.log.Info().Bool("hold", c.media.onHold).Str("from", off.from.media.String()).Msg("re-offer from an ACK relayed")
		return
	}
	c.log.Info().Bool("hold", c.media.onHold).Str("from", off.from.media.String()).
		Str("method", string(off.in.Req.Method)).Msg("re-offer relayed")
	off.from.timer = off.session
	out := c.inDialogResponse(off.from, off.in, 200, "OK", body)
	if off.in.Req.IsInvite() {
		err = c.sendOK(off.from, off.in, out, nil, func() { c.hangup(nil, "no ACK for our 2xx to a re-INVITE") })
	} else {
		err = off.in.Respond(out)
	}
	if errors.Is(err, sip.ErrMessageTooLarge) {
		// Our 2xx would not fit in a UDP datagram (the request's own Via
		// and Record-Route headers come back in it) and the requester got
		// 513 instead, but the other leg has taken the offer: the peers'
		// media no longer agree, so the call ends.
		c.endForOffer("re-offer: our 2xx too large for UDP", setupError{500, "Server Internal Error", "message_too_large"})
		return
	}
	c.armSessionTimer(off.from)
}

// abortOffer answers the offer in progress with code and drops its staged
// state.
func (c *call) abortOffer(code int, phrase string) {
	off := c.offer
	if off == nil {
		return
	}
	c.offer = nil
	c.cancel(off.timer)
	if off.ro != nil { // a rollback has nothing staged
		c.media.refuse(off.ro)
	}
	replyOffer(off.in, code, phrase)
}

// replyOffer answers the request that carried an offer, if a request did
// (in is nil for an answer in an ACK).
func replyOffer(in *sip.Incoming, code int, phrase string, hdrs ...gosip.Header) {
	if in != nil {
		_ = in.Reply(code, phrase, "", hdrs...)
	}
}

// cancelOffer CANCELs the relayed re-INVITE of off; from is where the
// far side's latest response to it came from, if known, where the CANCEL
// of a re-INVITE whose connection ended goes (off.lost).
func (c *call) cancelOffer(off *relayedOffer, from string) {
	if off.lost {
		// Its transaction ended with its connection: the CANCEL goes in
		// a transaction of its own, over a connection still open.
		c.other(off.from).side.CancelLost(off.out.req, from)
		return
	}
	for _, x := range c.out {
		if x.o == off.out {
			_ = x.tx.Cancel(context.Background())
		}
	}
}

// onReInviteCancel handles a CANCEL of a re-INVITE: 200, and 487 for the
// re-INVITE if it is still waiting for the other leg.
func (c *call) onReInviteCancel(l *leg, in *sip.Incoming) {
	_ = in.Reply(200, "OK", "")
	if off := c.offer; off != nil && off.from == l && off.in != nil && branch(off.in.Req) == branch(in.Req) {
		if off.provisional {
			c.cancelOffer(off, "")
		} else {
			// RFC 3261 §9.1: no CANCEL before a provisional; it goes
			// with the first (onOfferAnswer), if any comes.
			off.cancelDue = true
		}
		// The offerer gets 487 at once and keeps its session (RFC 3261
		// §9.2); the offer stays in progress until the far side's final
		// response: its 2xx may have crossed our CANCEL (onOfferAnswer).
		off.cancelled = true
		replyOffer(off.in, 487, "Request Terminated")
	}
}
