package mediation_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sdp"
)

// allowUpdate is the Allow of an SBC that takes UPDATE.
func allowUpdate() gosip.Header {
	return gosip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE")
}

// answerSDP makes the peer answer method with the SBC answer fixture (an
// SDP answer to a relayed offer).
func (p *peer) answerSDP(t *testing.T, method gosip.RequestMethod) {
	p.on(method, func(req *gosip.Request, tx gosip.ServerTransaction) {
		p.reply(req, tx, 200, fixtureBody(t, "sbc-answer-pcma.sdp"), allowUpdate())
	})
}

// upCall sets up a call from caller through srv to sbc and returns it
// answered and ACKed.
func upCall(ctx context.Context, t *testing.T, caller *peer, srv *mediation.Server, tr string) *outCall {
	t.Helper()
	oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d %s", res.StatusCode, res.Reason)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	return oc
}

// TestUpdate: an UPDATE without SDP is a session refresh answered by the
// server itself; one with SDP is an offer relayed to the other leg, as an
// UPDATE when that peer allows it and as a re-INVITE when it does not, and
// the other side's answer comes back in the 200.
func TestUpdate(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr+"/refresh answered locally", func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, tr)
			res := doIn(ctx, t, oc, gosip.NewRequest(gosip.UPDATE, oc.final.Contact().Address))
			if res.StatusCode != 200 || res.Contact() == nil {
				t.Fatalf("UPDATE got %d (Contact %v)", res.StatusCode, res.Contact())
			}
			if n := sbc.count(gosip.UPDATE) + sbc.count(gosip.INVITE); n != 1 {
				t.Errorf("a local refresh reached the SBC (%s)", sbc.methods())
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
		for _, allow := range []bool{true, false} {
			name := tr + "/offer relayed as re-INVITE"
			if allow {
				name = tr + "/offer relayed as UPDATE"
			}
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t, 20*time.Second)
				sbc := startPeer(t, "sbc")
				sbc.invites(func(pi *peerInvite) {
					var hdrs []gosip.Header
					if allow {
						hdrs = append(hdrs, allowUpdate())
					}
					pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), hdrs...)
					pi.waitAck(ctx)
				})
				sbc.answerSDP(t, gosip.UPDATE)
				sbc.answerSDP(t, gosip.INVITE)
				srv := serveTo(t, sbc.addr(), tr, nil)
				caller := startPeer(t, "caller")
				oc := upCall(ctx, t, caller, srv, tr)
				upd := gosip.NewRequest(gosip.UPDATE, oc.final.Contact().Address)
				upd.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
				upd.SetBody(fixtureBody(t, "hold-offer.sdp"))
				res := doIn(ctx, t, oc, upd)
				if res.StatusCode != 200 {
					t.Fatalf("UPDATE with SDP got %d", res.StatusCode)
				}
				if _, err := sdp.Parse(res.Body()); err != nil {
					t.Errorf("no SDP answer in the 200 to the UPDATE: %v", err)
				}
				var relayed *gosip.Request
				if allow {
					relayed = sbc.wait(ctx, gosip.UPDATE, 1)
				} else {
					relayed = sbc.wait(ctx, gosip.INVITE, 2)
				}
				if !strings.Contains(string(relayed.Body()), "a=sendonly") {
					t.Errorf("relayed %s is not a hold offer:\n%s", relayed.Method, relayed.Body())
				}
				_ = oc.d.Bye(ctx)
				sbc.wait(ctx, gosip.BYE, 1)
				mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
			})
		}
		t.Run(tr+"/early offer relayed as UPDATE", func(t *testing.T) {
			// After the answers in reliable 183s, PRACKed: the caller's
			// offer is relayed in the callee's early dialog.
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				pi.reliable(183, 1, fixtureBody(t, "sbc-answer-pcma.sdp"))
				pi.p.wait(ctx, gosip.UPDATE, 1)
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), allowUpdate())
				pi.waitAck(ctx)
			})
			sbc.answerSDP(t, gosip.UPDATE)
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"), gosip.NewHeader("Supported", "100rel"))
			code := 0
			// On WaitAnswer's goroutine: sipgo's dialog is not to be used
			// from another while WaitAnswer updates it.
			res := oc.answer(ctx, func(r *gosip.Response) {
				if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || code != 0 {
					return
				}
				if pres := doIn(ctx, t, oc, prackFor(oc, r)); pres.StatusCode != 200 {
					t.Errorf("PRACK got %d", pres.StatusCode)
				}
				code = earlyUpdate(ctx, t, oc, r, fixtureBody(t, "sfb-bypass-offer.sdp")).StatusCode
			})
			if res.StatusCode != 200 {
				t.Fatalf("call got %d", res.StatusCode)
			}
			if code != 200 {
				t.Errorf("early UPDATE got %d", code)
			}
			_ = oc.d.Ack(ctx)
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
	}
}

