package mediation

import (
	"context"
	"errors"
	"slices"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sip"
)

// leg is what the two legs of a call have in common: the side their peer
// is on, the peer's media side, the dialog once there is one, its session
// timer and the BYE that ends it.
type leg struct {
	role   string // "caller" or "callee", for logs and records
	side   *sip.Side
	media  relay.Side
	policy CallSettings
	dialog *sip.Dialog

	timer   sip.SessionTimer
	timerID timerID
	// ok is our 2xx to an INVITE from this leg's peer, retransmitted until
	// the ACK.
	ok *okRetransmit
	// lastAck is our latest ACK of a 2xx to a re-INVITE of ours, sent again
	// for a retransmitted 2xx.
	lastAck *gosip.Request
	// bye is our BYE in flight; byeDone once it has an outcome.
	bye *outgoing
	// refreshing: our session refresh re-INVITE (an offer) is in progress
	// on this leg; refreshBy is when the session expires if no refresh
	// succeeds (unix ns; 0: no refresh pending), kept across retries.
	refreshBy int64
	// refreshExpire is the timer that ends the call when the refresh in
	// progress is not answered by refreshBy.
	refreshExpire timerID
	// The flags together, after the words: each alone between two of
	// them would take a word (a leg is twice in every call's allocation).
	byeSent, byeDone bool
	refreshing       bool
	// expiryDue: the session expired (the peer refreshes) while a refresh
	// request of the peer was pending (expireAfterRefresh).
	expiryDue bool
	// refreshTries counts the retries of the current refresh cycle.
	refreshTries uint8
	// answers counts the peer's answers that changed its media
	// (peerAnswered): one waiting for an offer in progress to end goes
	// only if no later one came meanwhile.
	answers uint8
}

// legSDP is the SDP we last sent this leg's peer, or after an offer it
// refused the session restored (sdpLeg.unsent), not to be sent as it is:
// sendLegSDP is.
func (c *call) legSDP(l *leg) []byte { return c.media.sdp[l.media].last }

// sendLegSDP is legSDP, about to be sent to l's peer (the SDP it already
// has, offered again): it takes its o= version if it has not yet.
func (c *call) sendLegSDP(l *leg) []byte { return c.media.sdp[l.media].send() }

// supported are the option tags this leg's side supports.
func (l *leg) supported() []string { return l.policy.optionTags() }

// outgoing is a request of ours in flight and what to do with its outcome.
type outgoing struct {
	leg    *leg
	dialog *sip.Dialog
	// req is the request as last sent (its transaction's): the Via
	// branch a CANCEL or a non-2xx's ACK repeats is of the target that
	// took it (sip.Dialog.SendNext copies it with a new one for another).
	req *gosip.Request
	// tried are the dialog targets the request went to (sip.Dialog.SendNext).
	tried []string
	final bool
	// onResponse gets every response; onFail the end of a transaction that
	// got no final response.
	onResponse func(*gosip.Response)
	onFail     func(error)
	// abandoned: an INVITE given up on before its final response
	// (abandonInvite); canceled: its CANCEL went out.
	abandoned, canceled bool
}

// sendIn sends req in dialog d of leg l. The callbacks run on the call's
// goroutine.
func (c *call) sendIn(l *leg, d *sip.Dialog, req *gosip.Request, onResponse func(*gosip.Response), onFail func(error)) (*outgoing, error) {
	o := &outgoing{leg: l, dialog: d, req: req, onResponse: onResponse, onFail: onFail}
	tx, target, err := d.Send(context.Background(), req, c.sink)
	if err != nil {
		return nil, err
	}
	o.req, o.tried = tx.Req, append(o.tried, target)
	c.track(tx, o)
	return o, nil
}

// txOut is one of our requests in flight: its transaction and what the
// call knows of it.
type txOut struct {
	tx *sip.ClientTx
	o  *outgoing
}

// track adds o, sent in transaction tx, to our requests in flight.
func (c *call) track(tx *sip.ClientTx, o *outgoing) {
	c.out = append(c.out, txOut{tx, o})
}

