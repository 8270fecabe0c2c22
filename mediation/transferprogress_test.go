package mediation_test

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestReferPerformedByServerTargetAnswersEarly: the transfer target
// forks; fork A answers our offer in a 183 (A's media), fork B in another
// 183 (B's media), and A's 200 has no SDP: its answer was its 183's (RFC
// 3262 §5, RFC 3261 §13.2.1). The transfer completes with A's answer, as
// an ordinary call's does (its callee's 200 without SDP reuses that
// fork's early SDP, reliable or not: TestOutboundForkAnswersWithoutSDP):
// the PSTN party is re-INVITEd and media flow between it and fork A.
// Before, the 200's empty body was taken for the answer: the target got
// BYE, the transferor a NOTIFY 488, and the SBC no re-INVITE.
func TestReferPerformedByServerTargetAnswersEarly(t *testing.T) {
	for _, reliable := range []bool{true, false} {
		t.Run(fmt.Sprintf("reliable=%v", reliable), func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newTransferLab(t, nil)
			forkB := rtpSock(t)
			l.edge.invites(func(pi *peerInvite) {
				a := pi.response(183, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
				b := pi.response(183, loopSDP(sockPort(forkB), "sendrecv", false, "PCMA"))
				b.To().Params.Add("tag", "forkB") // replaces pi's tag: another UAS
				if reliable {
					for _, r := range []*gosip.Response{a, b} {
						r.AppendHeader(gosip.NewHeader("Require", "100rel"))
						r.AppendHeader(gosip.NewHeader("RSeq", "1"))
					}
				}
				_ = pi.tx.Respond(a)
				if reliable {
					pi.p.wait(ctx, gosip.PRACK, 1)
				}
				_ = pi.tx.Respond(b)
				if reliable {
					pi.p.wait(ctx, gosip.PRACK, 2)
				}
				l.targets <- pi
				pi.respond(200, nil)
			})
			oc := upCall(ctx, t, l.caller, l.srv, "udp")
			next(ctx, t, l.sbcCalls, "SBC's")
			referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
			target := next(ctx, t, l.targets, "transfer")
			if n := finalNotify(ctx, t, l.caller); !strings.HasPrefix(string(n.Body()), "SIP/2.0 200") {
				t.Fatalf("final NOTIFY %q, want 200: the 183's SDP is the target's answer", n.Body())
			}
			reinv := l.sbc.wait(ctx, gosip.INVITE, 2)
			mediaFlows(ctx, t, "PSTN party -> fork A", l.sbcMedia, media(t, "re-INVITE to the SBC", reinv.Body()).RTP(), l.targetMedia)
			mediaFlows(ctx, t, "fork A -> PSTN party", l.targetMedia, media(t, "transfer INVITE", target.req.Body()).RTP(), l.sbcMedia)
			if n := l.edge.count(gosip.BYE); n != 0 {
				t.Fatalf("the target got %d BYEs", n)
			}
			l.targetHangsUp(ctx, t, target)
		})
	}
}