// earlyUpdate sends the caller's UPDATE with offer in the early dialog of
// r, our 18x, and returns its final response.
func earlyUpdate(ctx context.Context, t *testing.T, oc *outCall, r *gosip.Response, offer []byte) *gosip.Response {
	t.Helper()
	upd := gosip.NewRequest(gosip.UPDATE, r.Contact().Address)
	upd.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	upd.SetBody(offer)
	res, err := oc.d.Do(ctx, upd)
	if err != nil {
		t.Errorf("early UPDATE: %v", err)
		return &gosip.Response{}
	}
	return res
}

// TestEarlyUpdateBeforeReliableAnswer: RFC 3311 §5.1, §5.2. In an early
// dialog an UPDATE may carry an offer only once the INVITE's offer has its
// answer in a reliable 18x (the SDP of an unreliable one is a preview).
// The caller's, after our unreliable 183 with SDP, is an offer while its
// own is unanswered: 500 with a Retry-After of 0 to 10 s. The SBC's, after
// its unreliable 183, crosses our INVITE's offer: 491. Neither reaches the
// other peer, and the call goes on; the SBC's after its reliable 183
// (PRACKed) is relayed.
func TestEarlyUpdateBeforeReliableAnswer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr+"/from the caller", func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			updated := make(chan struct{})
			sbc := earlyThenAnswer(ctx, t, updated)
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"))
			sent := false
			res := oc.answer(ctx, func(r *gosip.Response) {
				if r.StatusCode != 183 || sent {
					return
				}
				sent = true
				defer close(updated)
				ures := earlyUpdate(ctx, t, oc, r, fixtureBody(t, "sfb-bypass-offer.sdp"))
				if ures.StatusCode != 500 {
					t.Errorf("early UPDATE before a reliable answer got %d, want 500", ures.StatusCode)
					return
				}
				ra := ures.GetHeader("Retry-After")
				if n, err := strconv.Atoi(strings.TrimSpace(valueOf(ra))); err != nil || n < 0 || n > 10 {
					t.Errorf("500 with Retry-After %v, want 0 to 10", ra)
				}
			})
			if res.StatusCode != 200 {
				t.Fatalf("call got %d", res.StatusCode)
			}
			if n := sbc.count(gosip.UPDATE); n != 0 {
				t.Errorf("the refused UPDATE reached the SBC (%s)", sbc.methods())
			}
			_ = oc.d.Ack(ctx)
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
		t.Run(tr+"/from the caller, the SBC's answer unreliable", func(t *testing.T) {
			// Our 183 to the 100rel caller is reliable, the SBC's was
			// not: the caller's UPDATE is valid on its side but cannot go
			// on to the SBC (RFC 3311 §5.1) before the call is answered.
			ctx := testCtx(t, 20*time.Second)
			updated := make(chan struct{})
			sbc := earlyThenAnswer(ctx, t, updated)
			sbc.answerSDP(t, gosip.UPDATE)
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"), gosip.NewHeader("Supported", "100rel"))
			sent := false
			res := oc.answer(ctx, func(r *gosip.Response) {
				if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || sent {
					return
				}
				sent = true
				defer close(updated)
				if pres := doIn(ctx, t, oc, prackFor(oc, r)); pres.StatusCode != 200 {
					t.Errorf("PRACK got %d", pres.StatusCode)
				}
				ures := earlyUpdate(ctx, t, oc, r, fixtureBody(t, "sfb-bypass-offer.sdp"))
				if ures.StatusCode != 500 || ures.GetHeader("Retry-After") == nil || !strings.Contains(valueOf(ures.GetHeader("Warning")), "not reliable") {
					t.Errorf("early UPDATE after the SBC's unreliable answer got %d (Retry-After %v, Warning %v), want 500 with both", ures.StatusCode, ures.GetHeader("Retry-After"), ures.GetHeader("Warning"))
				}
			})
			if !sent {
				t.Fatalf("no reliable 183 to the 100rel caller")
			}
			if res.StatusCode != 200 {
				t.Fatalf("call got %d", res.StatusCode)
			}
			if n := sbc.count(gosip.UPDATE); n != 0 {
				t.Errorf("the caller's UPDATE reached the SBC in an early dialog whose answer was unreliable (%s)", sbc.methods())
			}
			_ = oc.d.Ack(ctx)
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
		for _, tc := range []struct {
			name                   string
			reliable, caller100rel bool
			want                   int
		}{
			{"/from the SBC after an unreliable 183", false, false, 491},
			{"/from the SBC after a reliable 183", true, true, 200},
			// The SBC's offer is fine on its side, but our 183 to the
			// caller (no 100rel) was unreliable: it cannot go on.
			{"/from the SBC after a reliable 183, the caller's answer unreliable", true, false, 500},
		} {
			reliable, want := tc.reliable, tc.want
			t.Run(tr+tc.name, func(t *testing.T) {
				ctx := testCtx(t, 20*time.Second)
				sbc := startPeer(t, "sbc")
				// The SBC's UPDATE may come on a connection of its own: it
				// waits until the server has its 183 (the caller has it, or
				// we PRACKed it).
				relayed := make(chan struct{})
				sbc.invites(func(pi *peerInvite) {
					if reliable {
						pi.reliable(183, 1, fixtureBody(t, "sbc-answer-pcma.sdp"))
						pi.p.wait(ctx, gosip.PRACK, 1)
					} else {
						pi.respond(183, fixtureBody(t, "sbc-answer-pcma.sdp"))
						select {
						case <-relayed:
						case <-ctx.Done():
							return
						}
					}
					res := pi.do(ctx, pi.inDialog(gosip.UPDATE, pi.req.CSeq().SeqNo+1, fixtureBody(t, "sbc-offer-pcma-pcmu.sdp")))
					if res.StatusCode != want {
						t.Errorf("SBC's early UPDATE got %d %s, want %d", res.StatusCode, res.Reason, want)
					}
					pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
					pi.waitAck(ctx)
				})
				srv := serveTo(t, sbc.addr(), tr, nil)
				caller := startPeer(t, "caller")
				caller.answerSDP(t, gosip.UPDATE)
				hdrs := []gosip.Header{}
				if tc.caller100rel {
					hdrs = append(hdrs, gosip.NewHeader("Supported", "100rel"))
				}
				oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"), hdrs...)
				seen := false
				res := oc.answer(ctx, func(r *gosip.Response) {
					if r.StatusCode != 183 || seen {
						return
					}
					seen = true
					if r.GetHeader("RSeq") != nil {
						doIn(ctx, t, oc, prackFor(oc, r))
					}
					close(relayed)
				})
				if res.StatusCode != 200 {
					t.Fatalf("call got %d", res.StatusCode)
				}
				if n := caller.count(gosip.UPDATE); (n == 1) != (want == 200) {
					t.Errorf("%d UPDATEs reached the caller", n)
				}
				_ = oc.d.Ack(ctx)
				_ = oc.d.Bye(ctx)
				sbc.wait(ctx, gosip.BYE, 1)
			})
		}
	}
}

