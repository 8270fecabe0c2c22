package mediation

import (
	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// The latest SDP each peer sent. A call compares a new answer with it (an
// answer in an ACK that changes nothing is no new offer) and a transfer
// offers the client's to the new gateway leg, so the call keeps it for its
// whole life. Parsed, an SfB client's SDP is a dozen small objects (codec,
// candidate and m-line lists, the strings' buffer); small objects that
// outlive the set-up keep the heap spans of its garbage in use (README
// "Performance"). So the plan also keeps the body each was parsed from, as
// it came in (sipgo gives each message's body an allocation of its own,
// never changed), and a settled call keeps only that: one object a peer,
// parsed again on the rare paths that need it.

// heard records m, parsed from raw (nil: not parsed from a body as it is,
// such as an offer a trunk's codec list limited), as the latest SDP of the
// peer on side.
func (p *mediaPlan) heard(side relay.Side, m sdp.Media, raw []byte) {
	if p.peers == nil {
		p.peers = new([2]sdp.Media)
	}
	p.peers[side] = m
	p.raw[side], p.packed[side] = raw, false
}

// latest is the SDP the peer on side last sent (offer or answer).
func (p *mediaPlan) latest(side relay.Side) sdp.Media {
	if p.packed[side] {
		// It parsed before, so it parses again, to the same Media.
		m, err := sdp.Parse(p.raw[side])
		if err != nil {
			p.log.Error().Err(err).Msg("a peer's kept SDP no longer parses")
		}
		return m
	}
	if p.peers == nil {
		return sdp.Media{}
	}
	return p.peers[side]
}

// pack lets go of the parsed SDP a settled call no longer uses: the
// caller's initial offer (the set-up's only) and each peer's latest SDP
// whose body is kept.
func (p *mediaPlan) pack() {
	p.offer, p.offerRaw = sdp.Media{}, nil
	if p.peers == nil {
		return
	}
	for _, side := range [2]relay.Side{relay.Edge, relay.Gateway} {
		if p.raw[side] == nil {
			continue
		}
		p.peers[side] = sdp.Media{}
		p.packed[side] = true
	}
	if p.packed[relay.Edge] && p.packed[relay.Gateway] {
		p.peers = nil
	}
}
