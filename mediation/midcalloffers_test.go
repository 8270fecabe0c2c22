package mediation_test

import (
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// TestCancelledReinviteAnsweredAnyway: outbound bypassed call over UDP.
// The client puts the call on hold (re-INVITE, a=sendonly), relayed to
// the SBC; the client CANCELs its re-INVITE and gets 487 at once (RFC
// 3261 §9.2), its session as it was (sendrecv). The SBC's 200 to our
// relayed re-INVITE crosses our CANCEL: the SBC took the hold, and the
// peers no longer agree. The SBC's 200 is ACKed and the SBC offered its
// earlier session again (sendrecv, a rollback), which it takes: the call
// goes on as before the hold. The SBC was left on hold, one-way audio in
// a call both peers believed healthy (r27-midcall F1).
//
// With a 100 Trying from the SBC our CANCEL goes at once; without any
// provisional it waits for one (RFC 3261 §9.1: no CANCEL before a
// provisional), so the SBC's 200, the first it sends, meets none: the
// next request it gets is our ACK.
func TestCancelledReinviteAnsweredAnyway(t *testing.T) {
	for _, trying := range []bool{true, false} {
		t.Run(map[bool]string{true: "100 Trying", false: "no provisional"}[trying], func(t *testing.T) {
			cancelledReinviteAnsweredAnyway(t, trying)
		})
	}
}

func cancelledReinviteAnsweredAnyway(t *testing.T, trying bool) {
	ctx := testCtx(t, 20*time.Second)
	sbc := midRaw(t, 2)
	srv := midServe(t, sbc.addr(), "udp", nil)
	caller := midPeer(t, "caller", 3)
	h := startPendingHold(ctx, t, srv, sbc, caller)
	oc, answer, reinv, tx, rinv, rfrom := h.oc, h.answer, h.reinv, h.tx, h.rinv, h.rfrom
	if trying {
		rawRespond(t, sbc, rinv, rfrom, 100, "", nil)
	}
	// The client gives up on its hold.
	if res, err := caller.stack.Client("udp").Do(ctx, cancelOfReinvite(reinv)); err != nil || res.StatusCode != 200 {
		t.Fatalf("CANCEL of the re-INVITE: %v %v", res, err)
	}
	var final *gosip.Response
	for final == nil {
		select {
		case r := <-tx.Responses():
			if r.StatusCode >= 200 {
				final = r
			}
		case <-ctx.Done():
			t.Fatal("no final response to the re-INVITE")
		}
	}
	if final.StatusCode != 487 {
		t.Fatalf("cancelled re-INVITE got %d, want 487", final.StatusCode)
	}
	held := strings.Replace(strings.Replace(string(answer), "1718291842", "1718291843", 1), "a=sendrecv", "a=recvonly", 1)
	if trying {
		// Our CANCEL reaches the SBC after it has answered its re-INVITE 200.
		c, cfrom := sbc.read(gosip.INVITE)
		if c.Method != gosip.CANCEL {
			t.Fatalf("SBC got %s, want our CANCEL", c.Method)
		}
		rawRespond(t, sbc, rinv, rfrom, 200, "", []byte(held))
		rawRespond(t, sbc, c, cfrom, 200, "", nil)
	} else {
		rawRespond(t, sbc, rinv, rfrom, 200, "", []byte(held))
		if r, _ := sbc.read(gosip.INVITE); r.Method != gosip.ACK {
			t.Fatalf("SBC got %s before our ACK of its 200, having sent no provisional: no CANCEL before one (RFC 3261 §9.1)", r.Method)
		}
	}
	// ACK of the crossing 200, then our offer of the earlier session.
	var rb *gosip.Request
	for rb == nil {
		r, src := rawReadTimeout(sbc, 5*time.Second, gosip.CANCEL)
		switch {
		case r == nil:
			t.Fatal("the SBC, on hold since its 200 crossed our CANCEL, was not offered its earlier session again")
		case r.Method == gosip.BYE:
			t.Fatal("the call was ended: the SBC could be offered its earlier session again")
		case r.Method == gosip.INVITE && r.CSeq().SeqNo > rinv.CSeq().SeqNo:
			rb = r
			rawRespond(t, sbc, r, src, 200, "", answer)
		}
	}
	if m := media(t, "our offer after the cancelled hold", rb.Body()); m.Direction != "sendrecv" && m.Direction != "" {
		t.Errorf("the SBC was offered %q after the cancelled hold, want its earlier session (sendrecv)", m.Direction)
	}
	if n := caller.count(gosip.INVITE); n != 0 {
		t.Errorf("the client got %d re-INVITEs: its session never changed", n)
	}
	ackTaken(ctx, t, oc)
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("%d calls in progress, want the call going on", n)
	}
}

