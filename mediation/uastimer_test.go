package mediation_test

import (
	"context"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// A caller that asks for no session timer (r29-twinkle #2: Twinkle 1.10
// knows no RFC 4028: its INVITE has no Session-Expires and no Supported:
// timer) on a side whose session_timer is enabled gets our interval in the
// 200 with refresher=uas (RFC 4028 §9: the UAS may add Session-Expires to
// the 2xx; a UAC that does not support timers cannot refresh, so the UAS
// does), and we refresh its leg. Before, the 200 had no Session-Expires,
// nothing refreshed the caller's leg, and a caller that vanished left its
// call up for ever.

// uasTimerCall places a call from a peer that asks for no timer, on the
// edge side (outbound: the client calls, edge.session_timer) or the
// gateway side (inbound: the SBC calls, the trunk's session_timer), with
// that side's session_timer enabled at 2 s when enabled. It returns the
// server, the caller, the other leg's peer, the call (ACKed), our 200 and
// the records' path.
func uasTimerCall(ctx context.Context, t *testing.T, inbound, enabled bool, hdrs ...gosip.Header) (srv *mediation.Server, caller, other *peer, oc *outCall, res *gosip.Response, records string) {
	t.Helper()
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	sbc.invites(func(pi *peerInvite) { pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp")) })
	edge.invites(func(pi *peerInvite) { pi.respond(200, fixtureBody(t, "sfb-bypass-offer.sdp")) })
	records = t.TempDir() + "/calls.jsonl"
	srv = serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		st := mediation.SessionTimerConfig{Enabled: enabled, Expires: 2 * time.Second, MinSE: time.Second}
		if inbound {
			c.Gateways[0].SessionTimer = st
		} else {
			c.Edge.SessionTimer = st
		}
		c.Edge.Peer = edge.addr().String()
		c.Records.Path = records
	})
	caller, other = edge, sbc
	target, offer := srv.EdgeAddr(), fixtureBody(t, "sfb-bypass-offer.sdp")
	if inbound {
		caller, other = sbc, edge
		target, offer = srv.GatewayAddr(), loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU", "PCMA")
	}
	oc = caller.call(ctx, target, "udp", offer, hdrs...)
	res = oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("call got %d %s", res.StatusCode, res.Reason)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	return srv, caller, other, oc, res, records
}

// direction names a uasTimerCall's calls in subtests and metrics.
func direction(inbound bool) string {
	if inbound {
		return "inbound"
	}
	return "outbound"
}

// TestSessionTimerCoversCallerLeg (r29-twinkle #2): with the caller's
// side's session_timer enabled, a caller that asked for no timer gets
// Session-Expires: 2;refresher=uas and no Require: timer in our 200 (RFC
// 4028 §9), on the edge side (a client's outbound call) as on the gateway
// side (an SBC's inbound call). A caller that vanished (answers nothing)
// has the call ended at our first refresh, BYE to the other leg, and the
// record says "session refresh failed"; a caller that answers our
// refreshes (re-INVITEs with its leg's SDP, or UPDATEs when its INVITE's
// Allow lists UPDATE) keeps the call up through several intervals.
func TestSessionTimerCoversCallerLeg(t *testing.T) {
	for _, inbound := range []bool{false, true} {
		t.Run(direction(inbound)+"/vanished", func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			srv, caller, other, _, res, records := uasTimerCall(ctx, t, inbound, true)
			if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "2;refresher=uas" {
				t.Errorf("our 200 has Session-Expires %v, want 2;refresher=uas", se)
			}
			if r := res.GetHeader("Require"); r != nil {
				t.Errorf("our 200 has Require: %s; the caller does not support timer", r.Value())
			}
			// The caller vanishes: from now on it answers nothing.
			caller.on(gosip.INVITE, func(*gosip.Request, gosip.ServerTransaction) {})
			caller.on(gosip.UPDATE, func(*gosip.Request, gosip.ServerTransaction) {})
			start := time.Now()
			other.wait(ctx, gosip.BYE, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", direction(inbound))
			if d := time.Since(start); d < time.Second {
				t.Errorf("call ended %v after the answer, before the first refresh (1 s) could go unanswered", d)
			}
			if n := caller.count(gosip.INVITE) + caller.count(gosip.UPDATE); n == 0 {
				t.Error("no refresh reached the caller")
			}
			if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "session refresh failed" {
				t.Fatalf("records %+v, want one ended by the failed session refresh", recs)
			}
		})
		for _, update := range []bool{false, true} {
			method := gosip.INVITE
			var hdrs []gosip.Header
			if update {
				method, hdrs = gosip.UPDATE, []gosip.Header{allowUpdate()}
			}
			t.Run(direction(inbound)+"/answers "+string(method), func(t *testing.T) {
				ctx := testCtx(t, 20*time.Second)
				_, caller, _, oc, res, _ := uasTimerCall(ctx, t, inbound, true, hdrs...)
				if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "2;refresher=uas" {
					t.Errorf("our 200 has Session-Expires %v, want 2;refresher=uas", se)
				}
				caller.on(method, func(req *gosip.Request, tx gosip.ServerTransaction) {
					// A re-INVITE refresh repeats the leg's SDP: the
					// caller answers with the offer it made.
					caller.reply(req, tx, 200, oc.inv.Body())
				})
				refresh := caller.wait(ctx, method, 3) // three refreshes: 1.5 intervals
				if method == gosip.INVITE && len(refresh.Body()) == 0 {
					t.Error("re-INVITE refresh without SDP")
				}
				if n := caller.count(gosip.BYE); n != 0 {
					t.Fatalf("%d BYEs to a caller that answered its refreshes", n)
				}
				_ = oc.d.Bye(ctx)
			})
		}
	}
}

// TestSessionTimerNotImposedWhenOff: with the caller's side's session_timer
// off (the default), a caller that asks for no timer gets none, whether it
// supports timers or not: no Session-Expires in our 200, and no refresh.
func TestSessionTimerNotImposedWhenOff(t *testing.T) {
	for _, inbound := range []bool{false, true} {
		for _, supported := range []bool{false, true} {
			name := direction(inbound)
			var hdrs []gosip.Header
			if supported {
				name += "/Supported: timer"
				hdrs = append(hdrs, gosip.NewHeader("Supported", "timer"))
			}
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t, 20*time.Second)
				_, caller, _, oc, res, _ := uasTimerCall(ctx, t, inbound, false, hdrs...)
				if se := res.GetHeader("Session-Expires"); se != nil {
					t.Errorf("our 200 has Session-Expires %s with session_timer off", se.Value())
				}
				time.Sleep(1500 * time.Millisecond) // past where a 2 s timer would refresh
				if n := caller.count(gosip.INVITE) + caller.count(gosip.UPDATE); n != 0 {
					t.Errorf("%d refreshes to the caller with session_timer off", n)
				}
				if r := res.GetHeader("Require"); r != nil && sipHasTimer([]gosip.Header{r}) {
					t.Errorf("our 200 has Require: %s with session_timer off", r.Value())
				}
				_ = oc.d.Bye(ctx)
			})
		}
	}
}

