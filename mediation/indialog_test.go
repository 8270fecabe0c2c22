package mediation_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// inCallerDialog builds a request of the caller in oc's dialog by hand, so
// that a test can get its tags wrong: From-tag fromTag, our tag from the
// 200, CSeq the INVITE's plus seq.
func inCallerDialog(oc *outCall, method gosip.RequestMethod, seq uint32, fromTag string, hdrs ...gosip.Header) *gosip.Request {
	seq += oc.inv.CSeq().SeqNo // seq is counted from the INVITE's
	req := gosip.NewRequest(method, oc.final.Contact().Address)
	from := &gosip.FromHeader{Address: oc.inv.From().Address, Params: gosip.NewParams()}
	from.Params.Add("tag", fromTag)
	req.AppendHeader(from)
	req.AppendHeader(gosip.HeaderClone(oc.final.To()))
	req.AppendHeader(gosip.HeaderClone(oc.inv.CallID()))
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: method})
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.SetTransport(oc.inv.Transport())
	return req
}

// ackTaken returns once the server has taken the ACK of oc's 200: an
// OPTIONS in that dialog is handled after it, in order. A request of the
// other peer that crossed the ACK would rightly get 491 (our 2xx still
// waiting for its ACK, RFC 3261 §14.1).
func ackTaken(ctx context.Context, t *testing.T, oc *outCall) {
	t.Helper()
	if res := doIn(ctx, t, oc, gosip.NewRequest(gosip.OPTIONS, oc.final.Contact().Address)); res.StatusCode != 200 {
		t.Fatalf("OPTIONS in the caller's dialog got %d", res.StatusCode)
	}
}

// TestInDialogChecks: a request with the right Call-ID and our To-tag but
// another From-tag is in no dialog of ours (481, RFC 3261 §12.2.2), on
// the leg where we are UAS as on the other; an in-dialog request that
// requires an extension we do not support gets 420 with Unsupported (RFC
// 3261 §8.2.2.3), and neither ends or changes the call.
func TestInDialogChecks(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			var call *peerInvite
			sbc.invites(func(pi *peerInvite) {
				call = pi
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
			})
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, tr)
			sbc.wait(ctx, gosip.ACK, 1)
			do := func(req *gosip.Request) *gosip.Response {
				t.Helper()
				res, err := caller.stack.Client(tr).Do(ctx, req)
				if err != nil {
					t.Fatalf("%s: %v", req.Method, err)
				}
				return res
			}
			ourTag, _ := oc.inv.From().Params.Get("tag")
			if res := do(inCallerDialog(oc, gosip.BYE, 10, "forged")); res.StatusCode != 481 {
				t.Errorf("caller's BYE with another From-tag got %d, want 481", res.StatusCode)
			}
			sbcBye := call.inDialog(gosip.BYE, 10, nil)
			sbcBye.From().Params.Add("tag", "forged")
			if res := call.do(ctx, sbcBye); res.StatusCode != 481 {
				t.Errorf("SBC's BYE with another From-tag got %d, want 481", res.StatusCode)
			}
			bad := gosip.NewHeader("Require", "x-unknown-ext")
			res := do(inCallerDialog(oc, gosip.BYE, 11, ourTag, bad))
			if res.StatusCode != 420 || res.GetHeader("Unsupported") == nil || res.GetHeader("Unsupported").Value() != "x-unknown-ext" {
				t.Errorf("BYE with Require got %d (Unsupported %v), want 420 naming the tag", res.StatusCode, res.GetHeader("Unsupported"))
			}
			reinv := inCallerDialog(oc, gosip.INVITE, 12, ourTag, bad)
			reinv.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			reinv.SetBody(fixtureBody(t, "hold-offer.sdp"))
			if res := do(reinv); res.StatusCode != 420 {
				t.Errorf("re-INVITE with Require got %d, want 420", res.StatusCode)
			}
			if n := sbc.count(gosip.INVITE); n != 1 {
				t.Errorf("the SBC got %d INVITEs, want only the call's", n)
			}
			if n := sbc.count(gosip.BYE); n != 0 {
				t.Errorf("the SBC got a BYE: the call ended")
			}
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_calls_current", "direction", "outbound")
			if res := do(inCallerDialog(oc, gosip.BYE, 13, ourTag)); res.StatusCode != 200 {
				t.Fatalf("the caller's own BYE got %d", res.StatusCode)
			}
			sbc.wait(ctx, gosip.BYE, 1)
		})
	}
}

