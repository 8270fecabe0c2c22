package mediation

import (
	"context"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// An answered call keeps only what its dialogs need. Its set-up messages
// (the caller's INVITE with the server transaction it came in, our 2xx to
// it, our INVITE to the callee and our ACK of the callee's 2xx) are needed
// only while one of them can still be retransmitted to us: the callee
// resends its 2xx for at most 64*T1 after sending it (RFC 3261 §13.3.1.4),
// and the caller stops retransmitting its INVITE 64*T1 after sending it
// (Timer B, §17.1.1.2). Both have passed 64*T1 after the caller's ACK of
// our 2xx, which comes after both. Then the call lets them go: they were
// about half of what a call in progress held (README "Performance").
//
// What the call still needs of them it noted when they were made: the Via
// branch of the caller's INVITE (to tell a CANCEL or a late copy of it
// from a merged request; a copy gets our 2xx built again), the status we
// answered it with, the CSeq and Call-ID of our INVITE (a late 2xx
// retransmission is ACKed again from the dialog).

// armSettle lets the set-up messages go 64*T1 from now (the caller's ACK
// of our 2xx has come).
func (c *call) armSettle() {
	if c.caller.invite == nil || c.settleTimer != 0 {
		return
	}
	c.settleTimer = c.after(c.deps.sip.Timeout(), c.settle)
}

// settle drops the set-up messages of an answered call.
func (c *call) settle() {
	c.settleTimer = 0
	a, b := c.caller, c.callee
	// A 2xx of ours to a later re-INVITE may still await its ACK: it
	// keeps what it needs itself (leg.ok), nothing of the set-up.
	if a.invite == nil || c.state != stateAnswered {
		return
	}
	a.invite, a.finalRes = nil, nil
	if b.inv != nil {
		// Its transaction is over (ended at the ACK): nothing calls these
		// any more, and as method values of the call each is an object.
		b.inv.req, b.inv.onResponse, b.inv.onFail = nil, nil, nil
	}
	b.ack = nil
	// Nor are what only the set-up used: the callee's other early dialogs
	// (forks), the trunks left to fail over to, the last provisional, the
	// callee's answer kept so that its 200 need not be parsed again after
	// its 183 (which kept the message's body), the answers our
	// provisionals carried.
	b.early, c.next, a.lastProvisional, c.media.answer, c.media.early = nil, nil, "", nil, nil
	// Our reliable provisionals are over too (the caller's PRACKs get
	// 481 once settled).
	a.rel = nil
	// The callee's forks, with their SDP (each 18x's, an early UPDATE's:
	// a client's is 1-2 KB), served the answer only; either way. A fork's
	// 2xx that comes later is told apart by the callee dialog's remote tag
	// (reAck), and the gateway, the answering fork's 200
	// received, has dropped the other early dialogs (RFC 3261 §13.2.2.4):
	// their tags' registry keys stay with the call (c.dialogKeys), and a
	// request still sent in one is checked in the caller's dialog.
	c.forks = nil
	// With them go the marks of forks hung up (hangUpFork): one that
	// answered before the caller's ACK has given up retransmitting its 2xx
	// by now (64*T1, RFC 3261 §13.3.1.4).
	// The parsed SDP goes too where its body is kept (peersdp.go).
	c.media.pack()
	c.packStrings()
	c.log.Debug().Msg("call settled: set-up messages released")
}

// packStrings gives the strings the settled call keeps (its dialogs', its
// registry keys', the caller's and callee's numbers and tags) storage of
// their own, together (sip.Pack): pieces of the set-up messages' header
// values otherwise, each pinning its value and all small objects that
// outlive the set-up.
func (c *call) packStrings() {
	var p sip.Pack
	c.keepStrings(&p)
	p.Copy()
	c.keepStrings(&p)
	c.deps.index.rekey(c, p.Find)
}

// keepStrings passes the call's long-lived strings to p.
func (c *call) keepStrings(p *sip.Pack) {
	for _, d := range [2]*sip.Dialog{c.caller.dialog, c.callee.dialog} {
		if d != nil {
			d.KeepStrings(p)
		}
	}
	p.Keep(&c.from, &c.to, &c.caller.tag, &c.caller.branch, &c.callee.invCallID)
	// The log's Call-IDs are the dialog's and our INVITE's: pieces of the
	// messages too until packed.
	p.Keep(&c.log.aCallID, &c.log.bCallID)
	p.KeepList(&c.tried)
}

// settled reports whether the set-up messages are gone.
func (a *callerLeg) settled() bool { return a.invite == nil }

// inviteReq is our INVITE to the callee, nil once settled.
func (b *calleeLeg) inviteReq() *gosip.Request {
	if b.inv == nil {
		return nil
	}
	return b.inv.req
}

// ackAgain answers a retransmitted 2xx of the callee's INVITE with our ACK:
// the one we sent, or once settled a new one built from the dialog (an ACK
// of a 2xx is a transaction of its own, RFC 3261 §17.1.1.3).
func (c *call) ackAgain() {
	b := c.callee
	var err error
	if b.ack != nil {
		err = b.dialog.WriteAck(context.Background(), b.ack)
	} else {
		_, err = b.dialog.Ack(context.Background(), b.invSeq, nil)
	}
	if err != nil {
		c.log.Debug().Err(err).Msg("ACK for a retransmitted 2xx")
	}
}
