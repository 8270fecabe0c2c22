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
// off (the default), a caller that asks for no timer gets none: no
// Session-Expires in our 200, and no refresh.
func TestSessionTimerNotImposedWhenOff(t *testing.T) {
	for _, inbound := range []bool{false, true} {
		t.Run(direction(inbound), func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			_, caller, _, oc, res, _ := uasTimerCall(ctx, t, inbound, false)
			if se := res.GetHeader("Session-Expires"); se != nil {
				t.Errorf("our 200 has Session-Expires %s with session_timer off", se.Value())
			}
			time.Sleep(1500 * time.Millisecond) // past where a 2 s timer would refresh
			if n := caller.count(gosip.INVITE) + caller.count(gosip.UPDATE); n != 0 {
				t.Errorf("%d refreshes to the caller with session_timer off", n)
			}
			_ = oc.d.Bye(ctx)
		})
	}
}