// TestAnswerOfferRefused: outbound bypassed call over UDP. The SBC sends
// a re-INVITE without SDP; our 200 offers its leg's SDP and the SBC's ACK
// answers with a new media port. That answer binds (RFC 3264 §8) and goes
// to the client as a re-INVITE. The client refuses it:
//   - 491 once (its own re-INVITE crossed ours): the re-INVITE goes again
//     after RFC 3261 §14.1's wait, and the client, taking it, learns the
//     SBC's new port;
//   - 491 every time: after three tries the call ends;
//   - 488: the call ends at once.
//
// Nothing can refuse the SBC's answer, so a client that will not take it
// leaves the two disagreeing: the refusal was dropped, the client sending
// to the SBC's old port in a call that stayed up (r27-midcall F2).
func TestAnswerOfferRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codes []int // the client's answers to our re-INVITEs, the last repeated
		ends  bool
	}{
		{"491 then 200", []int{491, 200}, false},
		{"491 always", []int{491}, true},
		{"488", []int{488}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := midPeer(t, "sbc", 2)
			var call *peerInvite
			sbc.invites(func(pi *peerInvite) {
				call = pi
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
			})
			srv := midServe(t, sbc.addr(), "udp", nil)
			caller := midPeer(t, "caller", 3)
			n := 0
			caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				code := tc.codes[min(n, len(tc.codes)-1)]
				n++
				var body []byte
				if code == 200 {
					body = clientSDP(t, 2, "")
				}
				caller.reply(req, tx, code, body)
			})
			oc := upCall(ctx, t, caller, srv, "udp")
			ackTaken(ctx, t, oc)
			sbc.wait(ctx, gosip.ACK, 1)
			res := call.do(ctx, call.inDialog(gosip.INVITE, 2, nil))
			if res.StatusCode != 200 || len(res.Body()) == 0 {
				t.Fatalf("SDP-less re-INVITE got %d with %d bytes of SDP", res.StatusCode, len(res.Body()))
			}
			moved := strings.Replace(string(fixtureBody(t, "sbc-answer-pcma.sdp")), "m=audio 20002", "m=audio 20010", 1)
			moved = strings.Replace(moved, "1718291842", "1718291843", 1)
			ack := call.inDialog(gosip.ACK, 2, []byte(moved))
			ack.SetDestination(res.Source())
			ack.Recipient = res.Contact().Address
			if err := sbc.stack.Client("udp").WriteRequest(ack); err != nil {
				t.Fatal(err)
			}
			switch tc.name {
			case "491 then 200":
				again := caller.wait(ctx, gosip.INVITE, 2)
				if !strings.Contains(string(again.Body()), " 20010 ") {
					t.Fatalf("our re-INVITE after the client's 491 does not carry the SBC's new port:\n%s", again.Body())
				}
				caller.waitSeq(ctx, gosip.ACK, again.CSeq().SeqNo)
				ackTaken(ctx, t, oc)
				if n := len(srv.Calls()); n != 1 {
					t.Errorf("%d calls in progress, want the call going on", n)
				}
			case "491 always":
				for i := 1; i <= 4; i++ {
					if r := caller.wait(ctx, gosip.INVITE, i); !strings.Contains(string(r.Body()), " 20010 ") {
						t.Fatalf("re-INVITE %d does not carry the SBC's new port", i)
					}
				}
				fallthrough
			default:
				caller.wait(ctx, gosip.BYE, 1)
				sbc.wait(ctx, gosip.BYE, 1)
				if n := caller.count(gosip.INVITE); n != 1 && tc.name == "488" {
					t.Errorf("the client got %d re-INVITEs after its 488, want 1", n)
				}
			}
			waitCalls(t, srv, map[bool]int{true: 0, false: 1}[tc.ends])
		})
	}
}

// TestUpdateOfferBeforeAckOfOurOffer: the SBC re-INVITEs without SDP, so
// our 200 is an offer whose answer is due in its ACK (RFC 3261 §13.2.1).
// Before that ACK (delayed, or lost over UDP and to come with our 200's
// retransmission), the SBC sends an UPDATE with an offer: 491 (RFC 3311
// §5.2: an offer received while an offer we made is unanswered), and
// nothing reaches the client. It was relayed to the client, the ACK's
// answer then arriving in the middle of that offer (r27-midcall F3).
func TestUpdateOfferBeforeAckOfOurOffer(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := midPeer(t, "sbc", 2)
	var call *peerInvite
	sbc.invites(func(pi *peerInvite) {
		call = pi
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
	})
	srv := midServe(t, sbc.addr(), "udp", nil)
	caller := midPeer(t, "caller", 3)
	oc := upCall(ctx, t, caller, srv, "udp")
	ackTaken(ctx, t, oc)
	sbc.wait(ctx, gosip.ACK, 1)
	res := call.do(ctx, call.inDialog(gosip.INVITE, 2, nil))
	if res.StatusCode != 200 || len(res.Body()) == 0 {
		t.Fatalf("SDP-less re-INVITE got %d", res.StatusCode)
	}
	// No ACK yet: an UPDATE with a new offer.
	moved := strings.Replace(string(fixtureBody(t, "sbc-answer-pcma.sdp")), "m=audio 20002", "m=audio 20020", 1)
	moved = strings.Replace(moved, "1718291842", "1718291850", 1)
	if ures := call.do(ctx, call.inDialog(gosip.UPDATE, 3, []byte(moved))); ures.StatusCode != 491 {
		t.Errorf("UPDATE offer while our 200's offer waits for its answer in the ACK got %d, want 491 (RFC 3311 §5.2)", ures.StatusCode)
	}
	// The ACK with the answer: the call goes on, the client never asked.
	ack := call.inDialog(gosip.ACK, 2, fixtureBody(t, "sbc-answer-pcma.sdp"))
	ack.SetDestination(res.Source())
	ack.Recipient = res.Contact().Address
	if err := sbc.stack.Client("udp").WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	ackTaken(ctx, t, oc)
	if n := caller.count(gosip.INVITE) + caller.count(gosip.UPDATE); n > 0 {
		t.Errorf("the SBC's UPDATE offer was relayed to the client (%s) while our offer to the SBC was unanswered", caller.methods())
	}
}