// TestSessionTimerCallerSupportsTimer: with the caller's side's
// session_timer enabled, a caller whose INVITE lists timer in Supported (or
// Require) but has no Session-Expires gets Session-Expires:
// 2;refresher=uac and Require: timer in our 200 (RFC 4028 §9: the UAS may
// add Session-Expires to the 2xx and picks the refresher; with the UAC as
// refresher the 2xx MUST Require timer), on the edge side as on the
// gateway side. A caller that never refreshes has its session expire: BYE
// to both legs, end reason "session timer expired", as any peer refresher
// that misses its refresh; one that refreshes (UPDATE with Session-Expires)
// keeps the call up past several intervals. Before, such a caller got no
// timer and, if it vanished, its call stayed up.
func TestSessionTimerCallerSupportsTimer(t *testing.T) {
	for _, inbound := range []bool{false, true} {
		for _, tag := range []string{"Supported", "Require"} {
			t.Run(direction(inbound)+"/"+tag+"/vanished", func(t *testing.T) {
				ctx := testCtx(t, 20*time.Second)
				srv, caller, other, _, res, records := uasTimerCall(ctx, t, inbound, true, gosip.NewHeader(tag, "timer"))
				callerRefreshes(t, res)
				start := time.Now()
				other.wait(ctx, gosip.BYE, 1)
				caller.wait(ctx, gosip.BYE, 1)
				mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", direction(inbound))
				if d := time.Since(start); d < time.Second {
					t.Errorf("call ended %v after the answer, before the session could expire", d)
				}
				if n := caller.count(gosip.INVITE) + caller.count(gosip.UPDATE); n != 0 {
					t.Errorf("%d refreshes of ours to a caller that is the refresher", n)
				}
				if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "session timer expired" {
					t.Fatalf("records %+v, want one ended by the session's expiry", recs)
				}
			})
		}
		t.Run(direction(inbound)+"/refreshes", func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			_, caller, other, oc, res, _ := uasTimerCall(ctx, t, inbound, true, gosip.NewHeader("Supported", "timer"))
			callerRefreshes(t, res)
			// Four refreshes at 0.8 s: 1.6 intervals, past the first expiry
			// (1.33 s) a second time.
			for range 4 {
				time.Sleep(800 * time.Millisecond)
				upd := gosip.NewRequest(gosip.UPDATE, res.Contact().Address)
				upd.AppendHeader(gosip.NewHeader("Supported", "timer"))
				upd.AppendHeader(gosip.NewHeader("Session-Expires", "2;refresher=uac"))
				r, err := oc.d.Do(ctx, upd)
				if err != nil || r.StatusCode != 200 {
					t.Fatalf("refresh UPDATE: %v %v", r, err)
				}
				if se := r.GetHeader("Session-Expires"); se == nil || se.Value() != "2;refresher=uac" {
					t.Errorf("200 to the refresh has Session-Expires %v, want 2;refresher=uac", se)
				}
			}
			if n := caller.count(gosip.BYE) + other.count(gosip.BYE); n != 0 {
				t.Fatalf("%d BYEs in a call whose caller refreshed", n)
			}
			_ = oc.d.Bye(ctx)
			other.wait(ctx, gosip.BYE, 1)
		})
	}
}

// callerRefreshes checks our 200 to a caller that supports timers and
// asked for none: our 2 s interval with the caller as refresher, and
// Require: timer (RFC 4028 §9).
func callerRefreshes(t *testing.T, res *gosip.Response) {
	t.Helper()
	if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "2;refresher=uac" {
		t.Errorf("our 200 has Session-Expires %v, want 2;refresher=uac", se)
	}
	if !sipHasTimer(res.GetHeaders("Require")) {
		t.Errorf("our 200 has no Require: timer; RFC 4028 §9 requires it with refresher=uac")
	}
}
