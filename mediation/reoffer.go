package mediation

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// Re-offers: a new offer inside the call (re-INVITE or UPDATE with SDP:
// hold, resume, a new media address) from either peer. The bypass decision
// of the call stands: a bypassed call points each peer at the other, an
// anchored one at the relay. Nothing changes until the other peer accepts:
// reOffer stages the new state, commit applies it, and a refused offer
// leaves the call exactly as it was (RFC 3264 §8: the old session stays).
// An answer the other peer sent in a 2xx that we cannot use has it on the
// new session already: rollback offers it the old one again.

// reoffer is a staged offer from one peer.
type reoffer struct {
	from  relay.Side
	offer sdp.Media
	raw   []byte // the body offer was parsed from; nil if changed since
	// keys are both sides' keying as they will be once the exchange
	// completes; sent is the SDP leg towards the other peer before the
	// offer, restored if the offer is refused.
	keys [2]keying
	sent sdpLeg
	// out: the offer went to the other peer (sendOffer), so its o=
	// version is taken on that leg, refused or not.
	out bool
}

// reOffer builds the offer for the other peer from a new offer of from.
// answer: the offer is from's answer to an SDP of ours (in an ACK, a
// refresh's 2xx) that changes its session, which nothing answers: from
// keeps the SDP it has from us, so the key we encrypt with towards it
// stays, and its key is the one its answer gives for our line.
func (p *mediaPlan) reOffer(from relay.Side, offer sdp.Media, raw []byte, answer bool) (*reoffer, []byte, error) {
	if from == relay.Gateway && len(p.gwCodecs) > 0 {
		var err error
		if offer, err = sdp.LimitG711(offer, p.gwCodecs); err != nil {
			return nil, nil, errNotAcceptable{"None of the gateway's G.711 codecs is in the trunk's codec list"}
		}
		raw = nil
	}
	if !p.decision.bypass {
		// Relay addresses of the wrong family would be useless to the
		// peer: refused before the other peer is asked (mediafamily.go).
		if err := p.familyErr(from, offer); err != nil {
			return nil, nil, err
		}
	}
	ro := &reoffer{from: from, offer: offer, raw: raw, keys: p.keys}
	to := from.Other()
	var d sdp.Description
	var err error
	switch {
	case p.decision.bypass && from == relay.Edge:
		if offer.RequiresSRTP() && (p.gwSRTP == srtpOff || len(offer.SRTP()) == 0) {
			// As for the first offer (decideOutbound's srtp_mismatch), but
			// the call is bypassed already: refused, it stays as it was.
			return nil, nil, errNotAcceptable{"the client's re-offer insists on " + offer.Proto + " and the gateway's SRTP is off"}
		}
		d, err = sdp.GatewayOfferPrefer(offer, true, netip.AddrPort{}, p.gwCodecs)
		if err == nil && p.gwSRTP != srtpOff {
			// End-to-end SRTP, as in outboundOffer: the gateway decrypts
			// with the client's key.
			d.Crypto = offer.SRTP()
			d.SAVP = len(d.Crypto) > 0 && (offer.RequiresSRTP() || p.gwSRTP == srtpRequired)
		}
	case p.decision.bypass:
		if offer.RequiresSRTP() && p.gwSRTP == srtpOff {
			// As for a first offer (planInbound): refused, the call
			// stays as it was.
			return nil, nil, errNotAcceptable{"The gateway offered " + offer.Proto + " but SRTP is off for this gateway"}
		}
		d, err = sdp.ClientReoffer(offer, p.bypassID)
		if err == nil && p.gwSRTP != srtpOff {
			// End-to-end SRTP, as in clientOffer: the client decrypts
			// with the gateway's key, offered to it as an option (a=crypto
			// in RTP/AVP, as SfB offers it).
			d.Crypto, d.SAVP = offer.SRTP(), false
		}
	case from == relay.Edge:
		if err := sdp.CheckClientCodec(offer, p.edgeCodecs); err != nil {
			// Refused before the gateway is asked: it would take the
			// offer (a hold, say) that the client then gets 488 for.
			return nil, nil, errNotAcceptable{err.Error()}
		}
		if err = ro.keys[relay.Edge].take(offer, p.latest(from), answer, false); err == nil {
			d, err = sdp.GatewayOfferPrefer(offer, false, p.local(relay.Gateway), p.gwCodecs)
			ro.keys[relay.Gateway].apply(&d)
		}
	default:
		if p.gwSRTP != srtpOff {
			err = ro.keys[relay.Gateway].take(offer, p.latest(from), answer, p.gwSRTP == srtpRequired)
		}
		if err == nil {
			// With the client's own law when the SBC's offer lacks it
			// (its resume in the other law only): the relay transcodes,
			// and commit's GatewayAnswer answers the SBC in its law.
			d, err = sdp.ClientReofferAnchored(offer, p.local(relay.Edge), p.latest(relay.Edge), p.edgeCodecs)
			ro.keys[relay.Edge].apply(&d)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	// In the profile the other peer's stream has (RTP/AVPF after its AVPF
	// offer, which we answered so): a re-offer in RTP/AVP would move it
	// to AVP, and back with our next refresh (RFC 3264 §8).
	d = d.Reoffering(p.latest(to))
	ro.sent = p.sdp[to]
	return ro, p.sdp[to].marshal(d), nil
}

// refuse drops a staged offer the other peer did not accept: that peer's
// session is the one before, as is the SDP we have for it. The refused
// offer's o= version was sent all the same, and a version once sent is
// never used again for another SDP (RFC 3264 §8: each SDP a version one
// above the previous one sent; a peer that takes an unchanged version
// for an unchanged session would miss the change). So the next SDP sent
// that peer, another offer or the earlier session offered again (our
// 200 to its re-INVITE without SDP), has the version after the refused
// offer's.
func (p *mediaPlan) refuse(ro *reoffer) {
	to := ro.from.Other()
	offered := p.sdp[to].origin
	p.sdp[to] = ro.sent
	if !ro.out || ro.sent.last == nil || offered.Version == ro.sent.origin.Version && !ro.sent.unsent {
		// Not sent, or the SDP the peer had already, unchanged. (A
		// restored session not sent yet took its version by going out
		// as the refused offer.)
		return
	}
	r, err := ro.sent.restamped(offered)
	if err != nil {
		// Not one of our bodies (cannot be): the next SDP built takes
		// the version after the refused offer's all the same.
		p.log.Warn().Err(err).Str("leg", to.String()).Msg("earlier SDP not restamped after a refused offer")
		p.sdp[to].origin = offered
		return
	}
	r.unsent = true
	p.sdp[to] = r
}

// rollback is the SDP that offers the other peer of a staged offer the
// session it had before it: that peer took the offer (its 2xx) but commit
// could not use its answer, and nothing of the offer was applied. It is
// the SDP sent that peer before, with the next version of its o= line
// (RFC 3264 §8), and the leg's last SDP from now on.
func (p *mediaPlan) rollback(ro *reoffer) ([]byte, error) {
	to := ro.from.Other()
	if ro.sent.last == nil {
		return nil, errors.New("no earlier SDP to restore")
	}
	r, err := ro.sent.restamped(p.sdp[to].origin)
	if err != nil {
		return nil, fmt.Errorf("restoring the earlier SDP: %w", err)
	}
	p.sdp[to] = r
	return r.last, nil
}

// restored checks side's answer to a rollback: an anchored call needs a
// codec of that leg from it (G.711 from the gateway, one of
// media.edge_codecs from the client) at an address of the relay's
// family. What
// else it changes is for the caller to relay (peerAnswered).
func (p *mediaPlan) restored(side relay.Side, body []byte) error {
	ans, err := sdp.Parse(body)
	if err != nil {
		return fmt.Errorf("answer to the restoring offer: %w", err)
	}
	if p.decision.bypass {
		return nil
	}
	if side == relay.Edge {
		// The client's leg takes the codecs of media.edge_codecs (G.722
		// too), as its first exchange did: its earlier session may be in
		// none of G.711; and any G.711 law (an inbound call's client leg
		// is on the SBC's law, which media.edge_codecs may leave out).
		if err := sdp.CheckClientCodec(ans, p.edgeCodecs); err != nil && len(ans.G711()) == 0 {
			return fmt.Errorf("answer to the restoring offer: %w", err)
		}
	} else if len(ans.G711()) == 0 {
		return fmt.Errorf("answer to the restoring offer: %w", sdp.ErrNoG711)
	}
	return p.familyErr(side, ans)
}

// legCodec is the codec an anchored leg takes from its peer's answer: the
// gateway's first G.711 law; the client's first codec media.edge_codecs
// allows (G.722 too: the client's leg kept on it, as its first exchange
// put it there, when our re-offer listed it).
func (p *mediaPlan) legCodec(side relay.Side, ans sdp.Media) (sdp.Codec, error) {
	if side == relay.Edge {
		if c, err := sdp.ClientCodec(ans, p.edgeCodecs); err == nil {
			return c, nil
		}
		// A law media.edge_codecs leaves out: our re-offer lists the
		// SBC's laws whatever it says (an inbound call's client leg is
		// on the SBC's law from the start), and the relay takes any.
	}
	if g := ans.G711(); len(g) > 0 {
		return g[0], nil
	}
	return sdp.Codec{}, sdp.ErrNoG711
}

// commit completes a staged offer with the other peer's answer: it builds
// the answer for the offerer and applies the new state (keys, relay peers,
// hold as offer and answer make it). On error nothing is applied. reply
// says whether the answer goes back to the offerer: not for an offer that
// came in an answer (in an ACK, in a refresh's 2xx), which nothing
// answers; its peer keeps the SDP it has from us, and its o= version
// (sdpLeg), and commit returns no answer.
func (p *mediaPlan) commit(ro *reoffer, body []byte, reply bool) ([]byte, error) {
	ans, err := sdp.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("far side's answer to the re-offer: %w", err)
	}

	keys := ro.keys
	var d sdp.Description
	switch {
	case p.decision.bypass && ro.from == relay.Edge:
		d, err = sdp.ClientAnswer(ro.offer, ans, true, netip.AddrPort{}, p.bypassID)
		if err == nil && p.gwSRTP != srtpOff {
			// The client decrypts with the gateway's key (outboundAnswer).
			for _, c := range ans.SRTP() {
				if matching(ro.offer.SRTP(), c.Tag) != nil {
					d.Crypto, d.SAVP = []sdp.Crypto{c}, ro.offer.RequiresSRTP()
					break
				}
			}
		}
		if err == nil {
			err = bypassKeyAnswered(ro.offer, d)
		}
	case p.decision.bypass:
		// The client's answer as an answer to the gateway: same m-lines as
		// the gateway's offer.
		d, err = sdp.GatewayOffer(ans, true, netip.AddrPort{})
		d = d.Answering(ro.offer)
		if err == nil && p.gwSRTP != srtpOff && len(ro.offer.SRTP()) > 0 {
			// The gateway decrypts with the client's key (inboundAnswer).
			for _, c := range ans.SRTP() {
				if matching(ro.offer.SRTP(), c.Tag) != nil {
					d.Crypto, d.SAVP = []sdp.Crypto{c}, ro.offer.RequiresSRTP()
					break
				}
			}
			if len(d.Crypto) == 0 && ro.offer.RequiresSRTP() {
				err = fmt.Errorf("the client answered the gateway's %s re-offer without a matching key", ro.offer.Proto)
			}
		}
	case ro.from == relay.Edge:
		d, err = sdp.ClientAnswerPrefer(ro.offer, ans, p.local(relay.Edge), p.edgeCodecs)
		keys[relay.Edge].apply(&d)
		if err == nil && keys[relay.Gateway].ours != nil {
			err = keys[relay.Gateway].accept(ans, p.gwSRTP == srtpRequired)
		}
	default:
		d, err = sdp.GatewayAnswer(ro.offer, ans, false, p.local(relay.Gateway))
		keys[relay.Gateway].apply(&d)
		if err == nil && keys[relay.Edge].ours != nil {
			err = keys[relay.Edge].accept(ans, false)
		}
	}
	if err != nil {
		return nil, err
	}
	var answerCodec sdp.Codec
	if !p.decision.bypass {
		if answerCodec, err = p.legCodec(ro.from.Other(), ans); err != nil {
			return nil, fmt.Errorf("far side's answer to the re-offer: %w", err)
		}
		if err := p.familyErr(ro.from.Other(), ans); err != nil {
			return nil, err
		}
	}
	// Applied from here on.
	old := p.keys
	p.keys = keys
	if !p.decision.bypass {
		var err error
		_, events := d.TelephoneEvent()
		// The offer to the other peer is already in p.sdp; the answer to
		// the offerer is d, sent once this succeeds.
		answered := relayPeer{ro.offer, d.Codecs[0], declaredIn(d.Codecs), !sends(d.Direction)}
		answering := relayPeer{ans, answerCodec, p.sdp[ro.from.Other()].formats, p.sdp[ro.from.Other()].noSend}
		if ro.from == relay.Edge {
			err = p.pointRelay(answering, answered, events)
		} else {
			err = p.pointRelay(answered, answering, events)
		}
		if err != nil {
			p.keys = old
			return nil, err
		}
	}
	if ro.from == relay.Edge {
		p.heard(relay.Edge, ro.offer, ro.raw)
		p.heard(relay.Gateway, ans, body)
	} else {
		p.heard(relay.Gateway, ro.offer, ro.raw)
		p.heard(relay.Edge, ans, body)
	}
	// Hold is what offer and answer negotiated, not the offer alone: a
	// held peer answers a sendrecv re-offer sendonly (hold.go).
	p.negotiated()
	if ro.from == relay.Gateway {
		p.gwOfferDir = ro.offer.Direction
	}
	var out []byte
	if reply {
		out = p.sdp[ro.from].marshal(d)
	}
	p.callerOffered = ro.from == p.callerSide()
	// An offer in the early dialog (UPDATE) moves the early answer on.
	p.earlyRenegotiated()
	return out, nil
}