// TestReferPerformedByServerNotifyHeaders: the client REFERs twice in its
// dialog (the first target is busy). Every NOTIFY names its REFER's CSeq
// in Event (refer;id=N: RFC 3515 §2.4.6 makes it a MUST from a dialog's
// second REFER on) and carries our Contact (RFC 6665 §7.1: NOTIFY is a
// target refresh request). They said "Event: refer" and had no Contact.
func TestReferPerformedByServerNotifyHeaders(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	n := 0
	l.edge.invites(func(pi *peerInvite) {
		if n++; n == 1 {
			pi.respond(486, nil)
			return
		}
		l.targets <- pi
		pi.respond(200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	// check waits for the NOTIFYs #from+1 and #from+2 (100 Trying and
	// the final one) and checks them against the REFER's CSeq seq.
	check := func(from int, seq uint32, final string) {
		t.Helper()
		l.caller.wait(ctx, gosip.NOTIFY, from+2)
		l.caller.mu.Lock()
		defer l.caller.mu.Unlock()
		i, finals := 0, 0
		for _, r := range l.caller.reqs {
			if r.Method != gosip.NOTIFY {
				continue
			}
			if i++; i <= from {
				continue
			}
			if strings.HasPrefix(string(r.Body()), final) {
				finals++
			}
			if ev := headerValue(r, "Event"); ev != "refer;id="+strconv.FormatUint(uint64(seq), 10) {
				t.Errorf("NOTIFY %q: Event %q, want refer;id=%d", r.Body(), ev, seq)
			}
			if c := r.Contact(); c == nil || fmt.Sprintf("%s:%d", c.Address.Host, c.Address.Port) != l.srv.EdgeAddr().String() {
				t.Errorf("NOTIFY %q: Contact %v, want ours at %s", r.Body(), c, l.srv.EdgeAddr())
			}
		}
		if i != from+2 || finals != 1 {
			t.Fatalf("%d NOTIFYs (%d of them %q), want 100 Trying and %s", i-from, finals, final, final)
		}
	}
	refer := func() uint32 {
		t.Helper()
		req := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
		req.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com;user=phone>"))
		res := doIn(ctx, t, oc, req)
		if res.StatusCode != 202 {
			t.Fatalf("REFER got %d, want 202", res.StatusCode)
		}
		return res.CSeq().SeqNo
	}
	check(0, refer(), "SIP/2.0 486")
	check(2, refer(), "SIP/2.0 200")
	target := next(ctx, t, l.targets, "transfer")
	l.targetHangsUp(ctx, t, target)
}

// TestReferPerformedByServerTargetRings: the REFER's subscription lasts as
// long as the target may ring (the edge side's ring_timeout) and a margin,
// and the transferor hears of the target's ringing (NOTIFY SIP/2.0 180
// Ringing, RFC 3515 §2.4.5); a target still ringing at ring_timeout is
// CANCELled and the transferor's final NOTIFY says 408, the call going on
// as it was. The subscription said expires=60 with a 180 s ring time, no
// NOTIFY came between 100 Trying and the final one, and a target could
// ring for ever.
func TestReferPerformedByServerTargetRings(t *testing.T) {
	expires := func(r *gosip.Request) int {
		t.Helper()
		st := headerValue(r, "Subscription-State")
		v, ok := strings.CutPrefix(st, "active;expires=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			t.Fatalf("NOTIFY %q: Subscription-State %q, want active;expires=N", r.Body(), st)
		}
		return n
	}
	t.Run("answered", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		l := newTransferLab(t, func(c *mediation.Config) { c.Edge.RingTimeout = 90 * time.Second })
		release := l.ringingTarget(ctx)
		oc := upCall(ctx, t, l.caller, l.srv, "udp")
		next(ctx, t, l.sbcCalls, "SBC's")
		referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
		trying := l.caller.wait(ctx, gosip.NOTIFY, 1)
		if e := expires(trying); e < 90 || e > 100 {
			t.Errorf("100 Trying NOTIFY: expires=%d, want the ring timeout (90 s) and a margin", e)
		}
		ringing := l.caller.waitLast(ctx, gosip.NOTIFY, 2)
		if string(ringing.Body()) != "SIP/2.0 180 Ringing\r\n" {
			t.Fatalf("NOTIFY #2 %q, want the target's 180", ringing.Body())
		}
		if e := expires(ringing); e < 89 || e > 100 {
			t.Errorf("180 NOTIFY: expires=%d, want what is left of the subscription", e)
		}
		close(release)
		target := next(ctx, t, l.targets, "transfer")
		if n := finalNotify(ctx, t, l.caller); !strings.HasPrefix(string(n.Body()), "SIP/2.0 200") {
			t.Fatalf("final NOTIFY %q, want 200", n.Body())
		}
		l.sbc.wait(ctx, gosip.INVITE, 2)
		l.targetHangsUp(ctx, t, target)
	})
	t.Run("ring timeout", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		l := newTransferLab(t, func(c *mediation.Config) { c.Edge.RingTimeout = time.Second })
		l.ringingTarget(ctx) // never released
		oc := upCall(ctx, t, l.caller, l.srv, "udp")
		next(ctx, t, l.sbcCalls, "SBC's")
		start := time.Now()
		referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
		l.edge.wait(ctx, gosip.CANCEL, 1)
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Errorf("target CANCELled after %s, before the ring timeout (1 s)", d)
		}
		if n := finalNotify(ctx, t, l.caller); !strings.HasPrefix(string(n.Body()), "SIP/2.0 408") {
			t.Fatalf("final NOTIFY %q, want 408", n.Body())
		}
		if n, m := l.sbc.count(gosip.BYE), l.caller.count(gosip.BYE); n != 0 || m != 0 {
			t.Fatalf("BYEs after the transfer timed out: SBC %d, client %d", n, m)
		}
		if err := oc.d.Bye(ctx); err != nil {
			t.Fatalf("client's BYE: %v", err)
		}
		l.sbc.wait(ctx, gosip.BYE, 1)
		waitCalls(t, l.srv, 0)
	})
}

