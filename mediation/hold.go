package mediation

import "github.com/mediation-emulator/mediation/mediation/relay"

// Hold: RTCP keeps flowing on a held stream (RFC 3264 §5.1, §8.4), so
// the relay's media timeout, which counts RTP and RTCP alike, keeps
// running on hold: a peer gone on hold and then off the network (a client
// playing its own music on hold that loses its network) would otherwise
// hold the call, its slot and its ports for ever. A trunk with
// rtcp_calls_on_hold off (CCE's RTCPCallsOnHold) has peers that go fully
// silent on hold: the count is suspended while the call is on hold. On hold is what the negotiated
// session says, offer and answer on both legs (RFC 3264 §6.1, §8.4), not
// the latest offer alone: a held client answers the SBC's sendrecv
// re-offer sendonly, an SBC answers a resume inactive while it holds
// too, a queue answers the first INVITE inactive. Each peer's latest SDP
// (peersdp.go) is its side of the latest exchange on its leg, and ours to
// it follows from the other peer's (directions pass through, RFC 2543
// holds become sendonly), so media flows both ways on both legs exactly
// when both peers' latest SDP is sendrecv on a real address.

// negotiatedHold reports whether the negotiated session is on hold: either
// peer's latest SDP is sendonly, recvonly, inactive or c=0.0.0.0. A side
// with no SDP yet (a delayed-offer gateway before its ACK) holds nothing.
func (p *mediaPlan) negotiatedHold() bool {
	return !p.latest(relay.Edge).TwoWay() || !p.latest(relay.Gateway).TwoWay()
}

// negotiated applies the hold state of the session just negotiated (an
// answer, initial or to a re-offer) to the relay's media timeout, which
// counts only once the call is answered; the count restarts at each
// negotiation, so a hold starts with a full timeout.
func (p *mediaPlan) negotiated() {
	hold := p.negotiatedHold()
	if hold != p.onHold && p.counting {
		p.log.Info().Bool("hold", hold).Bool("anchored", p.relay != nil).Msg("negotiated hold state changed")
	}
	p.onHold = hold
	if p.relay != nil && p.counting {
		p.relay.SuspendTimeout(hold && p.relayOptions != nil && !p.relayOptions.holdTimeout())
	}
}
