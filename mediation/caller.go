package mediation

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/sip"
)

// The caller's leg: we are the UAS of the INVITE that created the call.

// callerLeg is the caller's dialog and its INVITE transaction.
type callerLeg struct {
	leg
	// invite is the caller's INVITE, nil once the call has settled
	// (settle.go); branch is its Via branch.
	invite *sip.Incoming
	branch string
	tag    string
	// finalRes is the final response we sent the INVITE (nil: none yet, or
	// settled); finalCode its status.
	finalRes  *gosip.Response
	finalCode int

	// reliable: our 18x go with 100rel (RFC 3262), retransmitted until
	// PRACKed; one at a time in each early dialog, later ones queued (rel,
	// nil once settled).
	reliable bool
	// seq is the CSeq number of the INVITE, which a copy of it has too
	// (staleinvite.go); here in what would be reliable's padding.
	seq uint32
	rel *callerReliable
	// lastProvisional is the last 18x relayed (code and body), so that
	// repeats of the callee's unreliable 180 are not sent again reliably.
	lastProvisional string
	// reliableAnswers are our tags of the early dialogs in which the
	// caller has our answer to its INVITE's offer in a reliable 18x.
	reliableAnswers []string
}

// answered reports whether the caller's INVITE has our answer, in a
// reliable 18x of the early dialog req is in, or in our 2xx: until then
// the caller may not send a new offer there (RFC 3311 §5.1).
func (a *callerLeg) answered(req *gosip.Request) bool {
	tag, _ := req.To().Params.Get("tag")
	return a.final() >= 200 && a.final() < 300 || slices.Contains(a.reliableAnswers, tag)
}

// callerReliable is our reliable provisionals to a caller that supports
// 100rel, per early dialog of ours (relDialog), and heldFinal, our 2xx
// held until the PRACK of a reliable 18x with SDP in its own dialog (RFC
// 3262 §3). Only the set-up uses them: out of the call's allocation, which
// they would make larger for the whole call, and let go once it settles.
type callerReliable struct {
	// dialogs has one entry per To-tag of ours that a reliable
	// provisional went out with: one on an outbound call (the caller's
	// one early dialog for all the callee's forks), one per fork of the
	// client on an inbound call (forks.go). Each early dialog is a UAS of
	// its own to the caller (RFC 3262 §3): an RSeq of its own, numbered
	// from a random start, and its PRACKs matched in it alone; one shared
	// count skipped numbers in each dialog, and an SBC that checks RSeq per
	// dialog (as we do, sip.ReliableReceivers) never PRACKed the skipping
	// ones (r26-fork F1).
	dialogs   []*relDialog
	heldFinal func()
}

// relDialog is the reliable provisionals of one early dialog towards the
// caller (our To-tag tag): its RSeq, the one awaiting its PRACK (out, sdp:
// it carried SDP) and its retransmission, and those queued behind it (RFC
// 3262 §3: one outstanding at a time in a dialog, which also keeps at most
// one unacknowledged answer in it for offer/answer).
type relDialog struct {
	tag    string
	sender *sip.ReliableSender
	out    *gosip.Response
	sdp    bool
	send   resend
	queue  []pendingProvisional
}

// dialog is the reliable provisionals of our early dialog tag, nil when
// none went out in it.
func (r *callerReliable) dialog(tag string) *relDialog {
	for _, d := range r.dialogs {
		if d.tag == tag {
			return d
		}
	}
	return nil
}

// held reports whether our 2xx in the early dialog tag must wait: a
// reliable 18x with SDP there still awaits its PRACK.
func (r *callerReliable) held(tag string) bool {
	d := r.dialog(tag)
	return d != nil && d.out != nil && d.sdp
}

type pendingProvisional struct {
	res    *gosip.Response
	hasSDP bool
}

// final is the status of the final response sent to the INVITE, 0 for none.
func (a *callerLeg) final() int { return a.finalCode }