// TestReferPerformedByServerEarlierTransferorsBye: the client (on another
// host than the edge's next hop) transfers the PSTN party to a target,
// which transfers it on to a second. The client's late BYE in its old
// leg, long hung up, gets 481: that dialog is over. Only the latest
// released leg was kept, so the client's BYE was checked as one of the
// target's leg and refused 403 "not the call's peer" (counted as
// foreign).
func TestReferPerformedByServerEarlierTransferorsBye(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	client := startPeerOn(t, "transferor", netip.MustParseAddrPort("127.0.0.3:0"), nil)
	takeNotifies(client)
	byeAnswered := make(chan struct{}, 1)
	client.on(gosip.BYE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		client.reply(req, tx, 200, nil)
		byeAnswered <- struct{}{}
	})
	oc := upCall(ctx, t, client, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	first := next(ctx, t, l.targets, "first transfer")
	select {
	case <-byeAnswered: // the client's old leg is over
	case <-ctx.Done():
		t.Fatal("the client's old leg got no BYE")
	}
	l.repointed(ctx, 2)
	first.mustWaitAck(ctx)
	refer := first.inDialog(gosip.REFER, 2, nil, gosip.NewHeader("Refer-To", "<sip:+15550300@sfb.example.com;user=phone>"))
	if res := first.do(ctx, refer); res.StatusCode != 202 {
		t.Fatalf("the target's REFER got %d, want 202", res.StatusCode)
	}
	second := next(ctx, t, l.targets, "second transfer")
	l.sbc.wait(ctx, gosip.INVITE, 3)
	if bye := l.edge.wait(ctx, gosip.BYE, 1); bye.CallID().Value() != first.req.CallID().Value() {
		t.Fatalf("BYE in Call-ID %s, want the first target's released leg", bye.CallID().Value())
	}
	bye := gosip.NewRequest(gosip.BYE, oc.final.Contact().Address)
	from, to, callID := oc.inv.From(), oc.final.To(), *oc.inv.CallID()
	bye.AppendHeader(&gosip.FromHeader{Address: from.Address, Params: from.Params.Clone()})
	bye.AppendHeader(&gosip.ToHeader{Address: to.Address, Params: to.Params.Clone()})
	bye.AppendHeader(&callID)
	bye.AppendHeader(&gosip.CSeqHeader{SeqNo: 50, MethodName: gosip.BYE})
	res, err := client.stack.Client("udp").Do(ctx, bye)
	if err != nil {
		t.Fatalf("client's late BYE: %v", err)
	}
	if res.StatusCode != 481 {
		t.Fatalf("client's late BYE in its released leg got %d %s, want 481", res.StatusCode, res.Reason)
	}
	if n := l.sbc.count(gosip.BYE); n != 0 {
		t.Fatal("the PSTN party got BYE")
	}
	l.targetHangsUp(ctx, t, second)
}

// TestReferPerformedByServerReleasedLegsBeyondBound: the call is
// transferred on 9 times (each target transferring it again), and no
// transferor answers its final NOTIFY, so no released leg's dialog is
// over: the call keeps 8 released legs, and the 9th release hangs up the
// oldest, the client's, with BYE. It used to be dropped without one, and
// the call's end, which BYEs the released legs it has, left the client's
// dialog open for good.
func TestReferPerformedByServerReleasedLegsBeyondBound(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	for _, p := range []*peer{l.caller, l.edge} {
		// The 100 Trying NOTIFY is answered, the final one never: each
		// leg's BYE waits for that answer (or the call's end).
		p.on(gosip.NOTIFY, func(req *gosip.Request, tx gosip.ServerTransaction) {
			if strings.HasPrefix(string(req.Body()), "SIP/2.0 100 ") {
				p.reply(req, tx, 200, nil)
			}
		})
	}
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer 1")
	l.sbc.wait(ctx, gosip.INVITE, 2)
	const transfers = 9
	for i := 2; i <= transfers; i++ {
		target.mustWaitAck(ctx)
		l.repointed(ctx, i) // transfer i-1 is done
		refer := target.inDialog(gosip.REFER, 2, nil, gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com;user=phone>"))
		if res := target.do(ctx, refer); res.StatusCode != 202 {
			t.Fatalf("target %d's REFER got %d, want 202", i-1, res.StatusCode)
		}
		target = next(ctx, t, l.targets, "transfer "+strconv.Itoa(i))
		l.sbc.wait(ctx, gosip.INVITE, i+1) // the PSTN party re-pointed: transfer i is done
	}
	if n := l.edge.count(gosip.BYE); n != 0 {
		t.Errorf("%d BYEs to the targets that transferred: their final NOTIFYs are unanswered", n)
	}
	// The call ends: the released legs it keeps get BYE; the client's was
	// no longer one of them.
	l.targetHangsUp(ctx, t, target)
	if bye := l.caller.wait(ctx, gosip.BYE, 1); bye.CallID().Value() != oc.inv.CallID().Value() {
		t.Errorf("client's BYE in Call-ID %s, want its old leg's", bye.CallID().Value())
	}
	if n := l.edge.count(gosip.BYE); n < transfers-1 {
		t.Errorf("%d BYEs to the targets that transferred, want one each (%d)", n, transfers-1)
	}
}
