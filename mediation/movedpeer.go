// A peer that moves its media: the relay follows, the other peer is not
// asked.

package mediation

import (
	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// moveMedia takes an offer of side's peer, in an anchored call on a plain
// RTP leg, that changes nothing but where that peer takes its media
// (sdp.Moved: an SBC's switch-over to another media address, a client's
// new network): the relay's leg towards it moves there, and nothing of
// the other leg changes, so the other peer need not be asked, and that
// peer's answer is the SDP it already has from us. It reports whether it did; false leaves
// everything as it was (the offer then goes to the other peer as any
// re-offer). prev is the SDP that peer sent before (latest), raw the body
// offer was parsed from.
func (p *mediaPlan) moveMedia(side relay.Side, prev, offer sdp.Media, raw []byte) bool {
	if p.decision.bypass || p.relay == nil || p.legs == nil || p.keys[side].relay() != nil {
		// An SRTP leg: a peer at a new address may receive in a new
		// crypto context, at rollover counter 0, so it needs a new key of
		// ours (keying.answerTo), which the SDP it has from us lacks; the
		// offer goes on as a re-offer.
		return false
	}
	leg := p.legs[side]
	if !leg.RTP.IsValid() || !sdp.Moved(prev, offer) {
		return false
	}
	if p.familyErr(side, offer) != nil {
		// Moved to an address the relay cannot reach: refused as a
		// re-offer (reOffer), the call stays as it was.
		return false
	}
	leg.RTP, leg.RTCP, leg.Sources = offer.RTP(), offer.RTCP(), p.sources(side, offer)
	if err := p.relay.SetLeg(side, leg); err != nil {
		p.log.Warn().Err(err).Stringer("side", side).Msg("relay cannot follow the peer's new media address")
		return false
	}
	p.legs[side] = leg
	p.heard(side, offer, raw)
	p.log.Info().Stringer("side", side).Stringer("peer_rtp", leg.RTP).
		Msg("peer moved its media: the relay follows, the other peer is not asked")
	return true
}

// unchangedAnswer reports whether ans, side's peer's answer to the SDP it
// had offered again, changes nothing: the same stream as its latest SDP,
// or, on an anchored call, a subset of its formats whose first is the one
// the relay takes from it (sdp.SameAnswer). A peer's first refresh answer
// lists fewer formats than its offer did and used to count as a change:
// an offer to the other peer that changed nothing.
func (p *mediaPlan) unchangedAnswer(side relay.Side, ans sdp.Media) bool {
	prev := p.latest(side)
	if sdp.SameStream(ans, prev) {
		return true
	}
	if p.decision.bypass || p.legs == nil {
		return false
	}
	c := p.legs[side].Codec
	return sdp.SameAnswer(ans, prev, sdp.Codec{PT: c.PT, Name: c.Name})
}

// rekeyed takes ans, side's peer's answer to an SDP of ours that offered
// it the session it had (a session refresh, our 200 to its re-INVITE
// without SDP), on an anchored call whose leg to it runs SRTP, when the
// answer changes nothing but the peer's own key (the line of our tag and
// suite, a new key or lifetime: the peer re-keys what it sends, RFC 4568
// §7.1.4): the relay decrypts its media under the new key at once (the
// old one keeps its grace for packets already on their way), and the
// other peer, whose leg nothing changes, is not asked. It reports whether
// it did; false leaves everything as it was. Relayed as an offer instead,
// the new key was applied only once the other peer had answered: the
// peer's media failed to decrypt meanwhile (r26-regr R1).
func (p *mediaPlan) rekeyed(side relay.Side, ans sdp.Media, raw []byte) bool {
	k := p.keys[side]
	if p.decision.bypass || p.relay == nil || p.legs == nil || k.relay() == nil {
		return false
	}
	prev := p.latest(side)
	same := ans
	same.Crypto = prev.Crypto
	if !p.unchangedAnswer(side, same) {
		return false
	}
	if err := k.accept(ans, false); err != nil || k.theirs == nil || k.theirs.Suite != p.keys[side].theirs.Suite {
		// No line of ours in it (the peer drops SRTP), another suite:
		// for the other peer to hear of as any change.
		return false
	}
	leg := p.legs[side]
	leg.SRTP = k.relay()
	if err := p.relay.SetLeg(side, leg); err != nil {
		p.log.Warn().Err(err).Stringer("side", side).Msg("relay cannot take the peer's new SRTP key")
		return false
	}
	p.legs[side], p.keys[side] = leg, k
	p.heard(side, ans, raw)
	p.log.Info().Stringer("side", side).Msg("peer re-keyed in its answer: the relay decrypts under its new key, the other peer is not asked")
	return true
}
