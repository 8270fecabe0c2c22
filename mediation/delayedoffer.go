package mediation

import (
	"errors"
	"fmt"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// Delayed offer: the gateway's INVITE has no SDP. The client is offered
// G.711 on our relay (no bypass: we do not know the gateway's address),
// the gateway gets our offer in the 200 and answers in its ACK.

// errNoEarlyOffer: a delayed-offer call relays 18x without SDP.
var errNoEarlyOffer = errors.New("delayed offer: the offer goes in the 200")

// delayedOffer is the client's offer of a delayed-offer call.
func (p *mediaPlan) delayedOffer(alloc *relay.Allocator) ([]byte, error) {
	if p.gwSRTP == srtpRequired {
		return nil, errNotAcceptable{"A delayed-offer INVITE cannot be taken on a gateway that requires SRTP"}
	}
	if err := p.openRelay(alloc); err != nil {
		return nil, err
	}
	return p.clientOffer()
}

// delayedAnswer takes the client's answer and makes our offer to the
// gateway, for the 200 (an 18x carries none: errNoEarlyOffer).
func (p *mediaPlan) delayedAnswer(ans sdp.Media, raw []byte, final bool) ([]byte, error) {
	p.heard(relay.Edge, ans, raw)
	p.decide(decision{false, reasonDelayedOffer, "delayed offer from the gateway: media is anchored"})
	if err := p.keys[relay.Edge].accept(ans, false); err != nil {
		return nil, err
	}
	if !final {
		return nil, errNoEarlyOffer
	}
	// Our offer to the gateway, the client's law first (no transcoding if
	// the gateway takes it).
	d, err := sdp.GatewayOffer(sdp.Media{}, false, p.local(relay.Gateway))
	if err != nil {
		return nil, err
	}
	_, events := ans.TelephoneEvent()
	d.Codecs = lateOfferCodecs(ans.G711()[0], p.gwCodecs, events)
	p.pendingEdge = &ans
	return p.sdp[relay.Gateway].marshal(d), nil
}

// lateOfferCodecs is our offer to a delayed-offer gateway: the trunk's
// codecs in their order when it has some, else the client's G.711 law
// first, the other; then telephone-event when the client's answer has it
// (events would otherwise be lost: a gateway that sees them negotiated
// sends its DTMF only as events, RFC 4733 §2.5.1.2).
func lateOfferCodecs(clientLaw sdp.Codec, trunkCodecs []string, events bool) []sdp.Codec {
	var codecs []sdp.Codec
	switch {
	case len(trunkCodecs) > 0:
		codecs = sdp.G711Order([]sdp.Codec{sdp.PCMU, sdp.PCMA}, trunkCodecs)
	case clientLaw.Name == sdp.PCMA.Name:
		codecs = []sdp.Codec{sdp.PCMA, sdp.PCMU}
	default:
		codecs = []sdp.Codec{sdp.PCMU, sdp.PCMA}
	}
	if events {
		codecs = append(codecs, sdp.TelephoneEvent)
	}
	return codecs
}

// awaitingLateAnswer reports a delayed-offer call whose gateway has not
// answered our offer yet.
func (p *mediaPlan) awaitingLateAnswer() bool { return p.lateOffer && p.pendingEdge != nil }

// lateAnswer takes the gateway's answer from its ACK and points the relay.
func (p *mediaPlan) lateAnswer(body []byte) error {
	ans, err := sdp.Parse(body)
	if err != nil {
		return fmt.Errorf("gateway's answer in ACK: %w", err)
	}
	if len(ans.G711()) == 0 {
		return fmt.Errorf("gateway's answer in ACK: %w", sdp.ErrNoG711)
	}
	if p.pendingEdge == nil {
		return errors.New("gateway's answer in ACK: no client answer")
	}
	p.heard(relay.Gateway, ans, body)
	edge := *p.pendingEdge
	p.pendingEdge = nil
	_, gwEvents := ans.TelephoneEvent()
	_, edgeEvents := edge.TelephoneEvent()
	if err := p.pointRelay(relayPeer{ans, ans.G711()[0], p.sdp[relay.Gateway].formats, p.sdp[relay.Gateway].noSend},
		relayPeer{edge, edge.G711()[0], p.sdp[relay.Edge].formats, p.sdp[relay.Edge].noSend}, gwEvents && edgeEvents); err != nil {
		return err
	}
	// The gateway's answer completes the first exchange: it may hold.
	p.negotiated()
	return nil
}