// outOf is our request of transaction tx, nil when not in flight.
func (c *call) outOf(tx *sip.ClientTx) *outgoing {
	for _, x := range c.out {
		if x.tx == tx {
			return x.o
		}
	}
	return nil
}

// untrack forgets the transactions of which drop holds.
func (c *call) untrack(drop func(txOut) bool) {
	c.out = inline(slices.DeleteFunc(c.out, drop), c.firstOut[:])
}

// resend retries o on its dialog's next target, if there is one.
func (c *call) resend(o *outgoing) bool {
	tx, target, err := o.dialog.SendNext(context.Background(), o.req, c.sink, o.tried)
	if err != nil {
		return false
	}
	o.req, o.tried, o.final = tx.Req, append(o.tried, target), false
	c.track(tx, o)
	return true
}

// onResponse routes a response to the request it answers.
func (c *call) onResponse(tx *sip.ClientTx, res *gosip.Response) {
	o := c.outOf(tx)
	if o == nil {
		// Its transaction was ended here (an INVITE after its ACK) while
		// this response was on its way: a 2xx is still to be ACKed.
		c.onStray(tx.Side(), res)
		return
	}
	if !res.IsProvisional() {
		if o.final && !res.IsSuccess() {
			return // a retransmitted final response: its transaction ACKs it
		}
		o.final = true
	}
	if o.onResponse != nil {
		o.onResponse(res)
	}
}

// onTxDone forgets an ended transaction and reports one that got no final
// response.
func (c *call) onTxDone(tx *sip.ClientTx, err error) {
	o := c.outOf(tx)
	if o == nil {
		return
	}
	c.untrack(func(x txOut) bool { return x.tx == tx })
	if o.final {
		return
	}
	if err == nil {
		err = sip.ErrTimeout
	}
	if o.onFail != nil {
		o.onFail(err)
	}
}

// terminate ends a transaction we no longer need (an INVITE after its ACK):
// later retransmissions of its 2xx arrive as strays.
func (c *call) terminate(o *outgoing) {
	c.untrack(func(x txOut) bool {
		if x.o != o {
			return false
		}
		x.tx.Terminate() // its end comes as an event, after this
		return true
	})
}

// abandonInvite gives up our INVITE o to side, which has had no final
// response: its CANCEL goes at once when a provisional came (provisional),
// else at the first one (RFC 3261 §9.1), and a 2xx that still comes is
// ACKed and hung up. Its reliable provisionals are still PRACKed (RFC 3262
// §4: the UAC PRACKs every one, whatever it did with the INVITE): rel and
// early are those PRACKed so far and their early dialogs (by the peer's
// tag), whose CSeq the later PRACKs follow. Nothing waits for its
// outcome: the call may end meanwhile (its slot and ports are not held by
// a callee slow to answer the CANCEL), and then the call's sink sees the
// transaction through (finish).
func (c *call) abandonInvite(o *outgoing, provisional bool, side *sip.Side, rel sip.ReliableReceivers, early map[string]*sip.Dialog) {
	if o == nil || o.final || o.abandoned {
		return
	}
	tx := c.txOf(o)
	if tx == nil {
		return
	}
	o.abandoned = true
	c.sink.abandon(tx, rel, early, c.reason)
	cancel := func() {
		o.canceled = true
		if err := tx.Cancel(context.Background(), clones(c.reason)...); err != nil {
			c.log.Debug().Err(err).Str("side", side.Name).Msg("CANCEL of an abandoned INVITE not sent")
		}
	}
	if provisional {
		cancel()
	}
	o.onFail = nil
	o.onResponse = func(res *gosip.Response) {
		switch {
		case res.IsProvisional():
			// PRACKed here if the sink, which saw it first, could not
			// yet (it was read before the INVITE was given up).
			c.sink.onProvisional(tx, res)
			if !o.canceled {
				cancel()
			}
		case res.IsSuccess():
			c.log.Info().Str("side", side.Name).Msg("an abandoned INVITE was answered after all: ACK and BYE")
			tag, _ := res.To().Params.Get("tag")
			c.deps.lateAnswer(side, o.req, res, max(c.sink.earlySeq(tx, tag), c.earlySeq(tag)))
		}
	}
}