// setupError is a final response for the caller and the failure reason to
// count.
type setupError struct {
	code   int
	phrase string
	reason string
}

func (e setupError) Error() string { return fmt.Sprintf("%d %s", e.code, e.phrase) }

// warning is a Warning header (RFC 3261 §20.43, code 399: miscellaneous)
// that tells an SBC engineer why we refused.
func warning(side *sip.Side, text string) gosip.Header {
	text = strings.ReplaceAll(text, `"`, `'`)
	return gosip.NewHeader("Warning", fmt.Sprintf(`399 %s "%s"`, side.Addr().Addr(), text))
}

// sourceIP is the IP a request came from, the zero Addr if unknown.
func sourceIP(req *gosip.Request) netip.Addr { return sip.SourceIP(req) }

// onStart handles the caller's INVITE: checks it, picks the trunk, plans
// the media and calls the callee.
func (c *call) onStart() {
	a := c.caller
	req := a.invite.Req
	if se := c.pickTrunk(req); se != nil {
		c.failSetup(*se)
		return
	}
	c.relog("") // with the trunk, on this line and every later one
	c.log.Info().Str("from", c.from).Str("to", c.to).Msg("call started")
	_ = a.invite.Reply(100, "Trying", "")

	if sip.MaxForwards(req) <= 1 {
		c.failSetup(setupError{483, "Too Many Hops", "too_many_hops"})
		return
	}
	if bad := sip.Unsupported(req, a.supported()...); len(bad) > 0 {
		c.log.Info().Strs("unsupported", bad).Msg("INVITE requires extensions we do not support: 420")
		c.failSetup(setupError{420, "Bad Extension", "bad_extension"}, sip.OptionHeader("Unsupported", bad...))
		return
	}
	callerRel := sip.HasOptionTag(req, "Supported", sip.Ext100rel) || sip.HasOptionTag(req, "Require", sip.Ext100rel)
	switch mode := a.policy.PrackMode(); {
	case mode == PrackRequired && !callerRel:
		c.failSetup(setupError{421, "Extension Required", "extension_required"}, sip.OptionHeader("Require", sip.Ext100rel))
		return
	case mode != PrackOff && callerRel:
		a.reliable = true
		a.rel = &callerReliable{}
	}
	t, err := sip.NegotiateUAS(req, a.policy.SessionTimer.Min())
	switch {
	case errors.Is(err, sip.ErrIntervalTooSmall):
		c.failSetup(setupError{422, "Session Interval Too Small", "session_interval_too_small"}, sip.MinSEHeader(sip.TooSmallMinSE(req, a.policy.SessionTimer.Min())))
		return
	case err != nil:
		c.failSetup(setupError{400, "Bad Request - " + err.Error(), "malformed"})
		return
	}
	if st := a.policy.SessionTimer; !t.Active && st.Enabled {
		// A caller that asked for no timer gets ours all the same (RFC
		// 4028 §9): where session_timer is on, a caller that vanished must
		// not leave its call up (r29-twinkle #2). One that cannot refresh
		// has us refreshing; one that supports timers refreshes, and its
		// session expires if it does not.
		t = sip.ImposedUAS(req, st.Interval())
	}
	a.timer = t

	offer, late, err := parseInitialOffer(c.dir, req.Body())
	if err != nil {
		phrase := "Not Acceptable Here"
		if err.Error() == reasonHold {
			phrase = reasonHold
		}
		c.log.Info().Str("why", err.Error()).Msg("offer refused: 488")
		c.failSetup(setupError{488, phrase, "not_acceptable"}, warning(a.side, err.Error()))
		return
	}
	var raw []byte
	if !late {
		raw = req.Body()
	}
	c.media = mediaPlan{dir: c.dir, offer: offer, offerRaw: raw, lateOffer: late, log: &c.log,
		edgeCodecs: c.deps.media.EdgeCodecs, gwSRTP: c.trunk.SRTP, relayOptions: c}
	c.media.signalling[c.media.callerSide()] = sourceIP(req)
	c.media.signalling[c.media.callerSide().Other()] = c.deps.edgePeer.Addr()
	body, err := c.offerFor()
	if err != nil {
		logNoPorts(&c.log, c.deps.noPortsLog, err)
		c.failSetup(mediaFailure(err), warningFor(a.side, err)...)
		return
	}
	c.inviteCallee(body)
}

