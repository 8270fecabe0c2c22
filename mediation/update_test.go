package mediation_test

import (
	"context"
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
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				pi.respond(183, fixtureBody(t, "sbc-answer-pcma.sdp"), allowUpdate())
				pi.p.wait(ctx, gosip.UPDATE, 1)
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), allowUpdate())
				pi.waitAck(ctx)
			})
			sbc.answerSDP(t, gosip.UPDATE)
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"))
			updated := make(chan int, 1)
			res := oc.answer(ctx, func(r *gosip.Response) {
				if r.StatusCode != 183 {
					return
				}
				go func() {
					upd := gosip.NewRequest(gosip.UPDATE, r.Contact().Address)
					upd.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
					upd.SetBody(fixtureBody(t, "sfb-bypass-offer.sdp"))
					res, err := oc.d.Do(ctx, upd)
					if err != nil {
						t.Errorf("early UPDATE: %v", err)
						updated <- 0
						return
					}
					updated <- res.StatusCode
				}()
			})
			if res.StatusCode != 200 {
				t.Fatalf("call got %d", res.StatusCode)
			}
			if code := <-updated; code != 200 {
				t.Errorf("early UPDATE got %d", code)
			}
			_ = oc.d.Ack(ctx)
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
	}
}
