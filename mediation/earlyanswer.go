package mediation

import (
	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// The early answer of an anchored call. The caller takes the first SDP
// answer it receives for its INVITE, in an 18x or the 2xx, and ignores the
// SDP of the later responses (RFC 3261 §13.2.1): the 2xx must carry the
// answer the provisionals carried. A callee may answer its 183 and its 200
// differently (another G.711 law, another address). In an anchored call
// that change stays between the callee and the relay: the caller gets the
// SDP of our first answer again, byte for byte (same o= version), and the
// relay moves its callee leg (address, law: it transcodes when the laws
// now differ). A bypassed call has no relay to absorb it, and its new
// answer is passed on (README "Wire behaviour"); an outbound client that
// keeps the answer of a reliable 18x (the SBC forking: another fork's 200)
// is offered the 200's SDP after its ACK (earlymove.go).
//
// Inbound, each fork of the callee is an early dialog of its own towards
// the gateway (forks.go), so the answer is kept per To-tag of ours.
//
// An inbound early dialog whose early answer was bypassed is recorded too,
// its decision only: the gateway was given the client's own address
// there. A client's 200 in it without our bypass ID (or with another) is
// decided afresh, anchored: the client sends its media to the relay, the
// default address of our offer to it (clientOffer), and the relay stays.
// Our 200 gives the gateway the relay's address in a new version, which a
// gateway that keeps the first answer (RFC 3261 §13.2.1) ignores: it
// keeps sending to the client's early address. So once that 200 is ACKed
// the gateway is offered the relay's SDP again in a re-offer of ours
// (earlymove.go), which every gateway takes. Keeping the call bypassed
// instead (r25-bypass F1) released the relay the client was sending to:
// the gateway heard nothing, and a bypassed call has no media timeout to
// end it. The mirror case, an anchored early answer and a 200 with the
// bypass ID, stays anchored (answerAgain). Another fork's answer is
// another early dialog, decided on its own.
//
// An offer/answer completed in the early dialog (an UPDATE, from either
// peer, RFC 3311) moves the session on: the caller now has the SDP of that
// exchange from us, and its peer's latest SDP is its own side of it. The
// caller ignores the SDP of our 2xx all the same (its offer/answer
// exchanges are complete: RFC 3261 §13.2.1, RFC 6337 §3.1), so the early
// answer becomes that: the 2xx repeats what the caller last got, and the
// relay keeps the caller's leg where the UPDATE put it, whatever the
// callee's 200 says (earlyRenegotiated).

// earlyAnswer is what an anchored call answered the caller in a
// provisional of one early dialog; for an inbound bypassed one, only tag
// and decision are set, for an outbound bypassed one tag, decision and
// leg.
type earlyAnswer struct {
	tag string // our To-tag towards the caller
	// leg is the caller's SDP leg as the answer left it: its o= and body.
	// Outbound bypassed, its body is the SDP the client keeps, if the 18x
	// came reliably (earlymove.go), nil once that was looked at.
	leg sdpLeg
	// peer is the caller's SDP the answer goes with (its INVITE's offer,
	// or its side of an early UPDATE), raw its body (nil: changed since).
	peer sdp.Media
	raw  []byte
	// codec is the caller's codec in the answer; events says whether the
	// answer lists telephone-event.
	codec    sdp.Codec
	events   bool
	decision decision
	// moved: the early answer was bypassed and a later answer in its
	// dialog (an 18x or the 200) anchored it, so the gateway is to be
	// offered the relay once a 200 of that dialog is ACKed, unless an
	// answer after that bypassed it again (takeCallerMove).
	moved bool
}

// earlyFor is the answer already sent in the early dialog tag, nil if none.
func (p *mediaPlan) earlyFor(tag string) *earlyAnswer {
	for i := range p.early {
		if p.early[i].tag == tag {
			return &p.early[i]
		}
	}
	return nil
}

// keepEarly notes the answer d just sent the caller in a provisional of
// the early dialog tag, as an answer to peer (raw its body): the caller's
// SDP the relay was just pointed at (callerLatest), the INVITE's offer or,
// after an early UPDATE, the caller's side of it. Recording the INVITE's
// offer there put the relay back on the caller's pre-UPDATE address at
// that fork's 200. A bypassed answer is kept inbound as its decision,
// outbound as the SDP sent (an outbound call's bypass is decided on the
// client's offer, once for all its answers): a client that got it in a
// reliable 18x keeps it, and our 200 may name another fork's media
// (earlymove.go).
func (p *mediaPlan) keepEarly(tag string, d sdp.Description, peer sdp.Media, raw []byte) {
	if len(d.Codecs) == 0 || p.earlyFor(tag) != nil {
		return
	}
	if p.decision.bypass {
		e := earlyAnswer{tag: tag, decision: p.decision}
		if p.dir == outbound {
			e.leg = p.sdp[relay.Edge]
		}
		p.early = append(p.early, e)
		return
	}
	_, events := d.TelephoneEvent()
	p.early = append(p.early, earlyAnswer{tag: tag, leg: p.sdp[p.callerSide()], peer: peer, raw: raw,
		codec: d.Codecs[0], events: events, decision: p.decision})
}

// earlyRenegotiated follows an offer/answer just completed (commit) in an
// early dialog of an anchored call: the early answer to repeat is now the
// caller's SDP leg as the exchange left it, with the caller's latest SDP
// and the codec and events the relay now uses on the caller's leg. A
// callee's 200 that answers otherwise then moves only the relay's callee
// leg, as after a 183 (answerAgain): rebuilt from the INVITE's offer, it
// put the relay back on the caller's pre-UPDATE address, and gave the
// caller a new SDP version it ignores.
//
// With the answers of several early dialogs (an inbound call's forks),
// every one of them moves on, not only that of the dialog the exchange
// was in: the rule is call-wide, as the relay is (one caller leg, on the
// caller's latest SDP). Dropped, the 200 was built afresh against the
// INVITE's offer, in a law the caller had not accepted in its UPDATE
// while the relay sent to the UPDATE's address (r23-review2 #1). A fork
// whose early dialog did not see the UPDATE gets that SDP in its 200
// too; the caller ignores it there (its 183 completed that dialog's
// offer/answer), and the relay stays where the caller last said.
//
// The early dialogs whose answer was bypassed keep their record
// (earlyBypassed): their 200 tells whether the caller must be moved
// (earlymove.go), inbound the gateway to the relay, outbound the client
// to the answering fork, whose SDP the client now compares with its side
// of this exchange: the SDP of ours it has from it.
func (p *mediaPlan) earlyRenegotiated() {
	p.updated = true
	if len(p.early) == 0 || p.decision.bypass || p.relay == nil {
		p.early = p.earlyBypassed()
		for i := range p.early {
			if p.dir == outbound && p.early[i].leg.last != nil {
				p.early[i].leg = p.sdp[relay.Edge]
			}
		}
		return
	}
	side := p.callerSide()
	c := p.legs[side].Codec
	peer, raw := p.latest(side), p.raw[side]
	codec := sdp.Codec{PT: c.PT, Name: c.Name, Rate: 8000}
	for _, f := range peer.Codecs {
		if f.PT == c.PT {
			codec = f
			break
		}
	}
	for i := range p.early {
		e := &p.early[i]
		if e.decision.bypass {
			continue
		}
		e.leg = p.sdp[side]
		e.peer, e.raw = peer, raw
		e.codec = codec
		e.events = c.EventPT != 0
		e.decision = p.decision
	}
}

// earlyBypassed is the early answers of p.early that were bypassed, nil
// if none.
func (p *mediaPlan) earlyBypassed() []earlyAnswer {
	var out []earlyAnswer
	for _, e := range p.early {
		if e.decision.bypass {
			out = append(out, e)
		}
	}
	return out
}

// callerLatest is the caller's SDP that the callee's answer goes with when
// no early answer is repeated (a bypassed call, the first answer): its
// INVITE's offer, or its side of an offer/answer completed since in the
// early dialog, which the relay and the record of its latest SDP must not
// go back on.
func (p *mediaPlan) callerLatest() (sdp.Media, []byte) {
	if p.updated {
		side := p.callerSide()
		return p.latest(side), p.raw[side]
	}
	return p.offer, p.offerRaw
}

// answerAgain takes the callee's new answer ans in the early dialog of e:
// the relay's callee leg follows it, the caller's leg stays as e answered
// it, and the caller gets e's SDP again.
//
// Each leg keeps the events its own answer negotiated: the caller's as
// e answered it, the callee's as ans does. When the callee's new answer
// drops telephone-event that the caller's still lists, the caller goes on
// sending its digits as RFC 4733 events, and the relay plays them to the
// callee as in-band DTMF tones (relay/dtmf.go), as a media gateway does;
// the other way round likewise. raw is the body ans was parsed from.
func (p *mediaPlan) answerAgain(e *earlyAnswer, ans sdp.Media, raw []byte) ([]byte, error) {
	_, theirEvents := ans.TelephoneEvent()
	if p.dir == outbound {
		if p.gwSRTP != srtpOff {
			if err := p.keys[relay.Gateway].accept(ans, p.gwSRTP == srtpRequired); err != nil {
				return nil, err
			}
		}
		if err := p.pointRelayEvents(relayPeer{ans, ans.G711()[0], p.sdp[relay.Gateway].formats, p.sdp[relay.Gateway].noSend},
			relayPeer{e.peer, e.codec, e.leg.formats, e.leg.noSend}, theirEvents, e.events); err != nil {
			return nil, err
		}
		p.heard(relay.Edge, e.peer, e.raw)
		p.heard(relay.Gateway, ans, raw)
	} else {
		if ans.HasBypassID(p.bypassID) && p.bypassID != "" {
			p.log.Info().Msg("the client's new answer chose bypass, but the gateway already has the relay's address: the call stays anchored")
		}
		if err := p.keys[relay.Edge].accept(ans, false); err != nil {
			return nil, err
		}
		if err := p.pointRelayEvents(relayPeer{e.peer, e.codec, e.leg.formats, e.leg.noSend},
			relayPeer{ans, ans.G711()[0], p.sdp[relay.Edge].formats, p.sdp[relay.Edge].noSend}, e.events, theirEvents); err != nil {
			return nil, err
		}
		p.heard(relay.Gateway, e.peer, e.raw)
		p.heard(relay.Edge, ans, raw)
	}
	p.decide(e.decision)
	p.sdp[p.callerSide()] = e.leg
	return p.sdp[p.callerSide()].send(), nil
}

// earlyDirection sets the direction of an anchored call's early answer d
// to the relay's own: it sends and receives, whatever the callee's early
// SDP says, within what the caller offered (sdp.AnswerDirection). The
// caller keeps this answer for the call (its 2xx must repeat it: RFC 3261
// §13.2.1), so the callee's early direction must not end up in it: a
// carrier's announcement in a 183 with a=sendonly, then a=sendrecv in its
// 200, left the caller sendonly for the whole call (one-way audio with a
// caller that honours it). The callee's own direction stays between the
// callee and the relay. Later changes (hold) come as re-offers, relayed
// with their direction as before.
func (p *mediaPlan) earlyDirection(d *sdp.Description, early bool) {
	if !early {
		return
	}
	d.Direction = sdp.AnswerDirection(sdp.ForwardedDirection(p.offer), sdp.SendRecv)
}