// offerFor plans the callee's offer for the call's trunk.
func (c *call) offerFor() ([]byte, error) {
	c.media.useTrunk(c.trunk)
	return c.media.planOffer(c.deps.settings(), c.trunk.EnableBypass, c.deps.alloc)
}

// pickTrunk finds the call's trunk and the call settings of both legs:
// outbound, the best trunk for the called number (the others that serve it
// wait in c.next for a failover); inbound, the trunk the INVITE came from.
func (c *call) pickTrunk(req *gosip.Request) *setupError {
	if c.dir == outbound {
		// The number without its parameters (;ext=...): what the
		// trunks' patterns are written for (r28-trunks F3).
		number := sip.NumberOf(req.Recipient)
		if se := c.noNumber(req, number); se != nil {
			return se
		}
		cands, err := c.deps.gateways.Route(number)
		if errors.Is(err, gateway.ErrNoRoute) {
			c.log.Info().Str("number", number).Msg("no gateway trunk serves the number: 404")
			return &setupError{404, "Not Found", "no_route"}
		}
		if err != nil {
			return &setupError{503, "Service Unavailable", "no_trunk"}
		}
		c.useTrunk(cands[0])
		c.next = cands[1:]
		return nil
	}
	src, _ := netip.ParseAddrPort(req.Source())
	t, ok := c.deps.gateways.FromSource(src)
	if !ok {
		// The side's trust list keeps such requests out; this is a second
		// lock on the same door.
		return &setupError{403, "Forbidden", "untrusted"}
	}
	c.trunk = t
	c.pinPeer(t, src.Addr())
	c.tried = []string{t.Name}
	c.caller.policy, c.callee.policy = c.deps.trunks[c.trunk.Name].calls, c.deps.edgeCalls
	return c.noNumber(req, sip.NumberOf(req.Recipient))
}

// noNumber refuses an INVITE whose Request-URI names no number (number is
// its sip.NumberOf): no user part (INVITE sip:192.0.2.1:5070), or one with
// nothing but a "+" before its first ";" (sip:;x=1@host, sip:+@host,
// tel:;phone-context=...). Relayed, it would be a call to the far side's
// own URI (the SBC's, the edge peer's), which many peers take as a request
// to themselves or their default route (r25-loop F2). RFC 3261 §21.4.22:
// 484 Address Incomplete, on both sides.
func (c *call) noNumber(req *gosip.Request, number string) *setupError {
	if strings.TrimPrefix(strings.TrimSpace(number), "+") != "" {
		return nil
	}
	c.log.Info().Str("request_uri", req.Recipient.String()).Msg("Request-URI names no number: 484")
	return &setupError{484, "Address Incomplete", "address_incomplete"}
}

// mediaFailure maps a media plan error to the caller's response.
func mediaFailure(err error) setupError {
	var na errNotAcceptable
	var ef errFamily
	switch {
	case errors.As(err, &ef):
		return setupError{488, "Not Acceptable Here", "address_family"}
	case errors.As(err, &na):
		se := setupError{488, "Not Acceptable Here", "not_acceptable"}
		if na.reason == reasonHold {
			se.phrase = reasonHold
		}
		return se
	case errors.Is(err, errNoPorts):
		return setupError{503, "Service Unavailable", "no_media_ports"}
	}
	return setupError{500, "Server Internal Error", "internal_error"}
}