// txOf is the transaction of our request o, nil when it has ended.
func (c *call) txOf(o *outgoing) *sip.ClientTx {
	for _, x := range c.out {
		if x.o == o {
			return x.tx
		}
	}
	return nil
}

// okRetransmit is our 2xx to an INVITE, retransmitted over UDP until the
// ACK (RFC 3261 §13.3.1.4): sipgo's INVITE server transaction passes a 2xx
// on once and leaves the rest to the dialog.
type okRetransmit struct {
	in  *sip.Incoming
	res *gosip.Response
	seq uint32
	r   resend
	// onAck runs when the ACK comes; onGiveUp when none came in 64*T1.
	onAck    func(ack *gosip.Request)
	onGiveUp func()
	// byeHeld: the call ended while this 2xx waited for its ACK; our BYE
	// goes once it comes (bye).
	byeHeld bool
}

// sendOK sends a 2xx to an INVITE from l's peer and keeps it going until
// the ACK.
//
// A 2xx too large for UDP is not sent at all (Respond answers 513 in its
// place): nothing is retransmitted, and the error, wrapping
// sip.ErrMessageTooLarge, tells the caller.
func (c *call) sendOK(l *leg, in *sip.Incoming, res *gosip.Response, onAck func(*gosip.Request), onGiveUp func()) error {
	if l.ok != nil {
		c.stopResend(&l.ok.r)
		l.ok = nil
	}
	if err := in.Respond(res); err != nil {
		if errors.Is(err, sip.ErrMessageTooLarge) {
			return err
		}
		c.log.Debug().Err(err).Msg("2xx not sent")
	}
	ok := &okRetransmit{in: in, res: res, seq: in.Req.CSeq().SeqNo, onAck: onAck, onGiveUp: onGiveUp}
	l.ok = ok
	b := sip.Backoff{T1: c.deps.sip.T1, Cap: c.deps.sip.T2, Total: c.deps.sip.Timeout()}
	// Over TCP and TLS too: a 2xx is retransmitted end to end, and a hop
	// between us and the UAC may be UDP (RFC 3261 §13.3.1.4: "independent
	// of whatever transport protocols are used").
	c.resendUntil(&ok.r, b, false, func() {
		c.log.Debug().Int("n", ok.r.n).Msg("2xx retransmitted: no ACK yet")
		if err := ok.in.Respond(ok.res); err != nil {
			// The INVITE transaction is gone (Timer L): write it directly.
			_ = ok.in.Side.WriteResponse(ok.res)
		}
	}, func() {
		l.ok = nil
		ok.onGiveUp()
	})
	return nil
}

// ackFor stops the 2xx retransmission an ACK answers; false when the ACK
// is not for our latest 2xx.
func (c *call) ackFor(l *leg, ack *gosip.Request) bool {
	ok := l.ok
	if ok == nil || ack.CSeq().SeqNo != ok.seq {
		return false
	}
	c.stopResend(&ok.r)
	l.ok = nil
	if ok.onAck != nil {
		ok.onAck(ack)
	}
	return true
}

// ackReinvite ACKs a 2xx of our re-INVITE req, sent in d (RFC 3261
// §13.2.2.4): the first moves d's remote target (§12.2.1.2) before its ACK
// is built, and the ACK is kept in *ack; a retransmission gets that ACK
// again. It reports whether res was the first.
func (c *call) ackReinvite(d *sip.Dialog, req *gosip.Request, res *gosip.Response, ack **gosip.Request) bool {
	if *ack != nil {
		_ = d.WriteAck(context.Background(), *ack)
		return false
	}
	d.Refresh(res)
	// Where the 2xx came from is the flow the ACK takes: a peer that
	// closed the connection our re-INVITE went on and answered over a new
	// one of its own gets the ACK there, not down the old one, whose end
	// we may not have read yet: written there, the ACK was lost (a race
	// seen in CI: TestReinviteConnectionClosedAnswerLater).
	d.Heard(res)
	a, err := d.Ack(context.Background(), req.CSeq().SeqNo, nil)
	if err != nil {
		c.log.Debug().Err(err).Str("call_id", d.CallID).Msg("ACK of a re-INVITE's 2xx")
	}
	*ack = a
	return true
}
