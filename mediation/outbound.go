package mediation

import (
	"fmt"
	"net/netip"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// Outbound media plan: a Skype for Business client calls the PSTN. The
// client's offer comes from the edge; the gateway is offered either the
// client's own address (bypass) or our relay (anchored), and its answer is
// turned into the client's answer.

// outboundOffer is the gateway's offer.
func (p *mediaPlan) outboundOffer(s BypassSettings, trunkBypass bool, alloc *relay.Allocator) ([]byte, error) {
	if len(p.early) > 0 {
		// A failover after an anchored early answer (failover.go): the
		// caller's side stays as that answer made it.
		return p.anchoredOffer()
	}
	if p.anchored != nil {
		p.decide(*p.anchored)
	} else {
		p.decide(decideOutbound(s, trunkBypass, p.gwSRTP, p.gwCodecs, p.offer))
	}
	if p.decision.bypass {
		p.bypassID = s.BypassID
		d, err := sdp.GatewayOfferPrefer(p.offer, true, netip.AddrPort{}, p.gwCodecs)
		if err != nil {
			return nil, errNotAcceptable{"No G.711 codec in the SDP offer"}
		}
		if p.gwSRTP != srtpOff {
			// End-to-end SRTP: the gateway decrypts with the client's key.
			d.Crypto = p.offer.SRTP()
			d.SAVP = len(d.Crypto) > 0 && (p.offer.RequiresSRTP() || p.gwSRTP == srtpRequired)
		}
		return p.sdp[relay.Gateway].marshal(d), nil
	}
	if err := p.keys[relay.Edge].answerTo(p.offer, sdp.Media{}, false); err != nil {
		return nil, err
	}
	if sdp.CheckClientCodec(p.offer, p.edgeCodecs) != nil {
		// Nothing the anchored client leg can take (G.711, or G.722 where
		// media.edge_codecs allows it), as for a re-offer (reoffer.go).
		return nil, errNotAcceptable{"No G.711 codec in the SDP offer"}
	}
	if err := p.openRelay(alloc); err != nil {
		return nil, err
	}
	if err := p.checkFamily(relay.Edge, p.offer); err != nil {
		return nil, err
	}
	return p.anchoredOffer()
}

// anchoredOffer is the gateway's offer of an anchored call: our relay.
func (p *mediaPlan) anchoredOffer() ([]byte, error) {
	d, err := sdp.GatewayOfferPrefer(p.offer, false, p.relay.Local(relay.Gateway), p.gwCodecs)
	if err != nil {
		return nil, errNotAcceptable{err.Error()}
	}
	if p.gwSRTP != srtpOff {
		if err := p.keys[relay.Gateway].offer(p.gwSRTP == srtpRequired, nil); err != nil {
			return nil, err
		}
		p.keys[relay.Gateway].apply(&d)
	}
	return p.sdp[relay.Gateway].marshal(d), nil
}

// outboundAnswer is the client's answer from the gateway's, as sent and
// as built; early: it goes in an 18x (earlyDirection).
func (p *mediaPlan) outboundAnswer(ans sdp.Media, raw []byte, early bool) ([]byte, sdp.Description, error) {
	caller, callerRaw := p.callerLatest()
	p.heard(relay.Edge, caller, callerRaw)
	p.heard(relay.Gateway, ans, raw)
	var d sdp.Description
	var err error
	if p.gwSRTP == srtpOff && ans.RequiresSRTP() {
		// Our offer was plain RTP/AVP: an SRTP-only answer is no answer
		// to it (RFC 3264 §6), and the SBC would get plain RTP.
		return nil, d, errNotAcceptable{"The gateway answered " + ans.Proto + " but SRTP is off for this gateway"}
	}
	// Against the caller's SDP the relay goes to (inboundAnswer).
	if p.decision.bypass {
		d, err = sdp.ClientAnswer(caller, ans, true, netip.AddrPort{}, p.bypassID)
	} else {
		d, err = sdp.ClientAnswerPrefer(caller, ans, p.local(relay.Edge), p.edgeCodecs)
	}
	if err != nil {
		return nil, d, fmt.Errorf("answer to the client: %w", err)
	}
	if p.decision.bypass {
		p.codecs = [2]string{d.Codecs[0].Name, d.Codecs[0].Name}
		if p.gwSRTP != srtpOff {
			// End-to-end SRTP: the client decrypts with the gateway's key.
			for _, c := range ans.SRTP() {
				if matching(p.offer.SRTP(), c.Tag) != nil {
					d.Crypto, d.SAVP = []sdp.Crypto{c}, p.offer.RequiresSRTP()
					break
				}
			}
		}
		if err := bypassKeyAnswered(p.offer, d); err != nil {
			return nil, d, err
		}
		return p.sdp[relay.Edge].marshal(d), d, nil
	}
	if err := p.checkFamily(relay.Gateway, ans); err != nil {
		return nil, d, err
	}
	p.keys[relay.Edge].apply(&d)
	p.earlyDirection(&d, early)
	if p.gwSRTP != srtpOff {
		if err := p.keys[relay.Gateway].accept(ans, p.gwSRTP == srtpRequired); err != nil {
			return nil, d, err
		}
	}
	_, events := d.TelephoneEvent()
	if err := p.pointRelay(relayPeer{ans, ans.G711()[0], p.sdp[relay.Gateway].formats, p.sdp[relay.Gateway].noSend},
		relayPeer{caller, d.Codecs[0], declaredIn(d.Codecs), !sends(d.Direction)}, events); err != nil {
		return nil, d, err
	}
	return p.sdp[relay.Edge].marshal(d), d, nil
}

// bypassKeyAnswered refuses the answer d to a bypassed client whose offer
// insists on SRTP (RTP/SAVP) when the gateway's answer gave it no key it
// can use: an RTP/AVP answer to an RTP/SAVP offer is no answer (RFC 3264
// §6), and the client, which keys its media from the answer (RFC 4568),
// would have none.
func bypassKeyAnswered(offer sdp.Media, d sdp.Description) error {
	if offer.RequiresSRTP() && len(d.Crypto) == 0 {
		return errNotAcceptable{"The gateway answered the client's " + offer.Proto + " offer without a matching key"}
	}
	return nil
}
