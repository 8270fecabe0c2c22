package mediation

import (
	"fmt"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// Inbound media plan: the PSTN calls a client and the gateway's INVITE
// carries an offer. The client decides: it is offered our relay and, when
// bypass is possible, the gateway's address and the bypass ID; its answer
// says which it took.

// inboundOffer is the client's offer.
func (p *mediaPlan) inboundOffer(s BypassSettings, trunkBypass bool, alloc *relay.Allocator) ([]byte, error) {
	p.offer, p.offerRaw = p.usableOffer(relay.Gateway, p.offer, p.offerRaw)
	if len(p.offer.G711()) == 0 {
		return nil, errNotAcceptable{"No G.711 codec in the gateway's SDP offer"}
	}
	// The trunk's codec list holds for what we answer its SBC, whichever
	// way the call goes: the client is offered only those laws.
	limited, err := sdp.LimitG711(p.offer, p.gwCodecs)
	if err != nil {
		return nil, errNotAcceptable{"None of the gateway's G.711 codecs is in the trunk's codec list"}
	}
	if len(p.gwCodecs) > 0 {
		p.offer, p.offerRaw = limited, nil
	}
	switch {
	case p.gwSRTP == srtpOff && p.offer.RequiresSRTP():
		return nil, errNotAcceptable{"The gateway offered " + p.offer.Proto + " but SRTP is off for this gateway"}
	case p.gwSRTP != srtpOff:
		if err := p.keys[relay.Gateway].answerTo(p.offer, sdp.Media{}, p.gwSRTP == srtpRequired); err != nil {
			return nil, err
		}
	}
	if err := p.openRelay(alloc); err != nil {
		return nil, err
	}
	p.bypassID, p.noOffer = inboundBypassID(s, trunkBypass)
	return p.clientOffer()
}

// clientOffer offers the client our relay (and the gateway when bypassID is
// set). The client is offered the gateway's own key when the gateway uses
// SRTP: a bypassing client then decrypts the gateway's packets, and the
// relay encrypts with the same key otherwise. SRTP stays optional towards
// the client (a=crypto in RTP/AVP, as SfB offers it).
func (p *mediaPlan) clientOffer() ([]byte, error) {
	d, err := sdp.ClientOffer(p.offer, p.relay.Local(relay.Edge), p.bypassID)
	if err != nil {
		return nil, errNotAcceptable{err.Error()}
	}
	if err := p.keys[relay.Edge].offer(false, p.keys[relay.Gateway].theirs); err != nil {
		return nil, err
	}
	p.keys[relay.Edge].apply(&d)
	return p.sdp[relay.Edge].marshal(d), nil
}

// inboundAnswer is the gateway's answer from the client's, as sent and as
// built; early: it goes in an 18x (earlyDirection).
func (p *mediaPlan) inboundAnswer(ans sdp.Media, raw []byte, early bool) ([]byte, sdp.Description, error) {
	caller, callerRaw := p.callerLatest()
	p.heard(relay.Gateway, caller, callerRaw)
	if !p.updated {
		p.gwOfferDir = p.offer.Direction
	}
	p.heard(relay.Edge, ans, raw)
	p.decide(decideInbound(p.bypassID, p.noOffer, ans, p.offer.RequiresSRTP() || p.gwSRTP == srtpRequired, p.keys[relay.Gateway].theirs != nil))
	// Against the caller's SDP the relay goes to: after an early UPDATE
	// the law must be one the caller accepted last, not one of its
	// INVITE's offer.
	d, err := sdp.GatewayAnswer(caller, ans, p.decision.bypass, p.local(relay.Gateway))
	if err != nil {
		return nil, d, fmt.Errorf("answer to the gateway: %w", err)
	}
	if p.decision.bypass {
		p.codecs = [2]string{d.Codecs[0].Name, d.Codecs[0].Name}
		if p.keys[relay.Gateway].theirs != nil {
			// End-to-end SRTP: the gateway decrypts with the client's key.
			if c := matching(ans.SRTP(), p.keys[relay.Gateway].theirs.Tag); c != nil {
				d.Crypto, d.SAVP = []sdp.Crypto{*c}, p.offer.RequiresSRTP()
			}
		}
		return p.sdp[relay.Gateway].marshal(d), d, nil
	}
	if err := p.checkFamily(relay.Gateway, caller); err != nil {
		return nil, d, err
	}
	if err := p.checkFamily(relay.Edge, ans); err != nil {
		return nil, d, err
	}
	if err := p.keys[relay.Edge].accept(ans, false); err != nil {
		return nil, d, err
	}
	p.keys[relay.Gateway].apply(&d)
	p.earlyDirection(&d, early)
	_, events := d.TelephoneEvent()
	if err := p.pointRelay(relayPeer{caller, d.Codecs[0], declaredIn(d.Codecs), !sends(d.Direction)},
		relayPeer{ans, ans.G711()[0], p.sdp[relay.Edge].formats, p.sdp[relay.Edge].noSend}, events); err != nil {
		return nil, d, err
	}
	return p.sdp[relay.Gateway].marshal(d), d, nil
}