func valueOf(h gosip.Header) string {
	if h == nil {
		return ""
	}
	return h.Value()
}

// TestRelayedUpdateRefusedAsMethod: an SBC whose 200 allowed UPDATE but
// that refuses the client's relayed UPDATE offer as a method it does not
// do (405 whose Allow lacks UPDATE, or 501) gets the offer again at once
// as a re-INVITE, and the client its answer: it never sees the refusal.
// The next offer goes as a re-INVITE from the start. The SBC's 405 used to
// be relayed to the client as our own, without the Allow a 405 must have.
func TestRelayedUpdateRefusedAsMethod(t *testing.T) {
	for _, code := range []int{405, 501} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), allowUpdate())
			})
			sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				res := gosip.NewResponseFromRequest(req, code, "", nil)
				if code == 405 {
					res.AppendHeader(gosip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"))
				}
				_ = tx.Respond(res)
			})
			sbc.answerSDP(t, gosip.INVITE)
			srv := serveTo(t, sbc.addr(), "udp", nil)
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, "udp")
			ackTaken(ctx, t, oc)
			sbc.wait(ctx, gosip.ACK, 1)
			update := func(body []byte) *gosip.Response {
				upd := gosip.NewRequest(gosip.UPDATE, oc.final.Contact().Address)
				upd.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
				upd.SetBody(body)
				return doIn(ctx, t, oc, upd)
			}
			if res := update(fixtureBody(t, "hold-offer.sdp")); res.StatusCode != 200 || len(res.Body()) == 0 {
				t.Fatalf("UPDATE with SDP got %d (Allow %q), want 200 with the answer the SBC gave the re-INVITE", res.StatusCode, valueOf(res.GetHeader("Allow")))
			}
			relayed := sbc.wait(ctx, gosip.INVITE, 2)
			if !strings.Contains(string(relayed.Body()), "a=sendonly") {
				t.Errorf("re-INVITE is not the UPDATE's hold offer:\n%s", relayed.Body())
			}
			resume := bumpVersion(t, bumpVersion(t, string(fixtureBody(t, "hold-offer.sdp"))))
			resume = strings.Replace(resume, "a=sendonly", "a=sendrecv", 1)
			if res := update([]byte(resume)); res.StatusCode != 200 {
				t.Fatalf("second UPDATE got %d", res.StatusCode)
			}
			sbc.wait(ctx, gosip.INVITE, 3)
			if n := sbc.count(gosip.UPDATE); n != 1 {
				t.Errorf("SBC got %d UPDATEs, want only the first (then re-INVITEs)", n)
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
		})
	}
}