// answerFailure maps the error of a callee's unusable 2xx answer to the
// caller's response.
func answerFailure(err error) setupError {
	if errors.As(err, new(errFamily)) {
		return setupError{488, "Not Acceptable Here", "address_family"}
	}
	return setupError{488, "Not Acceptable Here", "bad_answer_sdp"}
}

// warningFor is the Warning of a refusal that needs one (488, 500).
func warningFor(side *sip.Side, err error) []gosip.Header {
	se := mediaFailure(err)
	if se.code == 488 || se.code == 500 {
		return []gosip.Header{warning(side, err.Error())}
	}
	return nil
}

// callerResponse builds a response to the caller's INVITE with our tag and
// the headers every one of ours carries.
func (c *call) callerResponse(code int, phrase string, body []byte) *gosip.Response {
	return c.callerResponseAs(c.caller.tag, code, phrase, body)
}

// callerResponseAs is callerResponse in the early dialog of tag (forks.go).
func (c *call) callerResponseAs(tag string, code int, phrase string, body []byte) *gosip.Response {
	return c.responseTo(c.caller.invite, tag, code, phrase, body)
}

// responseTo builds our response to the caller's INVITE in (the one that
// created the call, or a copy of it).
func (c *call) responseTo(in *sip.Incoming, tag string, code int, phrase string, body []byte) *gosip.Response {
	a := c.caller
	res := in.Response(code, phrase, tag, body)
	if code > 100 && code < 300 {
		contact := a.side.ContactFor(in.Req)
		res.AppendHeader(&contact)
		res.AppendHeader(sip.OptionHeader("Supported", a.supported()...))
	}
	if code >= 200 || code > 100 {
		res.AppendHeader(gosip.NewHeader("Allow", sip.Allow))
	}
	return res
}

// okTo builds our 200 to the caller's INVITE in (the one that created the
// call, or a late copy of it) with body, and the session timer's headers.
func (c *call) okTo(in *sip.Incoming, body []byte) *gosip.Response {
	res := c.responseTo(in, c.caller.tag, 200, "OK", body)
	for _, h := range c.caller.timer.AnswerHeaders(in.Req) {
		res.AppendHeader(h)
	}
	return res
}

