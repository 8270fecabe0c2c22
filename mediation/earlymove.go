package mediation

import (
	"bytes"
	"errors"
	"fmt"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/relay"
)

// Moving the gateway to the relay after an early bypass (earlyanswer.go):
// an inbound call whose client answered its 18x with our bypass ID gave
// the gateway the client's own address; its 200 in the same early dialog
// without the ID is anchored, and the client sends to the relay. Our 200
// carries the relay's address, but a gateway that keeps the first answer
// (RFC 3261 §13.2.1) ignores it and keeps sending to the client's early
// address. Once the 200 is ACKed, the gateway is offered the relay's SDP
// again, in a new version, in a re-offer of ours: UPDATE when its dialog
// allows it, else re-INVITE, as the session refresh chooses. Every
// gateway takes that one. Its answer is handled as the rollback's
// restoring offer is (rollback.go): a 2xx is ACKed and its answer taken
// (one that moves the gateway's media binds), a 491 is tried again, and
// anything else ends the call: the gateway would send to an address the
// client no longer listens to for the rest of the call.

// reasonGatewayNotMoved is the end reason of a call whose gateway did not
// take our re-offer of the relay.
const reasonGatewayNotMoved = "re-offer: gateway not moved to the relay"

// moveWords are what the logs and end reason of that re-offer call it.
var moveWords = offerWords{
	what:     "re-offer of the relay's address",
	unusable: "gateway's answer to our re-offer of the relay's address not usable: ending the call",
	refused:  "gateway refused our re-offer of the relay's address: ending the call",
	done:     "gateway moved to the relay",
	reason:   reasonGatewayNotMoved,
}

// takeGatewayMove reports whether the 200 just ACKed, in our early
// dialog tag, ended an early dialog whose early answer was bypassed and
// later answers anchored, and forgets it: the gateway is offered the
// relay once. Another fork's early answers do not count: the 200's
// dialog has its own.
func (p *mediaPlan) takeGatewayMove(tag string) bool {
	e := p.earlyFor(tag)
	if e == nil || !e.moved {
		return false
	}
	e.moved = false
	return !p.decision.bypass && p.relay != nil
}

// offerAgain is the SDP last sent side's peer, in a new version (RFC 3264
// §8: a peer that took a version's SDP, or ignored it, must see this one as
// a new offer); it is that leg's last SDP from now on.
func (p *mediaPlan) offerAgain(side relay.Side) ([]byte, error) {
	l := p.sdp[side]
	if l.last == nil {
		return nil, errors.New("no SDP sent to that peer yet")
	}
	if l.unsent {
		// Stamped with a version not sent yet (refuse): that one.
		return p.sdp[side].send(), nil
	}
	r, err := l.restamped(l.origin)
	if err != nil {
		return nil, fmt.Errorf("offering the relay's SDP again: %w", err)
	}
	p.sdp[side] = r
	return r.last, nil
}

// moveGatewayToRelay offers the caller's gateway the relay's SDP again
// (see above), once no other exchange is in progress on the call (a
// transfer's included: it re-offers the gateway itself when its target
// answers). One that waited is dropped when an exchange since has given
// the gateway another SDP of ours, in an offer or answer it cannot
// ignore: the relay's address, already taken (a refusal of the redundant
// re-offer would end a call whose gateway has moved).
func (c *call) moveGatewayToRelay() {
	gw, edge := &c.caller.leg, &c.callee.leg
	busy := func() bool {
		return c.offer != nil || gw.ok != nil || edge.ok != nil || gw.refreshing || c.xfer != nil
	}
	sent := c.legSDP(gw)
	try := func() {
		if c.state != stateAnswered {
			return
		}
		if !bytes.Equal(c.legSDP(gw), sent) {
			c.log.Info().Str("leg", gw.role).Msg("gateway's session renegotiated since: " + moveWords.what + " dropped")
			return
		}
		body, err := c.media.offerAgain(gw.media)
		if err != nil {
			c.log.Warn().Err(err).Msg("gateway not offered the relay after an early bypass")
			return
		}
		method := gosip.INVITE
		if gw.dialog.Allows(gosip.UPDATE) {
			method = gosip.UPDATE
		}
		c.log.Info().Str("leg", gw.role).Str("method", string(method)).Str("reason", c.media.decision.code).
			Msg("the gateway got the client's own address in the early answer and may keep it (RFC 3261 §13.2.1), but the client's 200 did not choose bypass and it sends to the relay: offering the gateway the relay's address again")
		c.sendRollback(&relayedOffer{from: edge, method: method, body: body, rollback: true, words: &moveWords, dialog: gw.dialog})
	}
	if !busy() {
		try()
		return
	}
	c.afterGlare(gw, 4*c.deps.sip.T1, busy, try)
}