// TestPendingReinvite: a second re-INVITE of the caller while its first is
// still with the SBC gets 500 with a Retry-After of 0 to 10 s (RFC 3261
// §14.2; 491 is for glare with ours), and a BYE while it is pending ends the
// call with 487 for it (RFC 3261 §15.1.2).
func TestPendingReinvite(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	release := make(chan struct{})
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		select { // hold the re-INVITE's answer
		case <-release:
		case <-tx.Done():
		}
	})
	defer close(release)
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := upCall(ctx, t, caller, srv, "udp")
	ourTag, _ := oc.inv.From().Params.Get("tag")
	reinvite := func(seq uint32) *gosip.Request {
		r := inCallerDialog(oc, gosip.INVITE, seq, ourTag)
		r.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		r.SetBody(fixtureBody(t, "hold-offer.sdp"))
		return r
	}
	first, err := caller.stack.Client("udp").TransactionRequest(ctx, reinvite(2))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Terminate()
	sbc.wait(ctx, gosip.INVITE, 2)
	res, err := caller.stack.Client("udp").Do(ctx, reinvite(3))
	if err != nil {
		t.Fatal(err)
	}
	ra := res.GetHeader("Retry-After")
	if res.StatusCode != 500 || ra == nil {
		t.Fatalf("second re-INVITE got %d (Retry-After %v), want 500 with Retry-After", res.StatusCode, ra)
	}
	if s, err := strconv.Atoi(ra.Value()); err != nil || s < 0 || s > 10 {
		t.Errorf("Retry-After %q, want 0 to 10", ra.Value())
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if res, err := caller.stack.Client("udp").Do(bctx, inCallerDialog(oc, gosip.BYE, 4, ourTag)); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	for {
		select {
		case r := <-first.Responses():
			if r.IsProvisional() {
				continue
			}
			if r.StatusCode != 487 {
				t.Fatalf("pending re-INVITE got %d after the BYE, want 487", r.StatusCode)
			}
			return
		case <-ctx.Done():
			t.Fatal("pending re-INVITE got no final response")
		}
	}
}