// respondCaller sends the caller a final non-2xx response, once.
func (c *call) respondCaller(code int, phrase string, hdrs ...gosip.Header) {
	a := c.caller
	if a.final() != 0 {
		return
	}
	res := c.callerResponse(code, phrase, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	a.finalRes, a.finalCode = res, code
	c.stopReliable()
	if a.rel != nil {
		a.rel.heldFinal = nil
	}
	if err := a.invite.Respond(res); err != nil {
		c.log.Debug().Err(err).Int("code", code).Msg("response to the caller not delivered")
	}
}

// relayProvisional relays the callee's 18x to the caller, with the SDP
// rewritten.
func (c *call) relayProvisional(res *gosip.Response) {
	a := c.caller
	if a.final() != 0 {
		return
	}
	if res.StatusCode == 199 {
		switch {
		case !sip.HasOptionTag(a.invite.Req, "Supported", "199"):
			// 199 Early Dialog Terminated (RFC 6228) goes only to a UAC
			// that supports it (§7).
			c.log.Debug().Msg("199 Early Dialog Terminated from the callee absorbed: the caller does not support 199")
			return
		case !c.ownEarlyDialog(res):
			// It would end the caller's early dialog, which is not that
			// fork's alone but the call's (outbound: the one early
			// dialog of all the SBC's forks), and the call goes on in it
			// with the other forks; the last fork's 199 is followed by
			// the INVITE's final response anyway.
			c.log.Debug().Msg("199 Early Dialog Terminated from one of the callee's forks absorbed: the caller's early dialog is the call's")
			return
		}
	}
	if c.state == stateSetup {
		_ = c.setState(stateEarly)
	}
	var body []byte
	tag := c.forkTag(res)
	if len(res.Body()) > 0 {
		var err error
		if body, err = c.media.planAnswer(res.Body(), false, tag); errors.Is(err, errNoEarlyOffer) {
			body = nil
		} else if err != nil {
			c.log.Warn().Err(err).Int("code", res.StatusCode).Msg("early SDP not usable; relaying the provisional without SDP")
			body = nil
		}
	}
	reliable := a.reliable
	if reliable && c.media.lateOffer {
		if !c.callerRequires100rel() {
			// A delayed offer: the first reliable 18x would have to carry
			// our offer (RFC 3261 §13.2.1), which goes in the 200 to a
			// gateway that only supports 100rel (delayedoffer.go).
			reliable = false
		} else if a.rel != nil && a.rel.dialog(tag) == nil {
			// It requires it: the first reliable 18x of each early dialog
			// carries our offer, answered in its PRACK (RFC 3262 §5).
			offer, err := c.media.offerIn18x(tag)
			if err != nil {
				c.log.Warn().Err(err).Msg("delayed offer: no offer for the reliable provisional")
				c.failSetup(mediaFailure(err), warningFor(a.side, err)...)
				return
			}
			body = offer
		}
	}
	key := fmt.Sprintf("%d\n%s\n%s", res.StatusCode, tag, body)
	if reliable && key == a.lastProvisional {
		return // the callee repeating itself; the caller has it reliably
	}
	a.lastProvisional = key
	out := c.callerResponseAs(tag, res.StatusCode, res.Reason, body)
	if !reliable {
		if err := a.invite.Respond(out); err != nil {
			c.log.Debug().Err(err).Msg("provisional response to the caller not delivered")
		}
		return
	}
	c.sendReliable(out, body != nil)
}

// callerRequires100rel reports whether the caller's 18x must go reliably:
// its INVITE has Require: 100rel, or its side's prack is required.
func (c *call) callerRequires100rel() bool {
	a := c.caller
	return a.policy.PrackMode() == PrackRequired || sip.HasOptionTag(a.invite.Req, "Require", sip.Ext100rel)
}

// sendReliable sends a reliable provisional (RFC 3262 §3) in its early
// dialog (res's To-tag), or queues it while an earlier one of that dialog
// awaits its PRACK. Each early dialog numbers its own from a random RSeq.
func (c *call) sendReliable(res *gosip.Response, hasSDP bool) {
	a := c.caller
	r := a.rel
	if r == nil {
		return // settled: no provisional is relayed any more
	}
	tag, _ := res.To().Params.Get("tag")
	if r.heldFinal != nil && tag != a.tag {
		// The call is answered in another early dialog (our 2xx there
		// only waits for a PRACK): this one ends with that 2xx.
		return
	}
	d := r.dialog(tag)
	if d == nil {
		d = &relDialog{tag: tag, sender: sip.NewReliableSender(sip.NewRSeq())}
		r.dialogs = append(r.dialogs, d)
	}
	rseq, ok := d.sender.Send()
	if !ok {
		if len(d.queue) < 16 {
			d.queue = append(d.queue, pendingProvisional{res, hasSDP})
		}
		return
	}
	res.AppendHeader(sip.OptionHeader("Require", sip.Ext100rel))
	res.AppendHeader(gosip.NewHeader("RSeq", fmt.Sprint(rseq)))
	d.out, d.sdp, d.send = res, hasSDP, resend{}
	if err := a.invite.Respond(res); err != nil {
		c.log.Debug().Err(err).Msg("reliable provisional not delivered")
	}
	if hasSDP && !slices.Contains(a.reliableAnswers, tag) && !c.media.offeredIn18x(tag) {
		// Our answer to the caller's offer. Not our offer to a delayed-
		// offer caller (delayedoffer.go): that exchange is complete at
		// the PRACK with its answer (onPrack), and until then an offer of
		// the caller's there is glare (RFC 3311 §5.2).
		a.reliableAnswers = append(a.reliableAnswers, tag)
	}
	// RFC 3262 §3: T1, doubling, no cap; 64*T1 without PRACK and the
	// caller gets a 5xx, the callee a CANCEL.
	b := sip.Backoff{T1: c.deps.sip.T1, Total: c.deps.sip.Timeout()}
	c.resendUntil(&d.send, b, sip.IsTCP(a.invite.Req), func() { _ = a.invite.Respond(res) }, func() {
		c.log.Warn().Str("tag", tag).Msg("no PRACK for our reliable provisional response")
		c.failSetup(setupError{504, "Server Time-out", "no_prack"}, warning(a.side, "no PRACK for the reliable provisional response"))
	})
}

// stopReliable ends reliable provisional retransmission in every early
// dialog (a final response went out).
func (c *call) stopReliable() {
	c.stopReliableBut("")
}

// stopReliableBut ends reliable provisional retransmission, and drops the
// queued ones, in every early dialog but keep's ("": all). A PRACK of one
// already sent still gets its 200.
func (c *call) stopReliableBut(keep string) {
	r := c.caller.rel
	if r == nil {
		return
	}
	for _, d := range r.dialogs {
		if keep != "" && d.tag == keep {
			continue
		}
		c.stopResend(&d.send)
		d.out, d.queue = nil, nil
	}
}

// onPrack handles the caller's PRACK of a reliable provisional: it
// matches the provisional awaiting it in the PRACK's own early dialog (its
// To-tag), and nothing in another (RFC 3262 §3: else 481).
func (c *call) onPrack(l *leg, in *sip.Incoming) {
	a := c.caller
	if l != &a.leg || a.rel == nil || a.settled() {
		_ = in.Reply(481, "Call/Transaction Does Not Exist", "")
		return
	}
	rack, err := sip.ParseRAck(in.Req)
	if err != nil {
		_ = in.Reply(400, "Bad Request - "+err.Error(), a.tag)
		return
	}
	r := a.rel
	tag, _ := in.Req.To().Params.Get("tag")
	d := r.dialog(tag)
	if d == nil || !d.sender.Acknowledge(rack, a.invite.Req.CSeq().SeqNo, in.Req.CSeq().SeqNo) {
		_ = in.Reply(481, "Call/Transaction Does Not Exist", a.tag)
		return
	}
	awaited, seen := c.media.answerAwaited(tag, in.Req.CSeq().SeqNo)
	switch {
	case awaited && len(in.Req.Body()) == 0:
		// RFC 3262 §5: the PRACK of a reliable 18x with an offer carries
		// the answer; no other request of the gateway's may.
		c.log.Info().Msg("delayed offer: PRACK without the answer to our offer in the reliable provisional")
		c.okPrack(in)
		c.failSetup(setupError{488, "Not Acceptable Here", "bad_answer_sdp"}, warning(a.side, "no SDP answer in the PRACK of the reliable provisional that carried our offer"))
		return
	case awaited:
		if err := c.media.prackAnswer(tag, in.Req.CSeq().SeqNo, in.Req.Body()); err != nil {
			c.log.Warn().Err(err).Msg("delayed offer: no usable answer in the PRACK")
			c.okPrack(in)
			c.failSetup(setupError{488, "Not Acceptable Here", "bad_answer_sdp"}, warning(a.side, err.Error()))
			return
		}
		c.okPrack(in)
		if !slices.Contains(a.reliableAnswers, tag) {
			// The offer/answer of the early dialog is complete.
			a.reliableAnswers = append(a.reliableAnswers, tag)
		}
	case seen:
		c.okPrack(in) // a copy of the PRACK that answered
	case len(in.Req.Body()) > 0:
		// An offer in a PRACK (RFC 3262 §5) would need the other leg's
		// answer in the PRACK's 200, while this leg's own offer/answer is
		// still settling; the PRACK still acknowledges its provisional,
		// but its offer is refused and the session stays as it was (an
		// UPDATE carries a new offer in an early dialog).
		c.log.Info().Msg("offer in a PRACK refused: 488")
		_ = in.Reply(488, "Not Acceptable Here", a.tag, warning(a.side, "offers in PRACK are not supported: use UPDATE"))
	default:
		c.okPrack(in)
	}
	if out := d.out; out != nil {
		if rseq, _, _ := sip.RSeq(out); rseq == rack.RSeq {
			c.stopResend(&d.send)
			d.out = nil
		}
	}
	if d.out == nil && len(d.queue) > 0 && a.final() == 0 {
		next := d.queue[0]
		d.queue = d.queue[1:]
		c.sendReliable(next.res, next.hasSDP)
	}
	if r.heldFinal != nil && !r.held(a.tag) {
		// Our 2xx is in the answering fork's dialog (a.tag): only a
		// PRACK owed there held it.
		f := r.heldFinal
		r.heldFinal = nil
		f()
	}
}

// okPrack answers the caller's PRACK in 200.
func (c *call) okPrack(in *sip.Incoming) {
	a := c.caller
	res := in.Response(200, "OK", a.tag, nil)
	contact := a.side.ContactFor(in.Req)
	res.AppendHeader(&contact)
	_ = in.Respond(res)
}

// onCancel handles the caller's CANCEL of its INVITE (RFC 3261 §9.2): the
// CANCEL gets 200 and, while the INVITE has no final response, the INVITE
// gets 487 with the tag of our provisionals; the callee is cancelled.
func (c *call) onCancel(in *sip.Incoming) {
	a := c.caller
	if branch(in.Req) != a.branch || a.invite != nil && !sameSentBy(in.Req, a.invite.Req) {
		// RFC 3261 §9.2, §17.2.3: a CANCEL matches its INVITE's
		// transaction by the top Via's branch and sent-by. Another
		// trusted source (another trunk, another client host) that knows
		// the branch, Call-ID and From-tag cancelled a call not its own.
		_ = in.Reply(481, "Call/Transaction Does Not Exist", "")
		return
	}
	_ = in.Reply(200, "OK", a.tag)
	if a.final() != 0 {
		return
	}
	c.log.Info().Msg("caller canceled the call")
	c.reason = reasonOf(in.Req)
	c.failSetup(setupError{487, "Request Terminated", "canceled"})
}

// sameSentBy reports whether two requests' top Vias have the same sent-by
// (host and port, the port as written: RFC 3261 §17.2.3 compares them as
// they are).
func sameSentBy(a, b *gosip.Request) bool {
	va, vb := a.Via(), b.Via()
	return va != nil && vb != nil && strings.EqualFold(va.Host, vb.Host) && va.Port == vb.Port
}

func branch(msg gosip.Message) string {
	if v := msg.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		return b
	}
	return ""
}

