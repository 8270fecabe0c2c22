package mediation

import (
	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sdp"
)

// An offer made from a peer's answer: that peer's answer to an SDP of ours
// (in its ACK of our 200 to its re-INVITE without SDP, or in its 2xx to
// our session refresh) changed its media, which binds us as its own offer
// would (RFC 3264 §8), so it went to the other peer as a re-INVITE
// (peerAnswered). Nothing answers an answer: its peer cannot be refused,
// nor offered its earlier session (it is bound to its answer), so the
// other peer must take the offer or the call cannot go on.

// reasonAnswerRefused is the end reason of a call whose peer's answer,
// relayed as an offer, the other peer refused.
const reasonAnswerRefused = "re-offer from an answer: far side refused it"

// answerOfferRefused handles res, the far side's refusal of off, an offer
// made from its peer's answer (off.in is nil), other than 408 and 481
// (the dialog is gone). A 491 (the far side's own offer crossed ours) is
// tried again after RFC 3261 §14.1's wait, at most maxRollbackGlare times,
// and dropped when that peer has answered again since or its SDP changed
// otherwise (an exchange since settled the session). Any other refusal,
// and a 491 once the tries are over, ends the call, as an answer the far
// side gives that we cannot use does (reasonAnswerUnusable): the two
// peers would disagree for the rest of it, one sending where the other
// no longer listens. Dropped, the refusal left the call up that way.
func (c *call) answerOfferRefused(off *relayedOffer, res *gosip.Response) {
	l, to := off.from, c.other(off.from)
	if res.StatusCode == 491 && off.glare < maxRollbackGlare && off.answer != nil {
		wait := c.glareWait(to)
		c.log.Info().Str("leg", to.role).Int64("retry_in_ms", wait.Milliseconds()).
			Msg("re-offer from an answer (ACK, refresh 2xx) met 491: trying again")
		was, answers, glare := c.media.latest(l.media), off.answers, off.glare+1
		busy := func() bool { return c.offer != nil || to.ok != nil || l.ok != nil || to.refreshing || l.refreshing }
		c.afterGlare(to, wait, busy, func() {
			if l.answers != answers || !sdp.SameStream(c.media.latest(l.media), was) {
				c.log.Info().Str("leg", l.role).Msg("peer's answer relayed as a re-offer met 491, and its session changed since: dropped")
				return
			}
			c.relayOffer(l, nil, gosip.INVITE, off.answer, l.timer)
			if next := c.offer; next != nil && next.from == l && next.in == nil {
				next.glare = glare
			}
		})
		return
	}
	c.log.Warn().Int("code", res.StatusCode).Str("leg", to.role).
		Msg("far side refused a re-offer that came in an answer (ACK, refresh 2xx), and its offerer cannot go back: ending the call")
	c.endForOffer(reasonAnswerRefused, failedRollback)
}