// TestAckAnswerRelayed: a re-INVITE without SDP gets our 200 offering the
// SDP the caller already has, and the caller answers in its ACK (RFC 3261
// §13.2.1, §14). The same SDP back changes nothing; an answer with a new
// port and a=sendonly binds as an offer of the caller would, and goes to
// the SBC as a re-INVITE.
func TestAckAnswerRelayed(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := upCall(ctx, t, caller, srv, "udp")
	sbc.wait(ctx, gosip.ACK, 1)
	ourTag, _ := oc.inv.From().Params.Get("tag")
	offer := fixtureBody(t, "sfb-bypass-offer.sdp")
	refresh := func(seq uint32, answer []byte) {
		t.Helper()
		reinv := inCallerDialog(oc, gosip.INVITE, seq, ourTag)
		tx, err := caller.stack.Client("udp").TransactionRequest(ctx, reinv)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Terminate()
		var ok *gosip.Response
		for ok == nil {
			select {
			case r := <-tx.Responses():
				if r.StatusCode >= 200 {
					ok = r
				}
			case <-ctx.Done():
				t.Fatal("no answer to the re-INVITE")
			}
		}
		if ok.StatusCode != 200 || len(ok.Body()) == 0 {
			t.Fatalf("re-INVITE without SDP got %d with %d bytes of SDP, want 200 with an offer", ok.StatusCode, len(ok.Body()))
		}
		ack := inCallerDialog(oc, gosip.ACK, seq, ourTag)
		ack.Recipient = ok.Contact().Address
		ack.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(answer)
		if err := caller.stack.Client("udp").WriteRequest(ack); err != nil {
			t.Fatal(err)
		}
	}
	refresh(1, offer) // the same SDP: a session refresh
	moved := strings.Replace(strings.Replace(string(offer), "m=audio 10406", "m=audio 10506", 1), "a=rtcp:10407", "a=rtcp:10507\r\na=sendonly", 1)
	refresh(2, []byte(moved))
	reinv := sbc.wait(ctx, gosip.INVITE, 2)
	m := media(t, "SBC's re-INVITE", reinv.Body())
	if m.Port != 10506 || m.Direction != "sendonly" {
		t.Errorf("SBC's re-INVITE offers port %d %s, want the ACK's 10506 sendonly", m.Port, m.Direction)
	}
	if n := sbc.count(gosip.INVITE); n != 2 {
		t.Errorf("SBC got %d INVITEs, want the call's and one re-INVITE (none for the unchanged answer)", n)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_calls_current", "direction", "outbound")
}

// TestNoOfferBeforeTheAck: while our 200 to the caller waits for its ACK,
// a re-INVITE from the SBC would cross it (RFC 3261 §14.1): it gets 491.
// An ACK with another From-tag is not the dialog's ACK: our 200 goes on
// being retransmitted until the caller's own ACK, and then the SBC's
// re-INVITE goes through.
func TestNoOfferBeforeTheAck(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	var call *peerInvite
	sbc.invites(func(pi *peerInvite) {
		call = pi
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	caller.answerSDP(t, gosip.INVITE)
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	sbc.wait(ctx, gosip.ACK, 1)
	seq := uint32(1)
	reinvite := func() int {
		t.Helper()
		seq++
		return call.do(ctx, call.inDialog(gosip.INVITE, seq, fixtureBody(t, "hold-offer.sdp"))).StatusCode
	}
	if code := reinvite(); code != 491 {
		t.Errorf("SBC's re-INVITE before the caller's ACK got %d, want 491", code)
	}
	callID := string(*oc.inv.CallID())
	oks := func() int { return count(caller.responses(callID, gosip.INVITE), 200) }
	ack := inCallerDialog(oc, gosip.ACK, 0, "forged")
	if err := caller.stack.Client("udp").WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	// Our 200 is retransmitted from T1 (20 ms) on: more of them come after
	// the forged ACK.
	after := oks()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for oks() < after+2 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("our 200 stopped after an ACK with another From-tag (%d sent)", oks())
		}
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// Now the caller's own ACK is in: the re-INVITE is relayed (a peer
	// retransmitting the 200 would have it answered 491 still).
	for {
		code := reinvite()
		if code == 200 {
			break
		}
		if code != 491 || ctx.Err() != nil {
			t.Fatalf("SBC's re-INVITE after the ACK got %d, want 200", code)
		}
	}
	if n := caller.count(gosip.INVITE); n != 1 {
		t.Errorf("the caller got %d re-INVITEs, want the one after its ACK", n)
	}
}

// TestTagParamCase: the tag parameter's name is case-insensitive (RFC 3261
// §7.3.1): an SBC answering with ";TAG=" gets our ACK and BYE with its tag
// in the To header, and a caller writing ";TAG=" in its BYE's From is in
// its dialog (not 481).
func TestTagParamCase(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	var call *peerInvite
	sbc.invites(func(pi *peerInvite) {
		call = pi
		res := pi.response(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		for i := range res.To().Params {
			if res.To().Params[i].K == "tag" {
				res.To().Params[i].K = "TAG"
			}
		}
		_ = pi.tx.Respond(res)
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := upCall(ctx, t, caller, srv, "udp")
	ack := sbc.wait(ctx, gosip.ACK, 1)
	if tag, _ := ack.To().Params.Get("tag"); tag != call.tag {
		t.Errorf("our ACK to the SBC has To-tag %q, want %q (To: %s)", tag, call.tag, ack.To().Value())
	}
	ourTag, _ := oc.inv.From().Params.Get("tag")
	bye := inCallerDialog(oc, gosip.BYE, 10, ourTag)
	bye.From().Params[0].K = "TAG"
	res, err := caller.stack.Client("udp").Do(ctx, bye)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("the caller's BYE with From ;TAG= got %d, want 200", res.StatusCode)
	}
	sbcBye := sbc.wait(ctx, gosip.BYE, 1)
	if tag, _ := sbcBye.To().Params.Get("tag"); tag != call.tag {
		t.Errorf("our BYE to the SBC has To-tag %q, want %q", tag, call.tag)
	}
}

// TestReinviteContactRefresh: a 2xx to our re-INVITE with a new Contact
// moves the dialog's remote target (RFC 3261 §12.2.1.2), and the ACK of
// that very 2xx goes there (§13.2.2.4), as does the next request: an SBC
// that changed its Contact (an HA switch-over) gets its ACK.
func TestReinviteContactRefresh(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	moved := startPeer(t, "sbc2")
	sbc.invites(func(pi *peerInvite) { pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp")) })
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		res := gosip.NewResponseFromRequest(req, 200, "OK", fixtureBody(t, "sbc-answer-pcma.sdp"))
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		contact := moved.stack.Contact("sbc", "UDP")
		res.AppendHeader(&contact)
		_ = tx.Respond(res)
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := upCall(ctx, t, caller, srv, "udp")
	sbc.wait(ctx, gosip.ACK, 1)
	ourTag, _ := oc.inv.From().Params.Get("tag")
	reinv := inCallerDialog(oc, gosip.INVITE, 1, ourTag)
	reinv.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	reinv.SetBody(fixtureBody(t, "hold-offer.sdp"))
	res, err := caller.stack.Client("udp").Do(ctx, reinv)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("re-INVITE: %v %v", res, err)
	}
	ack := moved.wait(ctx, gosip.ACK, 1)
	if ack.CSeq().SeqNo != sbc.wait(ctx, gosip.INVITE, 2).CSeq().SeqNo {
		t.Errorf("the moved SBC got the ACK of CSeq %d, not the re-INVITE's", ack.CSeq().SeqNo)
	}
	if n := sbc.count(gosip.ACK); n != 1 {
		t.Errorf("the old Contact got %d ACKs, want only the call's first", n)
	}
	if res, err := caller.stack.Client("udp").Do(ctx, inCallerDialog(oc, gosip.BYE, 2, ourTag)); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	moved.wait(ctx, gosip.BYE, 1)
}