// TestEarlyUpdateRefusedAsMethod: in the early dialogs, where no
// re-INVITE can carry it, the client's UPDATE offer that the SBC refuses
// as a method it does not do gets 500 with a Retry-After and a Warning
// saying the other side takes no UPDATE before the answer (as when the
// SBC's Allow had said so), not the SBC's 405 as if it were ours.
func TestEarlyUpdateRefusedAsMethod(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	updated := make(chan struct{})
	sbc.invites(func(pi *peerInvite) {
		pi.reliable(183, 1, fixtureBody(t, "sbc-answer-pcma.sdp"))
		select {
		case <-updated:
		case <-ctx.Done():
			return
		}
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
	})
	sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		_ = tx.Respond(gosip.NewResponseFromRequest(req, 405, "", nil))
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"), gosip.NewHeader("Supported", "100rel"))
	var ures *gosip.Response
	res := oc.answer(ctx, func(r *gosip.Response) {
		if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || ures != nil {
			return
		}
		defer close(updated)
		if pres := doIn(ctx, t, oc, prackFor(oc, r)); pres.StatusCode != 200 {
			t.Errorf("PRACK got %d", pres.StatusCode)
		}
		ures = earlyUpdate(ctx, t, oc, r, fixtureBody(t, "sfb-bypass-offer.sdp"))
	})
	if res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	if ures == nil || ures.StatusCode != 500 || ures.GetHeader("Retry-After") == nil || !strings.Contains(valueOf(ures.GetHeader("Warning")), "UPDATE") {
		t.Fatalf("early UPDATE refused by the SBC as a method got %v, want 500 with Retry-After and a Warning", ures)
	}
	_ = oc.d.Ack(ctx)
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
}
