package mediation

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
	"github.com/rs/zerolog"
)

// errNotAcceptable carries the reason of a 488 to the caller.
type errNotAcceptable struct{ reason string }

func (e errNotAcceptable) Error() string { return e.reason }

// reasonHold is the real Mediation Server's reason phrase for an initial
// offer on hold (seen in the wild, sipwise/rtpengine #702).
const reasonHold = "Invalid incoming Gateway SDP: Call hold not allowed for initial INVITE offer"

// errNoPorts means the media port range is used up: 503.
var errNoPorts = errors.New("no media ports free")

// mediaPlan is one call's offer/answer state on both legs and, for an
// anchored call, its relay. The caller's offer comes in on leg A; the SDP
// each leg sees is built by package sdp from the other leg's SDP.
type mediaPlan struct {
	dir      direction
	offer    sdp.Media // the caller's offer, as received on leg A
	bypassID string    // outbound: the ID answered to a bypassed client; inbound: the ID offered ("" = none)
	log      zerolog.Logger
	decision decision
	relay    *relay.Session
	aSDP     sdpLeg // what we sent on leg A (answers)
	bSDP     sdpLeg // what we sent on leg B (the offer)
	// codecs negotiated on each side (relay.Edge, relay.Gateway), for the record.
	codecs [2]string
	// client and gateway are the latest SDP each peer sent (offer or answer).
	client, gateway sdp.Media
	// lateOffer: the gateway's INVITE had no SDP. The client is offered
	// G.711 on our relay (no bypass: we do not know the gateway's address),
	// the gateway gets our offer in the 200 and answers in its ACK.
	lateOffer bool
	// pendingEdge is the client's answer of a delayed-offer call until the
	// gateway's ACK completes the exchange.
	pendingEdge *sdp.Media
	onHold      bool
	reinviting  bool
	// keys are the SDES keying of each side (relay.Edge, relay.Gateway);
	// gwSRTP is the trunk's srtp mode.
	keys   [2]keying
	gwSRTP string
	// edgeCodecs is media.edge_codecs.
	edgeCodecs []string
	// sessionOpts configure the relay of an anchored call.
	sessionOpts []relay.SessionOption
}

// sdpLeg remembers the SDP last sent on one leg so that o= stays the same
// for the same session and its version grows with every change.
type sdpLeg struct {
	origin sdp.Origin
	last   []byte
}

func newSDPLeg() sdpLeg {
	return sdpLeg{origin: sdp.Origin{SessionID: rand.Uint64N(1 << 62), Version: 1}}
}

// marshal stamps d with the leg's origin, bumping the version when the SDP
// differs from the last one sent.
func (l *sdpLeg) marshal(d sdp.Description) []byte {
	d.Origin = l.origin
	body := d.Marshal()
	if l.last != nil && !bytes.Equal(body, l.last) {
		l.origin = l.origin.Next()
		d.Origin = l.origin
		body = d.Marshal()
	}
	l.last = body
	return body
}

// parseInitialOffer checks an initial INVITE's SDP. An inbound INVITE
// without SDP is a delayed offer (late is true): we make the offer, in our
// 200, and the gateway answers in its ACK.
func parseInitialOffer(dir direction, body []byte) (offer sdp.Media, late bool, err error) {
	if dir == inbound && len(bytes.TrimSpace(body)) == 0 {
		return sdp.Media{Codecs: []sdp.Codec{sdp.PCMU, sdp.PCMA, sdp.TelephoneEvent}, Proto: "RTP/AVP"}, true, nil
	}
	offer, err = parseOffer(body)
	return offer, false, err
}

// parseOffer checks the caller's initial offer; the error says which 488.
func parseOffer(body []byte) (sdp.Media, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return sdp.Media{}, errNotAcceptable{"No SDP offer: delayed-offer INVITEs are not supported"}
	}
	m, err := sdp.Parse(body)
	switch {
	case errors.Is(err, sdp.ErrNoAudio):
		return m, errNotAcceptable{"No audio media in the SDP offer"}
	case err != nil:
		return m, errNotAcceptable{"Unparseable SDP offer"}
	case m.OnHold():
		return m, errNotAcceptable{reasonHold}
	}
	return m, nil
}

