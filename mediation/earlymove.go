package mediation

import (
	"bytes"
	"errors"
	"fmt"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// Moving the caller to the session of our 200. A caller keeps the first
// answer it got to its INVITE's offer (RFC 3261 §13.2.1, RFC 3262 §5):
// the SDP of our 200, when it says otherwise, is ignored. Two cases need
// the caller to take it all the same, or the call has no audio for its
// whole life (a bypassed peer has no media timeout to end it):
//
//   - Inbound, to the relay (earlyanswer.go): the client answered its 18x
//     with our bypass ID, so the gateway got the client's own address;
//     its 200 in the same early dialog without the ID is anchored, and
//     the client sends to the relay. Our 200 carries the relay's address,
//     which the gateway ignores: it keeps sending to the client's early
//     address.
//   - Outbound, to the answering fork: a bypassed client (100rel) took
//     the first reliable 18x with SDP as its answer, one fork's address
//     (the SBC forking, each fork a gateway of its own); another fork
//     answered, or the same one elsewhere, and our 200 names that. The
//     client has one early dialog with us for all the SBC's forks
//     (forks.go), so that is a changed SDP in the same dialog, which it
//     ignores: it keeps sending to the first fork. Talking to the forks
//     directly, it would have seen each in an early dialog of its own and
//     taken the answering fork's answer there. Unreliable 18x give no
//     answer (their SDP is a preview): the 200's is the answer then, and
//     nothing is moved; an anchored client always talks to the relay.
//
// Once the caller has ACKed our 200, it is offered that 200's SDP again,
// in a new version, in a re-offer of ours: UPDATE when its dialog allows
// it, else re-INVITE, as the session refresh chooses. Every peer takes
// that one. Its answer is handled as the rollback's restoring offer is
// (rollback.go): a 2xx is ACKed and its answer taken (one that moves the
// caller's media binds), a 491 is tried again, and anything else ends the
// call: the caller would send where nobody listens for the rest of it.

// reasonGatewayNotMoved and reasonClientNotMoved are the end reasons of a
// call whose caller did not take our re-offer.
const (
	reasonGatewayNotMoved = "re-offer: gateway not moved to the relay"
	reasonClientNotMoved  = "re-offer: client not moved to the answering fork"
)

// callerMove is one of those moves: what its logs and end reason call it.
type callerMove struct {
	// who is the caller as the logs name it; why the info line logged
	// as the re-offer goes out.
	who, why string
	words    offerWords
}

// moveToRelay moves an inbound call's gateway to the relay.
var moveToRelay = &callerMove{
	who: "gateway",
	why: "the gateway got the client's own address in the early answer and may keep it (RFC 3261 §13.2.1), but the client's 200 did not choose bypass and it sends to the relay: offering the gateway the relay's address again",
	words: offerWords{
		what:     "re-offer of the relay's address",
		unusable: "gateway's answer to our re-offer of the relay's address not usable: ending the call",
		refused:  "gateway refused our re-offer of the relay's address: ending the call",
		done:     "gateway moved to the relay",
		reason:   reasonGatewayNotMoved,
	},
}

// moveToFork moves an outbound bypassed client to the answering fork.
var moveToFork = &callerMove{
	who: "client",
	why: "the client took the first reliable early answer and keeps it (RFC 3262 §5, RFC 3261 §13.2.1), but the gateway's 200 answered with other media (another fork): offering the client the 200's SDP again",
	words: offerWords{
		what:     "re-offer of the answering fork's media",
		unusable: "client's answer to our re-offer of the answering fork's media not usable: ending the call",
		refused:  "client refused our re-offer of the answering fork's media: ending the call",
		done:     "client moved to the answering fork",
		reason:   reasonClientNotMoved,
	},
}

// takeCallerMove is the move the caller needs now that it has ACKed our
// 200 in our early dialog tag, nil for none, and forgets it: the caller is
// offered our 200's SDP once. reliable says whether the caller got an
// answer in a reliable 18x of that dialog. Another fork's early answers do
// not count (inbound, the 200's dialog has its own).
//
// Inbound: the dialog's early answer was bypassed and a later answer
// anchored it. Outbound: the bypassed client's answer (the first one in a
// reliable 18x, or its side of an early UPDATE since) is another stream
// than our 200's (address, ports, codecs, direction, keys: sdp.SameStream).
func (p *mediaPlan) takeCallerMove(tag string, reliable bool) *callerMove {
	e := p.earlyFor(tag)
	if e == nil {
		return nil
	}
	if p.dir == inbound {
		if !e.moved {
			return nil
		}
		e.moved = false
		if p.decision.bypass || p.relay == nil {
			return nil
		}
		return moveToRelay
	}
	if !e.decision.bypass || !p.decision.bypass {
		return nil // anchored: the client talks to the relay
	}
	taken := e.leg.last
	e.leg.last = nil
	if !reliable || taken == nil {
		return nil
	}
	early, err1 := sdp.Parse(taken)
	final, err2 := sdp.Parse(p.sdp[relay.Edge].last)
	if err := errors.Join(err1, err2); err != nil {
		p.log.Warn().Err(err).Msg("our own SDP to the client does not parse: the client is not offered our 200's SDP again")
		return nil
	}
	if sdp.SameStream(early, final) {
		return nil
	}
	p.log.Debug().Str("early_rtp", early.RTP().String()).Str("final_rtp", final.RTP().String()).
		Msg("our 200 to the client names other media than the reliable early answer it keeps")
	return moveToFork
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
		return nil, fmt.Errorf("offering our last SDP again: %w", err)
	}
	p.sdp[side] = r
	return r.last, nil
}

// moveCaller offers the caller the SDP of our 200 again (see above), once
// no other exchange is in progress on the call (a transfer's included: it
// re-offers the caller's peer itself when its target answers). One that
// waited is dropped when an exchange since has given the caller another
// SDP of ours, in an offer or answer it cannot ignore: it has moved
// already (a refusal of the redundant re-offer would end a call whose
// caller has moved).
func (c *call) moveCaller(m *callerMove) {
	a, b := &c.caller.leg, &c.callee.leg
	busy := func() bool {
		return c.offer != nil || a.ok != nil || b.ok != nil || a.refreshing || c.xfer != nil
	}
	sent := c.legSDP(a)
	try := func() {
		if c.state != stateAnswered {
			return
		}
		if !bytes.Equal(c.legSDP(a), sent) {
			c.log.Info().Str("leg", a.role).Msg(m.who + "'s session renegotiated since: " + m.words.what + " dropped")
			return
		}
		body, err := c.media.offerAgain(a.media)
		if err != nil {
			c.log.Warn().Err(err).Str("leg", a.role).Msg(m.who + " not sent our " + m.words.what)
			return
		}
		method := gosip.INVITE
		if a.dialog.Allows(gosip.UPDATE) {
			method = gosip.UPDATE
		}
		c.log.Info().Str("leg", a.role).Str("method", string(method)).Str("reason", c.media.decision.code).Msg(m.why)
		c.sendRollback(&relayedOffer{from: b, method: method, body: body, rollback: true, words: &m.words, dialog: a.dialog})
	}
	if !busy() {
		try()
		return
	}
	c.afterGlare(a, 4*c.deps.sip.T1, busy, try)
}
