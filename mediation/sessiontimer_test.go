package mediation_test

import (
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// Session timers (RFC 4028) with intervals of a few seconds: min_se may go
// below RFC 4028's 90 s for exactly this.

// TestSessionTimerPeerRefreshes: an SBC that puts Session-Expires with
// refresher=uas in its 200 refreshes the session itself; its refreshes
// (UPDATE without SDP) are answered and keep the call up past the
// interval, and once they stop the call is ended with BYE on both legs.
func TestSessionTimerPeerRefreshes(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			const interval = 2 * time.Second
			sbc := startPeer(t, "sbc")
			stopRefresh, refreshed := make(chan struct{}), make(chan struct{})
			sbc.invites(func(pi *peerInvite) {
				if !strings.Contains(supported(pi.req), "timer") {
					t.Errorf("INVITE does not say Supported: timer: %q", supported(pi.req))
				}
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"),
					gosip.NewHeader("Session-Expires", "2;refresher=uas"), gosip.NewHeader("Require", "timer"), allowUpdate())
				pi.waitAck(ctx)
				go func() {
					for seq := uint32(10); ; seq++ {
						select {
						case <-stopRefresh:
							return
						case <-ctx.Done():
							return
						case <-time.After(interval / 2):
						}
						res := pi.do(ctx, pi.inDialog(gosip.UPDATE, seq, nil, gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Supported", "timer")))
						if res.StatusCode != 200 || res.GetHeader("Session-Expires") == nil {
							t.Errorf("refresh got %d, Session-Expires %v", res.StatusCode, res.GetHeader("Session-Expires"))
						}
						if seq == 13 {
							close(refreshed) // four refreshes: two intervals
						}
					}
				}()
			})
			srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) { c.Gateways[0].SessionTimer.MinSE = time.Second })
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, tr)
			// Refreshed: still up after two intervals.
			select {
			case <-refreshed:
			case <-ctx.Done():
				t.Fatal("the SBC's refreshes did not go through")
			}
			if sbc.count(gosip.BYE) > 0 || caller.count(gosip.BYE) > 0 {
				t.Fatal("the call ended although the SBC refreshed it")
			}
			close(stopRefresh)
			sbc.wait(ctx, gosip.BYE, 1)
			caller.wait(ctx, gosip.BYE, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
			_ = oc
		})
	}
}

// TestSessionTimerWeRefresh: with session_timer enabled on the trunk (CCE's
// EnableSessionTimer) our INVITE asks for a timer with refresher=uac, and
// we refresh at half the interval: with UPDATE when the SBC allows it,
// else with a re-INVITE carrying the SDP it already has.
func TestSessionTimerWeRefresh(t *testing.T) {
	for _, tr := range transports {
		for _, allow := range []bool{true, false} {
			method := gosip.INVITE
			if allow {
				method = gosip.UPDATE
			}
			t.Run(tr+"/"+string(method), func(t *testing.T) {
				ctx := testCtx(t, 30*time.Second)
				sbc := startPeer(t, "sbc")
				sbc.invites(func(pi *peerInvite) {
					se := pi.req.GetHeader("Session-Expires")
					if se == nil || se.Value() != "2;refresher=uac" {
						t.Errorf("INVITE Session-Expires %v, want 2;refresher=uac", se)
					}
					hdrs := []gosip.Header{gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer")}
					if allow {
						hdrs = append(hdrs, allowUpdate())
					}
					pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), hdrs...)
				})
				sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
					sbc.reply(req, tx, 200, fixtureBody(t, "sbc-answer-pcma.sdp"), gosip.NewHeader("Session-Expires", "2;refresher=uac"))
				})
				sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
					sbc.reply(req, tx, 200, nil, gosip.NewHeader("Session-Expires", "2;refresher=uac"))
				})
				srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) {
					c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 2 * time.Second, MinSE: time.Second}
				})
				caller := startPeer(t, "caller")
				oc := upCall(ctx, t, caller, srv, tr)
				start := time.Now()
				n := 2
				if method == gosip.INVITE {
					n = 3 // the initial INVITE, then two refreshes
				}
				refresh := sbc.wait(ctx, method, n)
				if d := time.Since(start); d < time.Second {
					t.Errorf("two refreshes within %v of a 2 s interval", d)
				}
				if method == gosip.INVITE && len(refresh.Body()) == 0 {
					t.Error("re-INVITE refresh without SDP")
				}
				if sbc.count(gosip.BYE) > 0 {
					t.Fatal("a refreshed call was ended")
				}
				_ = oc.d.Bye(ctx)
				sbc.wait(ctx, gosip.BYE, 1)
			})
		}
	}
}

// TestSessionTimer422: a caller asking for an interval below our Min-SE
// gets 422 with Min-SE; an SBC that finds our interval too small is
// INVITEd again with its Min-SE (RFC 4028 §7.4).
func TestSessionTimer422(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr+"/caller", func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"),
				gosip.NewHeader("Supported", "timer"), gosip.NewHeader("Session-Expires", "30"))
			res := oc.answer(ctx, nil)
			if res.StatusCode != 422 {
				t.Fatalf("got %d, want 422", res.StatusCode)
			}
			if m := res.GetHeader("Min-SE"); m == nil || m.Value() != "90" {
				t.Errorf("Min-SE %v, want 90", m)
			}
			if sbc.count(gosip.INVITE) != 0 {
				t.Error("the refused call reached the SBC")
			}
		})
		t.Run(tr+"/sbc", func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				if se := pi.req.GetHeader("Session-Expires"); se != nil && strings.HasPrefix(se.Value(), "120") {
					pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), gosip.NewHeader("Session-Expires", "120;refresher=uac"))
					return
				}
				pi.respond(422, nil, gosip.NewHeader("Min-SE", "120"))
			})
			srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) {
				c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 90 * time.Second}
			})
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, tr)
			second := sbc.wait(ctx, gosip.INVITE, 2)
			if second.CSeq().SeqNo != sbc.wait(ctx, gosip.INVITE, 1).CSeq().SeqNo+1 {
				t.Errorf("INVITE after 422 has CSeq %d", second.CSeq().SeqNo)
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
	}
}

// TestSessionTimerCallerMissesRefresh: a caller that asked to refresh
// (refresher=uac) and does not is hung up on both legs once the session
// expires.
func TestSessionTimerCallerMissesRefresh(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.SessionTimer.MinSE = time.Second })
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"),
		gosip.NewHeader("Supported", "timer"), gosip.NewHeader("Session-Expires", "2;refresher=uac"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "2;refresher=uac" {
		t.Errorf("200 Session-Expires %v, want 2;refresher=uac", se)
	}
	_ = oc.d.Ack(ctx)
	start := time.Now()
	caller.wait(ctx, gosip.BYE, 1)
	sbc.wait(ctx, gosip.BYE, 1)
	if d := time.Since(start); d < time.Second {
		t.Errorf("hung up after %v, before the session could expire", d)
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
}
