package mediation

import (
	"bytes"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// Rolling back a relayed re-offer that the far side accepted (2xx) with an
// answer we cannot use (an anchored call's far side answering without
// G.711 or at an address of the other family, a bypassed SRTP re-offer
// answered without a matching key). Its offerer gets 488 and keeps its old
// session (an offer that came in an answer, in an ACK or a refresh's 2xx,
// cannot be refused: that call ends instead, onOfferAnswer); the far side, already on the new one, is offered its old
// session again, so that the two peers agree (RFC 3264 §8: the session is
// the last one both accepted). The rollback is our own re-INVITE (or
// UPDATE, as the offer was) in that leg: its 2xx is ACKed, a 491 is tried
// again after the RFC 3261 §14.1 wait, and anything else (a refusal, 408,
// 481, no response, an answer we cannot use either) ends the call rather
// than leave the peers disagreeing.

// reasonRollback is the end reason of an answered call whose rollback
// failed; failedRollback how one not answered yet (an early dialog's
// UPDATE) fails.
const reasonRollback = "re-offer: far side's session not restored"

var failedRollback = setupError{500, "Server Internal Error", "reoffer_not_restored"}

// reasonAnswerUnusable is the end reason of a call whose peer's answer (in
// an ACK, in a refresh's 2xx), relayed as an offer, got from the far side
// an answer we cannot use: nothing to roll back to (onOfferAnswer).
const reasonAnswerUnusable = "re-offer from an answer: far side's answer not usable"

// maxRollbackGlare bounds the 491s a rollback is tried again after.
const maxRollbackGlare = 3

// rollback offers the far side of off the session it had before off:
// its answer was not usable (commit refused it: unusable), or its offerer
// cancelled it and the far side's 2xx crossed our CANCEL.
func (c *call) rollback(off *relayedOffer, unusable bool) {
	to := c.other(off.from)
	body, err := c.media.rollback(off.ro)
	if err != nil {
		c.log.Warn().Err(err).Str("leg", to.role).
			Msg("far side took a re-offer it should not have, and its earlier session cannot be offered again: ending the call")
		c.endForOffer(reasonRollback, failedRollback)
		return
	}
	if unusable {
		c.log.Warn().Str("leg", to.role).Str("method", string(off.method)).
			Msg("far side took a re-offer whose answer is not usable: offering it its earlier session again")
	}
	// In the dialog off went in: the peer that took off's session.
	c.sendRollback(&relayedOffer{from: off.from, method: off.method, body: body, rollback: true, dialog: off.out.dialog, ourTag: off.ourTag})
}

// sendRollback sends (or sends again) the rollback rb: an offer in
// progress, as a relayed one is (c.offer), so that offers crossing it get
// 491 and a session refresh waits.
func (c *call) sendRollback(rb *relayedOffer) {
	c.offer = rb
	c.sendOffer(rb)
}

// offerWords are what the logs and end reason of an offer of ours
// handled as a rollback call it.
type offerWords struct {
	what, unusable, refused, done, reason string
}

// rollbackWords are a rollback's own.
var rollbackWords = offerWords{
	what:     "restoring offer",
	unusable: "far side's answer to its restored session not usable either: ending the call",
	refused:  "far side refused its restored session: ending the call",
	done:     "far side's earlier session restored",
	reason:   reasonRollback,
}

// wording is rb's words: its own, or a rollback's.
func (rb *relayedOffer) wording() *offerWords {
	if rb.words != nil {
		return rb.words
	}
	return &rollbackWords
}

// failReason is the end reason of a call whose offer of ours rb failed.
func (rb *relayedOffer) failReason() string { return rb.wording().reason }

// onRollbackAnswer takes the final response to the rollback rb (its 2xx
// already ACKed, a 422 already handled by onOfferAnswer), or to our offer
// of our 200's SDP to a caller that kept an early answer (earlymove.go).
func (c *call) onRollbackAnswer(rb *relayedOffer, res *gosip.Response) {
	to := c.other(rb.from)
	w := rb.wording()
	switch {
	case res.IsSuccess():
		if t := sip.NegotiateUAC(res, to.timer.Interval); t.Active {
			to.timer = t
			c.armSessionTimer(to)
		}
		if err := c.media.restored(to.media, res.Body()); err != nil {
			c.log.Warn().Err(err).Str("leg", to.role).Msg(w.unusable)
			c.endForOffer(w.reason, failedRollback)
			return
		}
		c.log.Info().Str("leg", to.role).Msg(w.done)
		// An answer that moves its media binds us, as the answer to our
		// session refresh does.
		c.peerAnswered(to, res.Body())
	case res.StatusCode == 491 && rb.glare < maxRollbackGlare:
		rb.glare++
		wait := c.glareWait(to)
		c.log.Info().Str("leg", to.role).Int64("retry_in_ms", wait.Milliseconds()).Msg(w.what + " met 491: trying again")
		busy := func() bool { return c.offer != nil || to.ok != nil || rb.from.ok != nil || to.refreshing }
		c.afterGlare(to, wait, busy, func() {
			switch {
			case c.dialogGone(to, rb.dialog) || c.forkGone(rb.ourTag):
				// The dialog the restored session is for has ended
				// since (a fork's early dialog that another fork's
				// 2xx ended, a dialog a transfer replaced): its peer
				// is gone, nothing to restore.
				c.log.Info().Str("leg", to.role).Msg("far side's dialog ended since: " + w.what + " dropped")
			case !bytes.Equal(c.legSDP(to), rb.body):
				// An exchange since (the far side's own offer, relayed
				// and answered) has given that peer a session both
				// peers agree on: nothing to restore.
				c.log.Info().Str("leg", to.role).Msg("far side's session renegotiated since: " + w.what + " dropped")
			default:
				c.sendRollback(rb)
			}
		})
	default:
		c.log.Warn().Int("code", res.StatusCode).Str("leg", to.role).Msg(w.refused)
		c.endForOffer(w.reason, failedRollback)
	}
}