// planOffer decides what leg B is offered. s are the settings in force when
// the call arrived.
func (p *mediaPlan) planOffer(s BypassSettings, trunkBypass bool, alloc *relay.Allocator) ([]byte, error) {
	p.aSDP, p.bSDP = newSDPLeg(), newSDPLeg()
	if p.dir == outbound {
		p.decision = decideOutbound(s, trunkBypass, p.gwSRTP, p.offer)
		if p.decision.bypass {
			p.bypassID = s.BypassID
			d, err := sdp.GatewayOffer(p.offer, true, netip.AddrPort{})
			if err != nil {
				return nil, errNotAcceptable{"No G.711 codec in the SDP offer"}
			}
			if p.gwSRTP != srtpOff {
				// End-to-end SRTP: the gateway decrypts with the client's key.
				d.Crypto = p.offer.SRTP()
				d.SAVP = len(d.Crypto) > 0 && (p.offer.RequiresSRTP() || p.gwSRTP == srtpRequired)
			}
			return p.bSDP.marshal(d), nil
		}
		if err := p.keys[relay.Edge].answerTo(p.offer, false); err != nil {
			return nil, err
		}
		if len(p.offer.G711()) == 0 {
			return nil, errNotAcceptable{"No G.711 codec in the SDP offer"}
		}
		if err := p.openRelay(alloc); err != nil {
			return nil, err
		}
		d, err := sdp.GatewayOffer(p.offer, false, p.relay.Local(relay.Gateway))
		if err != nil {
			return nil, errNotAcceptable{err.Error()}
		}
		if p.gwSRTP != srtpOff {
			if err := p.keys[relay.Gateway].offer(p.gwSRTP == srtpRequired, nil); err != nil {
				return nil, err
			}
			p.keys[relay.Gateway].apply(&d)
		}
		return p.bSDP.marshal(d), nil
	}
	// Inbound: the client decides, so the relay is always ready for it.
	if len(p.offer.G711()) == 0 {
		return nil, errNotAcceptable{"No G.711 codec in the gateway's SDP offer"}
	}
	switch {
	case p.lateOffer && p.gwSRTP == srtpRequired:
		return nil, errNotAcceptable{"A delayed-offer INVITE cannot be taken on a gateway that requires SRTP"}
	case p.lateOffer:
		// Plain RTP towards the gateway: our offer goes in the 200.
	case p.gwSRTP == srtpOff && p.offer.RequiresSRTP():
		return nil, errNotAcceptable{"The gateway offered " + p.offer.Proto + " but SRTP is off for this gateway"}
	case p.gwSRTP != srtpOff:
		if err := p.keys[relay.Gateway].answerTo(p.offer, p.gwSRTP == srtpRequired); err != nil {
			return nil, err
		}
	}
	if err := p.openRelay(alloc); err != nil {
		return nil, err
	}
	if !p.lateOffer {
		// Without the gateway's address there is nothing to bypass to.
		p.bypassID = inboundBypassID(s, trunkBypass)
	}
	d, err := sdp.ClientOffer(p.offer, p.relay.Local(relay.Edge), p.bypassID)
	if err != nil {
		return nil, errNotAcceptable{err.Error()}
	}
	// The client is offered the gateway's own key when the gateway uses
	// SRTP: a bypassing client then decrypts the gateway's packets, and the
	// relay encrypts with the same key otherwise. SRTP stays optional
	// towards the client (a=crypto in RTP/AVP, as SfB offers it).
	if err := p.keys[relay.Edge].offer(false, p.keys[relay.Gateway].theirs); err != nil {
		return nil, err
	}
	p.keys[relay.Edge].apply(&d)
	return p.bSDP.marshal(d), nil
}