// answerCaller sends the caller our 2xx with body (the callee has
// answered), retransmitted until the ACK.
func (c *call) answerCaller(body []byte) {
	a := c.caller
	if r := a.rel; r != nil && a.final() == 0 {
		// Our 2xx ends our early dialogs of the callee's other forks
		// (RFC 3261 §13.2.2.4): their provisionals are retransmitted no
		// more, and a PRACK still owed there cannot hold the call.
		c.stopReliableBut(a.tag)
		if r.held(a.tag) {
			// RFC 3262 §3: no 2xx before the PRACK of a reliable 18x
			// with SDP in the 2xx's own dialog.
			r.heldFinal = func() { c.answerCaller(body) }
			return
		}
	}
	if a.final() != 0 || !c.live() {
		return
	}
	res := c.okTo(a.invite, body)
	if err := a.invite.CheckSize(res); err != nil {
		// Our 2xx would not fit in a UDP datagram (the caller's own
		// Via and Record-Route headers come back in it): the caller
		// gets 513 instead, and the callee, already ACKed, a BYE.
		c.failSetup(setupError{513, "Message Too Large", "message_too_large"})
		return
	}
	a.finalRes, a.finalCode = res, res.StatusCode
	c.stopReliable()
	if err := c.setState(stateAnswered); err != nil {
		return
	}
	c.answerTime = time.Now()
	c.media.answered()
	if c.media.decision.bypass {
		c.bypassCounted = true
		c.deps.metrics.bypassActive.WithLabelValues(c.dir.String()).Inc()
		c.deps.metrics.bypassTotal.WithLabelValues(c.dir.String()).Inc()
	}
	c.log.Info().Bool("bypass", c.media.decision.bypass).Str("why", c.media.decision.reason).Msg("call answered")
	// The size was checked above, before the call counted as answered.
	_ = c.sendOK(&a.leg, a.invite, res, c.callerAcked, func() {
		c.log.Warn().Msg("no ACK from the caller for our 2xx")
		c.hangup(nil, "no ACK from the caller")
	})
	c.armSessionTimer(&a.leg)
	c.armSessionTimer(&c.callee.leg)
}

