package mediation_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestEarlyUpdateSurvivesThe200: an offer/answer completed by an UPDATE in
// the early dialog of an anchored call is not undone by the INVITE's 200.
// The caller ignores the SDP of that 200 (its exchanges are complete: RFC
// 3261 §13.2.1, RFC 6337 §3.1), so it carries the SDP the caller last got,
// and the relay keeps each peer where the UPDATE put it: the 200 was
// built afresh from the INVITE's offer, which put the relay back on the
// caller's pre-UPDATE address and gave the caller a new SDP version, in a
// law its UPDATE answer had not accepted.
func TestEarlyUpdateSurvivesThe200(t *testing.T) {
	// flows checks that from, sending in law to the relay address of the
	// SDP dest gives, is heard by want with payload type wantPT.
	flows := func(t *testing.T, from *net.UDPConn, law string, dest func() []byte, want *net.UDPConn, wantPT uint8) {
		t.Helper()
		var wg sync.WaitGroup
		wg.Go(func() {
			rawPeer{sock: from, law: law}.exchange(t, media(t, "SDP to the sender", dest()).RTP(), 600, 60)
		})
		got := receivedPT(want, wantPT, 4*time.Second)
		wg.Wait()
		if !got {
			t.Errorf("no RTP with payload type %d where the UPDATE put the media", wantPT)
		}
	}

	t.Run("outbound, the SBC's UPDATE, its 200 in another law", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		s1, s2, s3, callerMedia := rtpSock(t), rtpSock(t), rtpSock(t), rtpSock(t)
		sbc := startPeer(t, "sbc")
		sbc.invites(func(pi *peerInvite) {
			pi.reliable(183, 1, loopSDP(sockPort(s1), "sendrecv", true, "PCMU", "PCMA"))
			pi.p.wait(ctx, gosip.PRACK, 1)
			res := pi.do(ctx, pi.inDialog(gosip.UPDATE, pi.req.CSeq().SeqNo+1, loopSDP(sockPort(s2), "sendrecv", true, "PCMU", "PCMA")))
			if res.StatusCode != 200 || len(res.Body()) == 0 {
				t.Errorf("SBC's early UPDATE got %d", res.StatusCode)
			}
			// Its 200 changes its mind: another port, PCMA only.
			pi.respond(200, loopSDP(sockPort(s3), "sendrecv", true, "PCMA"))
			pi.waitAck(ctx)
		})
		srv := serveTo(t, sbc.addr(), "udp", nil)
		caller := startPeer(t, "caller")
		caller.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
			caller.reply(req, tx, 200, loopSDP(sockPort(callerMedia), "sendrecv", true, "PCMU"), allowUpdate())
		})
		oc := caller.call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(callerMedia), "sendrecv", true, "PCMU", "PCMA"),
			gosip.NewHeader("Supported", "100rel"))
		prackReliable(ctx, t, oc)
		upd := caller.wait(ctx, gosip.UPDATE, 1)
		if !bytes.Equal(oc.final.Body(), upd.Body()) {
			t.Errorf("our 200 carries another SDP than the UPDATE the caller answered:\n%s\n---\n%s", upd.Body(), oc.final.Body())
		}
		// The caller answered PCMU only: it hears PCMU, the SBC's PCMA
		// from its 200's address transcoded.
		flows(t, s3, "PCMA", func() []byte { return sbc.wait(ctx, gosip.INVITE, 1).Body() }, callerMedia, 0)
		byeCall(ctx, t, oc)
		sbc.wait(ctx, gosip.BYE, 1)
	})

	t.Run("outbound, fork A's UPDATE, fork B's 183, A's 200 without SDP", func(t *testing.T) {
		// The SBC forks: A answers, moves its media by UPDATE, B's 183
		// comes, and A answers 200 without SDP. A's latest SDP is its
		// UPDATE's, where the relay goes back to (not its 183's).
		ctx := testCtx(t, 30*time.Second)
		s1, s2, s3, callerMedia := rtpSock(t), rtpSock(t), rtpSock(t), rtpSock(t)
		sbc := startPeer(t, "sbc")
		sbc.invites(func(pi *peerInvite) {
			pi.reliable(183, 1, loopSDP(sockPort(s1), "sendrecv", true, "PCMU", "PCMA"))
			pi.p.wait(ctx, gosip.PRACK, 1)
			res := pi.do(ctx, pi.inDialog(gosip.UPDATE, pi.req.CSeq().SeqNo+1, loopSDP(sockPort(s2), "sendrecv", true, "PCMU", "PCMA")))
			if res.StatusCode != 200 || len(res.Body()) == 0 {
				t.Errorf("SBC's early UPDATE got %d", res.StatusCode)
			}
			b := pi.response(183, loopSDP(sockPort(s3), "sendrecv", true, "PCMA"),
				gosip.NewHeader("Require", "100rel"), gosip.NewHeader("RSeq", "1"))
			b.To().Params.Add("tag", "forkB")
			_ = pi.tx.Respond(b)
			pi.p.wait(ctx, gosip.PRACK, 2)
			pi.respond(200, nil)
			pi.waitAck(ctx)
		})
		srv := serveTo(t, sbc.addr(), "udp", nil)
		caller := startPeer(t, "caller")
		caller.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
			caller.reply(req, tx, 200, loopSDP(sockPort(callerMedia), "sendrecv", true, "PCMU"), allowUpdate())
		})
		oc := caller.call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(callerMedia), "sendrecv", true, "PCMU", "PCMA"),
			gosip.NewHeader("Supported", "100rel"))
		prackReliable(ctx, t, oc)
		if tag, _ := sbc.wait(ctx, gosip.ACK, 1).To().Params.Get("tag"); tag == "forkB" {
			t.Fatal("ACK went to fork B")
		}
		if upd := caller.wait(ctx, gosip.UPDATE, 1); !bytes.Equal(oc.final.Body(), upd.Body()) {
			t.Errorf("our 200 carries another SDP than the UPDATE the caller answered:\n%s\n---\n%s", upd.Body(), oc.final.Body())
		}
		flows(t, callerMedia, "PCMU", func() []byte { return oc.final.Body() }, s2, 0)
		byeCall(ctx, t, oc)
		sbc.wait(ctx, gosip.BYE, 1)
	})

	t.Run("outbound, the client's UPDATE, the SBC's 200 repeating its answer", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		s1, c1, c2 := rtpSock(t), rtpSock(t), rtpSock(t)
		sbcAnswer := loopSDP(sockPort(s1), "sendrecv", true, "PCMU")
		updated := make(chan struct{})
		sbc := startPeer(t, "sbc")
		sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
			sbc.reply(req, tx, 200, sbcAnswer, allowUpdate())
			close(updated)
		})
		sbc.invites(func(pi *peerInvite) {
			pi.reliable(183, 1, sbcAnswer)
			select {
			case <-updated:
			case <-ctx.Done():
				return
			}
			pi.respond(200, sbcAnswer)
			pi.waitAck(ctx)
		})
		srv := serveTo(t, sbc.addr(), "udp", nil)
		caller := startPeer(t, "caller")
		oc := caller.call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(c1), "sendrecv", true, "PCMU", "PCMA"),
			gosip.NewHeader("Supported", "100rel"))
		var ures *gosip.Response
		prackReliable(ctx, t, oc, func(r *gosip.Response) {
			ures = earlyUpdate(ctx, t, oc, r, loopSDP(sockPort(c2), "sendrecv", true, "PCMU", "PCMA"))
		})
		if ures == nil || ures.StatusCode != 200 {
			t.Fatalf("the caller's early UPDATE got %v", ures)
		}
		if !bytes.Equal(oc.final.Body(), ures.Body()) {
			t.Errorf("our 200 carries another SDP than our answer to the caller's UPDATE:\n%s\n---\n%s", ures.Body(), oc.final.Body())
		}
		flows(t, s1, "PCMU", func() []byte { return sbc.wait(ctx, gosip.INVITE, 1).Body() }, c2, 0)
		byeCall(ctx, t, oc)
		sbc.wait(ctx, gosip.BYE, 1)
	})

	t.Run("outbound bypassed, the client's UPDATE stays its latest SDP", func(t *testing.T) {
		// No relay to keep anywhere, but the client's latest SDP is its
		// UPDATE's: the same again once the call is answered changes
		// nothing, and is answered without asking the SBC (it was taken
		// for a new offer, the INVITE's being the client's latest).
		ctx := testCtx(t, 30*time.Second)
		s1, c1, c2 := rtpSock(t), rtpSock(t), rtpSock(t)
		sbcAnswer := loopSDP(sockPort(s1), "sendrecv", true, "PCMU")
		updated := make(chan struct{})
		var once sync.Once
		sbc := startPeer(t, "sbc")
		sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
			sbc.reply(req, tx, 200, sbcAnswer, allowUpdate())
			once.Do(func() { close(updated) })
		})
		sbc.invites(func(pi *peerInvite) {
			pi.reliable(183, 1, sbcAnswer)
			select {
			case <-updated:
			case <-ctx.Done():
				return
			}
			pi.respond(200, sbcAnswer)
			pi.waitAck(ctx)
		})
		srv := serveTo(t, sbc.addr(), "udp", nil)
		withID := func(b []byte) []byte {
			return bytes.Replace(b, []byte("a=ptime"), []byte("a=x-bypassid:"+srv.Settings().BypassID+"\r\na=ptime"), 1)
		}
		moved := withID(loopSDP(sockPort(c2), "sendrecv", true, "PCMU", "PCMA"))
		caller := startPeer(t, "caller")
		oc := caller.call(ctx, srv.EdgeAddr(), "udp", withID(loopSDP(sockPort(c1), "sendrecv", true, "PCMU", "PCMA")),
			gosip.NewHeader("Supported", "100rel"))
		var ures *gosip.Response
		prackReliable(ctx, t, oc, func(r *gosip.Response) { ures = earlyUpdate(ctx, t, oc, r, moved) })
		if ures == nil || ures.StatusCode != 200 {
			t.Fatalf("the caller's early UPDATE got %v", ures)
		}
		if m := media(t, "our 200", oc.final.Body()); m.BypassID == "" {
			t.Fatal("the call is not bypassed")
		}
		upd := gosip.NewRequest(gosip.UPDATE, oc.final.Contact().Address)
		upd.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		upd.SetBody(moved)
		if res := doIn(ctx, t, oc, upd); res.StatusCode != 200 {
			t.Fatalf("UPDATE repeating the early one got %d", res.StatusCode)
		}
		if n := sbc.count(gosip.UPDATE) + sbc.count(gosip.INVITE); n != 2 {
			t.Errorf("the SBC got %d UPDATEs and INVITEs, want the early UPDATE and the INVITE only (%s)", n, sbc.methods())
		}
		byeCall(ctx, t, oc)
		sbc.wait(ctx, gosip.BYE, 1)
	})

	t.Run("inbound, the SBC's UPDATE, the client's 200 repeating its answer", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		s1, s2, e1 := rtpSock(t), rtpSock(t), rtpSock(t)
		clientAnswer := loopSDP(sockPort(e1), "sendrecv", true, "PCMU")
		updated := make(chan struct{})
		sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
		edge.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
			edge.reply(req, tx, 200, clientAnswer, allowUpdate())
			close(updated)
		})
		edge.invites(func(pi *peerInvite) {
			pi.reliable(183, 1, clientAnswer)
			select {
			case <-updated:
			case <-ctx.Done():
				return
			}
			pi.respond(200, clientAnswer)
			pi.waitAck(ctx)
		})
		srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
		oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(s1), "sendrecv", true, "PCMU", "PCMA"),
			gosip.NewHeader("Supported", "100rel"))
		var ures *gosip.Response
		prackReliable(ctx, t, oc, func(r *gosip.Response) {
			ures = earlyUpdate(ctx, t, oc, r, loopSDP(sockPort(s2), "sendrecv", true, "PCMU", "PCMA"))
		})
		if ures == nil || ures.StatusCode != 200 {
			t.Fatalf("the SBC's early UPDATE got %v", ures)
		}
		if !bytes.Equal(oc.final.Body(), ures.Body()) {
			t.Errorf("our 200 carries another SDP than our answer to the SBC's UPDATE:\n%s\n---\n%s", ures.Body(), oc.final.Body())
		}
		flows(t, e1, "PCMU", func() []byte { return edge.wait(ctx, gosip.INVITE, 1).Body() }, s2, 0)
		byeCall(ctx, t, oc)
		edge.wait(ctx, gosip.BYE, 1)
	})
}

// prackReliable waits for the answer to oc, PRACKing each of our
// reliable 183s and then calling each (if any) with the first; the 200 is
// ACKed.
func prackReliable(ctx context.Context, t *testing.T, oc *outCall, each ...func(*gosip.Response)) {
	t.Helper()
	seen := false
	pracked := map[string]bool{}
	res := oc.answer(ctx, func(r *gosip.Response) {
		if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || pracked[r.GetHeader("RSeq").Value()] {
			return
		}
		pracked[r.GetHeader("RSeq").Value()] = true
		if pres := doIn(ctx, t, oc, prackFor(oc, r)); pres.StatusCode != 200 {
			t.Errorf("PRACK got %d", pres.StatusCode)
		}
		if seen {
			return
		}
		seen = true
		for _, f := range each {
			f(r)
		}
	})
	if !seen {
		t.Fatal("no reliable 183")
	}
	if res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	// Our own ACK: sipgo's dialog Ack takes the dialog's latest CSeq
	// (the last PRACK's), an ACK the server does not take for its 2xx.
	// The call is then hung up with byeCall.
	ackInvite(t, oc)
}