func (p *mediaPlan) openRelay(alloc *relay.Allocator) error {
	r, err := relay.NewSession(alloc, p.log, p.sessionOpts...)
	if err != nil {
		if errors.Is(err, relay.ErrExhausted) {
			return errNoPorts
		}
		return fmt.Errorf("media relay: %w", err)
	}
	// The media timeout counts only once the call is answered (and not on
	// hold): a call may ring for longer than the timeout without early media.
	r.SetHold(true)
	r.Start()
	p.relay = r
	return nil
}

// planAnswer turns leg B's answer (an 18x or the 200) into leg A's answer
// and points the relay at both peers. final says whether this is the 200:
// an inbound call's bypass releases the relay only then.
func (p *mediaPlan) planAnswer(body []byte, final bool) ([]byte, error) {
	ans, err := sdp.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("far side's SDP answer: %w", err)
	}
	if len(ans.G711()) == 0 {
		return nil, fmt.Errorf("far side's SDP answer: %w", sdp.ErrNoG711)
	}
	var d sdp.Description
	if p.dir == outbound {
		p.client, p.gateway = p.offer, ans
		if p.decision.bypass {
			d, err = sdp.ClientAnswer(p.offer, ans, true, netip.AddrPort{}, p.bypassID)
		} else {
			d, err = sdp.ClientAnswerPrefer(p.offer, ans, p.local(relay.Edge), p.edgeCodecs)
		}
		if err != nil {
			return nil, fmt.Errorf("answer to the client: %w", err)
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
		} else {
			p.keys[relay.Edge].apply(&d)
			if p.gwSRTP != srtpOff {
				err = p.keys[relay.Gateway].accept(ans, p.gwSRTP == srtpRequired)
			}
			if err == nil {
				err = p.pointRelay(relay.Gateway, ans, ans.G711()[0], relay.Edge, p.offer, d.Codecs[0])
			}
		}
	} else if p.lateOffer {
		p.client = ans
		p.decision = decision{false, "delayed offer from the gateway: media is anchored"}
		if err = p.keys[relay.Edge].accept(ans, false); err != nil {
			return nil, err
		}
		// Our offer to the gateway, the client's law first (no transcoding
		// if the gateway takes it).
		d, err = sdp.GatewayOffer(sdp.Media{}, false, p.local(relay.Gateway))
		if err != nil {
			return nil, err
		}
		d.Codecs = lateOfferCodecs(ans.G711()[0])
		if !final {
			// No offer in an unreliable 18x: the 200 carries it.
			return nil, errNoEarlyOffer
		}
		p.pendingEdge = &ans
		return p.aSDP.marshal(d), nil
	} else {
		p.gateway, p.client = p.offer, ans
		p.decision = decideInbound(p.bypassID, ans, p.offer.RequiresSRTP() || p.gwSRTP == srtpRequired)
		d, err = sdp.GatewayAnswer(p.offer, ans, p.decision.bypass, p.local(relay.Gateway))
		if err != nil {
			return nil, fmt.Errorf("answer to the gateway: %w", err)
		}
		if p.decision.bypass {
			p.codecs = [2]string{d.Codecs[0].Name, d.Codecs[0].Name}
			if p.keys[relay.Gateway].theirs != nil {
				// End-to-end SRTP: the gateway decrypts with the client's key.
				if c := matching(ans.SRTP(), p.keys[relay.Gateway].theirs.Tag); c != nil {
					d.Crypto, d.SAVP = []sdp.Crypto{*c}, p.offer.RequiresSRTP()
				}
			}
		} else {
			err = p.keys[relay.Edge].accept(ans, false)
			p.keys[relay.Gateway].apply(&d)
			if err == nil {
				err = p.pointRelay(relay.Gateway, p.offer, d.Codecs[0], relay.Edge, ans, ans.G711()[0])
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if p.decision.bypass && final {
		p.closeRelay()
	}
	return p.aSDP.marshal(d), nil
}

// errNoEarlyOffer: a delayed-offer call relays 18x without SDP.
var errNoEarlyOffer = errors.New("delayed offer: the offer goes in the 200")

// lateOfferCodecs is our offer to a delayed-offer gateway: the client's
// G.711 law first, the other, then telephone-event.
func lateOfferCodecs(clientLaw sdp.Codec) []sdp.Codec {
	if clientLaw.Name == sdp.PCMA.Name {
		return []sdp.Codec{sdp.PCMA, sdp.PCMU, sdp.TelephoneEvent}
	}
	return []sdp.Codec{sdp.PCMU, sdp.PCMA, sdp.TelephoneEvent}
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
	if p.pendingEdge == nil {
		return errors.New("gateway's answer in ACK: no client answer")
	}
	p.gateway = ans
	edge := *p.pendingEdge
	p.pendingEdge = nil
	return p.pointRelay(relay.Gateway, ans, ans.G711()[0], relay.Edge, edge, edge.G711()[0])
}

// answered starts the relay's media timeout.
func (p *mediaPlan) answered() {
	if p.relay != nil && !p.onHold {
		p.relay.SetHold(false)
	}
}

// lastAnswer is leg A's answer already sent (a 200 without SDP after a 183
// with SDP repeats it).
func (p *mediaPlan) lastAnswer() []byte { return p.aSDP.last }

// local is our RTP address on a side, the zero address for a bypassed call.
func (p *mediaPlan) local(side relay.Side) netip.AddrPort {
	if p.relay == nil {
		return netip.AddrPort{}
	}
	return p.relay.Local(side)
}

// pointRelay tells the relay where each peer takes media and in which codec.
func (p *mediaPlan) pointRelay(gw relay.Side, gwMedia sdp.Media, gwCodec sdp.Codec, edge relay.Side, edgeMedia sdp.Media, edgeCodec sdp.Codec) error {
	if p.relay == nil {
		return errors.New("anchored call without a relay")
	}
	gwLeg, edgeLeg := legFor(gwMedia, gwCodec), legFor(edgeMedia, edgeCodec)
	gwLeg.SRTP, edgeLeg.SRTP = p.keys[relay.Gateway].relay(), p.keys[relay.Edge].relay()
	if err := p.relay.SetLeg(gw, gwLeg); err != nil {
		return err
	}
	p.codecs[relay.Gateway], p.codecs[relay.Edge] = gwCodec.Name, edgeCodec.Name
	return p.relay.SetLeg(edge, edgeLeg)
}

func legFor(m sdp.Media, c sdp.Codec) relay.Leg {
	l := relay.Leg{RTP: m.RTP(), RTCP: m.RTCP(), Codec: relay.Codec{PT: c.PT, Name: c.Name}}
	if ev, ok := m.TelephoneEvent(); ok {
		l.Codec.EventPT = ev.PT
	}
	return l
}

func (p *mediaPlan) closeRelay() {
	if p.relay != nil {
		p.relay.Close()
		p.relay = nil
	}
}

// legRecords reports each side's media for the call record.
func (p *mediaPlan) legRecords() (edge, gw LegRecord) {
	edge.Codec, gw.Codec = p.codecs[relay.Edge], p.codecs[relay.Gateway]
	if p.relay == nil {
		return edge, gw
	}
	st := p.relay.Stats()
	fill := func(l *LegRecord, s relay.SideStats) {
		l.PacketsSent, l.PacketsReceived = s.RTPSent, s.RTPReceived
		l.BytesSent, l.BytesReceived = s.RTPSentBytes, s.RTPReceivedBytes
		l.PacketsLost = s.Lost
		l.JitterMs = float64(s.Jitter) / float64(time.Millisecond)
		l.RTTMs = float64(s.RTT) / float64(time.Millisecond)
	}
	fill(&edge, st.Edge)
	fill(&gw, st.Gateway)
	return edge, gw
}
