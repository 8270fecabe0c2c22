package mediation

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// Delayed offer: the gateway's INVITE has no SDP. The client is offered
// G.711 on our relay (no bypass: we do not know the gateway's address),
// the gateway gets our offer in the 200 and answers in its ACK.
//
// RFC 3261 §13.2.1 puts the offer in the first reliable non-failure
// response: our 18x of such a call go unreliably, without SDP, to a
// gateway that only supports 100rel (relayProvisional). One that requires
// it (Require: 100rel in its INVITE, or the trunk's prack: required) gets
// them reliably, the first in each early dialog with our offer (the one
// the 200 would have carried), and answers in its PRACK (RFC 3262 §5);
// our 200 in a dialog whose offer went so carries no SDP, and its ACK none
// either (reliableOffer). Sending no 18x at all would also keep the rule,
// but leave the PSTN caller in silence until the answer, and trip an
// SBC's timer for a first 18x.

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
// gateway, for the 200 (an 18x carries none: errNoEarlyOffer). In our
// early dialog tag towards the gateway whose reliable 18x carried our
// offer already (reliableOffer), the 200 carries no SDP (nil, nil), and
// the client's answer, an 18x's too, points the relay as soon as the
// gateway's answer from its PRACK is in.
func (p *mediaPlan) delayedAnswer(ans sdp.Media, raw []byte, final bool, tag string) ([]byte, error) {
	p.heard(relay.Edge, ans, raw)
	p.decide(decision{false, reasonDelayedOffer, "delayed offer from the gateway: media is anchored"})
	if err := p.keys[relay.Edge].accept(ans, false); err != nil {
		return nil, err
	}
	if ro := p.relOffer(); ro != nil && (!final || ro.offeredIn(tag)) {
		if err := p.pointEarly(tag); err != nil {
			return nil, err
		}
		if final {
			return nil, nil
		}
	}
	if !final {
		return nil, errNoEarlyOffer
	}
	d, err := p.gatewayLateOffer(ans)
	if err != nil {
		return nil, err
	}
	p.delayed().pendingEdge = &ans
	return p.sdp[relay.Gateway].marshal(d), nil
}

// gatewayLateOffer is our offer to a delayed-offer gateway, the client's
// law first (no transcoding if the gateway takes it) when its answer ans
// has one, telephone-event when it has that. Without a client answer yet
// (a reliable 180 without SDP must carry our offer: offerIn18x), the
// offer has telephone-event: the client was offered it, and whatever it
// answers the relay takes the gateway's events (played as tones to a
// client without them), where an offer without it would have the gateway
// send its DTMF in-band or not at all for the whole call (r27-review2 F6).
func (p *mediaPlan) gatewayLateOffer(ans sdp.Media) (sdp.Description, error) {
	d, err := sdp.GatewayOffer(sdp.Media{}, false, p.local(relay.Gateway))
	if err != nil {
		return d, err
	}
	law := sdp.PCMU
	g := ans.G711()
	if len(g) > 0 {
		law = g[0]
	}
	_, events := ans.TelephoneEvent()
	events = events || len(g) == 0
	d.Codecs = lateOfferCodecs(law, p.gwCodecs, events)
	return d, nil
}

// delayedState is what only a delayed-offer call keeps (mediaPlan.late).
type delayedState struct {
	// pendingEdge is the client's answer until the gateway's ACK
	// completes the exchange.
	pendingEdge *sdp.Media
	// rel is our offer in reliable 18x, to a gateway that requires
	// 100rel; nil otherwise.
	rel *reliableOffer
}

// delayed is the call's delayedState, made at its first use.
func (p *mediaPlan) delayed() *delayedState {
	if p.late == nil {
		p.late = &delayedState{}
	}
	return p.late
}

// relOffer is our offer in reliable 18x (delayedState.rel), nil for none.
func (p *mediaPlan) relOffer() *reliableOffer {
	if p.late == nil {
		return nil
	}
	return p.late.rel
}

// reliableOffer is a delayed-offer call's offer to a gateway that requires
// 100rel: sent in the first reliable 18x of each of our early dialogs
// towards it (the same SDP in each), answered in the PRACK of that 18x
// (RFC 3262 §5).
type reliableOffer struct {
	sdp  []byte
	tags []string
	// answers are the gateway's, one per early dialog that has one, with
	// the CSeq of the PRACK that carried it (a copy of that PRACK has it
	// too).
	answers []prackAnswer
	// pointed is the tag whose answer the relay was last pointed at.
	pointed string
}

type prackAnswer struct {
	tag   string
	seq   uint32
	media sdp.Media
	raw   []byte
}

func (ro *reliableOffer) offeredIn(tag string) bool { return slices.Contains(ro.tags, tag) }

// answer is the gateway's answer in our early dialog tag, nil when none.
func (ro *reliableOffer) answer(tag string) *prackAnswer {
	for i := range ro.answers {
		if ro.answers[i].tag == tag {
			return &ro.answers[i]
		}
	}
	return nil
}