// callerAcked completes the exchange of a delayed-offer call with the
// answer in the gateway's ACK; without a usable one the call is hung up
// (RFC 3261 §13.2.2.4). A caller that keeps an early answer our 200
// contradicts is offered the 200's SDP (earlymove.go): a gateway given the
// client's address in an early answer, whose 200 anchored the call, the
// relay's; a bypassed client that got one fork's answer reliably, the
// answering fork's.
func (c *call) callerAcked(ack *gosip.Request) {
	c.armSettle()
	if a := c.caller; c.state == stateAnswered {
		if m := c.media.takeCallerMove(a.tag, slices.Contains(a.reliableAnswers, a.tag)); m != nil {
			c.moveCaller(m)
		}
	}
	if !c.media.awaitingLateAnswer() || c.state != stateAnswered {
		return
	}
	if err := c.media.lateAnswer(ack.Body()); err != nil {
		c.log.Warn().Err(err).Msg("delayed offer: no usable answer in the ACK; hanging up")
		c.hangup(nil, "bad_ack_sdp")
	}
}

// answerBody is the caller's final SDP: built from the 200's SDP, or the
// early answer again when the 200 carries none.
func (c *call) answerBody(b []byte) ([]byte, error) {
	if len(b) > 0 {
		return c.media.planAnswer(b, true, c.caller.tag)
	}
	if c.media.lateOffer {
		if c.media.earlyAnswered(c.caller.tag) {
			// Our offer went in a reliable 18x of this dialog, the
			// client's answer in an 18x: the 200 carries no SDP.
			return nil, nil
		}
		return nil, errors.New("no SDP answer in 18x or 200")
	}
	if last := c.media.lastAnswer(); last != nil {
		if c.media.decision.bypass {
			c.media.closeRelay()
		}
		return last, nil
	}
	return nil, errors.New("no SDP answer in 18x or 200")
}

// onDuplicateInvite answers an INVITE with the Call-ID, From-tag and CSeq
// of the caller's: a retransmission that outlived its transaction (same
// Via branch) gets the final response the caller already has; any other
// is a merged request (RFC 3261 §8.2.2.2: it reached us twice by
// different paths) and gets 482, as does a retransmission while the
// transaction, which absorbs those, is still alive.
func (c *call) onDuplicateInvite(in *sip.Incoming) {
	a := c.caller
	if a.final() == 0 || branch(in.Req) != a.branch {
		_ = in.Reply(482, "Loop Detected", "")
		return
	}
	res := a.finalRes
	if a.settled() {
		// Our 2xx went with the set-up (settle.go): the same again,
		// built on the copy, with the SDP the caller last got (a UAC
		// takes no SDP from a 2xx it already has).
		res = c.okTo(in, c.sendLegSDP(&a.leg))
	}
	_ = in.Respond(res)
}