// offerIn18x is our offer to the gateway for the first reliable 18x of
// our early dialog tag (reliableOffer), built from the client's latest
// answer, if any (its law first), at the first such 18x.
func (p *mediaPlan) offerIn18x(tag string) ([]byte, error) {
	ro := p.relOffer()
	if ro == nil {
		d, err := p.gatewayLateOffer(p.latest(relay.Edge))
		if err != nil {
			return nil, err
		}
		ro = &reliableOffer{sdp: p.sdp[relay.Gateway].marshal(d)}
		p.delayed().rel = ro
	}
	if !ro.offeredIn(tag) {
		ro.tags = append(ro.tags, tag)
	}
	return ro.sdp, nil
}

// offeredIn18x reports whether our reliable 18x in our early dialog tag
// carried our offer to a delayed-offer gateway (reliableOffer).
func (p *mediaPlan) offeredIn18x(tag string) bool {
	ro := p.relOffer()
	return p.lateOffer && ro != nil && ro.offeredIn(tag)
}

// answerAwaited reports whether a PRACK in our early dialog tag must carry
// the gateway's answer to the offer in our reliable 18x there: none came
// yet. seen reports a copy of the PRACK that carried it (same CSeq).
func (p *mediaPlan) answerAwaited(tag string, prackSeq uint32) (awaited, seen bool) {
	ro := p.relOffer()
	if !p.lateOffer || ro == nil || !ro.offeredIn(tag) {
		return false, false
	}
	if a := ro.answer(tag); a != nil {
		return false, a.seq == prackSeq
	}
	return true, false
}

// prackAnswer takes the gateway's answer to our offer in the reliable 18x
// of our early dialog tag, from its PRACK (CSeq seq), and points the relay
// once the client has answered too.
func (p *mediaPlan) prackAnswer(tag string, seq uint32, body []byte) error {
	ans, err := sdp.Parse(body)
	if err != nil {
		return fmt.Errorf("gateway's answer in PRACK: %w", err)
	}
	if len(ans.G711()) == 0 {
		return fmt.Errorf("gateway's answer in PRACK: %w", sdp.ErrNoG711)
	}
	ro := p.relOffer()
	ro.answers = append(ro.answers, prackAnswer{tag, seq, ans, body})
	return p.pointEarly(tag)
}

// pointEarly points the relay at the gateway's answer from the PRACK in
// our early dialog tag (or, without one there, the latest from any) and
// the client's latest answer, once both are in.
func (p *mediaPlan) pointEarly(tag string) error {
	ro := p.relOffer()
	gw := ro.answer(tag)
	if gw == nil && len(ro.answers) > 0 {
		gw = &ro.answers[len(ro.answers)-1]
	}
	edge := p.latest(relay.Edge)
	if gw == nil || len(edge.G711()) == 0 {
		return nil
	}
	p.heard(relay.Gateway, gw.media, gw.raw)
	ro.pointed = gw.tag
	return p.pointLate(gw.media, edge)
}

// earlyAnswered reports whether the client's answer and the gateway's from
// a PRACK in our early dialog tag are in: our 200 there needs no SDP.
func (p *mediaPlan) earlyAnswered(tag string) bool {
	ro := p.relOffer()
	return p.lateOffer && ro != nil && ro.offeredIn(tag) && len(p.latest(relay.Edge).G711()) > 0
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
func (p *mediaPlan) awaitingLateAnswer() bool {
	return p.lateOffer && p.late != nil && p.late.pendingEdge != nil
}

// lateAnswer takes the gateway's answer from its ACK and points the relay.
func (p *mediaPlan) lateAnswer(body []byte) error {
	ans, err := sdp.Parse(body)
	if err != nil {
		return fmt.Errorf("gateway's answer in ACK: %w", err)
	}
	if len(ans.G711()) == 0 {
		return fmt.Errorf("gateway's answer in ACK: %w", sdp.ErrNoG711)
	}
	if p.late == nil || p.late.pendingEdge == nil {
		return errors.New("gateway's answer in ACK: no client answer")
	}
	p.heard(relay.Gateway, ans, body)
	edge := *p.late.pendingEdge
	p.late.pendingEdge = nil
	return p.pointLate(ans, edge)
}

// pointLate points a delayed-offer call's relay at the gateway's answer gw
// and the client's edge.
func (p *mediaPlan) pointLate(gw, edge sdp.Media) error {
	_, gwEvents := gw.TelephoneEvent()
	_, edgeEvents := edge.TelephoneEvent()
	// Each leg's own events: our offer in a reliable 180 sent before the
	// client answered has telephone-event, which the gateway may take
	// while the client's answer has none; its digits then reach the
	// client as tones (the relay renders them), not dropped.
	if err := p.pointRelayEvents(relayPeer{gw, gw.G711()[0], p.sdp[relay.Gateway].formats, p.sdp[relay.Gateway].noSend},
		relayPeer{edge, edge.G711()[0], p.sdp[relay.Edge].formats, p.sdp[relay.Edge].noSend}, gwEvents, edgeEvents); err != nil {
		return err
	}
	// The gateway's answer completes the first exchange: it may hold.
	p.negotiated()
	return nil
}
