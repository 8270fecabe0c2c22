package mediation_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// waitLogged waits until the server has logged a line whose message starts
// with prefix.
func waitLogged(ctx context.Context, t *testing.T, logs *syncBuffer, prefix string) bool {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, l := range logs.lines() {
			if msg, _ := l["message"].(string); strings.HasPrefix(msg, prefix) {
				return true
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Errorf("no log line %q", prefix)
			return false
		}
	}
}

// TestPeerRefreshPendingAtExpiry: the SBC refreshes its session
// (Session-Expires: 3, refresher the SBC) in time, by a hold re-INVITE
// that is relayed to the client, and the client answers only after the
// point where we end a session that got no refresh (3 s minus a third).
// RFC 4028 §10 has BYE sent only when no refresh request came before the
// expiry: this one came, so its outcome decides. Answered 200, the SBC
// gets the 200, the call goes on, and the timer runs again from our 2xx
// (the SBC refreshes no more: the call ends by the timer, 2 s after that
// 2xx). Refused 488 (a failed refresh does not refresh), the SBC gets the
// 488 and the call ends then, by the timer, the expiry having passed.
// Before, the call ended at the expiry point: 487 to the pending refresh.
func TestPeerRefreshPendingAtExpiry(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int
	}{{"answered", 200}, {"refused", 488}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc := startPeer(t, "sbc")
			calls := make(chan *peerInvite, 1)
			sbc.invites(func(pi *peerInvite) {
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"),
					gosip.NewHeader("Session-Expires", "3;refresher=uas"), gosip.NewHeader("Require", "timer"))
				calls <- pi
			})
			records := t.TempDir() + "/calls.jsonl"
			logs := new(syncBuffer)
			cfg := labConfig(sbc.addr(), "udp")
			cfg.Gateways[0].SessionTimer.MinSE = time.Second
			// The relayed offer waits 64*T1 for the client's answer:
			// longer than the client takes here (64*20 ms would not be).
			cfg.SIP.T1 = 100 * time.Millisecond
			cfg.Records.Path = records
			srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
			caller := startPeer(t, "caller")
			caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				// A slow client: it answers the relayed refresh once the
				// session's expiry point has passed at the server.
				if !waitLogged(ctx, t, logs, "session timer expired") {
					return
				}
				if tc.code != 200 {
					caller.reply(req, tx, tc.code, nil)
					return
				}
				caller.reply(req, tx, 200, bytes.Replace(fixtureBody(t, "sfb-bypass-offer.sdp"), []byte("a=sendrecv"), []byte("a=recvonly"), 1))
			})
			oc := upCall(ctx, t, caller, srv, "udp")
			ackTaken(ctx, t, oc)
			pi := next(ctx, t, calls, "SBC's")
			sbc.wait(ctx, gosip.ACK, 1)
			// The SBC's refresh, well before the expiry point (2 s).
			seq := pi.req.CSeq().SeqNo + 1
			res := pi.do(ctx, pi.inDialog(gosip.INVITE, seq, fixtureBody(t, "hold-offer.sdp"),
				gosip.NewHeader("Session-Expires", "3;refresher=uac"), gosip.NewHeader("Supported", "timer")))
			answered := time.Now()
			if res.StatusCode != tc.code {
				t.Fatalf("the SBC's refresh got %d, want the client's %d", res.StatusCode, tc.code)
			}
			if n := caller.count(gosip.INVITE); n != 1 {
				t.Errorf("client got %d re-INVITEs, want the relayed refresh", n)
			}
			if tc.code == 200 {
				if n := sbc.count(gosip.BYE) + caller.count(gosip.BYE); n != 0 {
					t.Fatalf("%d BYEs before the refresh's 200: the call was ended while the refresh was pending", n)
				}
				if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "3;refresher=uac" {
					t.Errorf("200 to the refresh has Session-Expires %v, want 3;refresher=uac", se)
				}
				ack := pi.inDialog(gosip.ACK, seq, nil)
				ack.Recipient = res.Contact().Address
				if err := sbc.stack.Client("udp").WriteRequest(ack); err != nil {
					t.Fatal(err)
				}
			}
			sbc.wait(ctx, gosip.BYE, 1)
			caller.wait(ctx, gosip.BYE, 1)
			if d := time.Since(answered); tc.code == 200 && d < 1500*time.Millisecond {
				// The re-armed timer ends it 2 s after our 2xx.
				t.Errorf("call ended %v after the refresh's 200: the timer was not re-armed by it", d)
			}
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
			if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "session timer expired" {
				t.Fatalf("records %+v, want one ended by the session timer", recs)
			}
		})
	}
}

// TestRefreshGlareRetriedBeforeExpiry: the SBC answers our refresh UPDATE
// (a 2 s interval: sent at 1 s, the session expires 1 s later) 491 once.
// RFC 3261 §14.1's wait on the dialog whose Call-ID is ours (2.1-4 s) is
// past the expiry: it is cut to half the time left, so the retry goes out,
// succeeds, and the call goes on. Before, the retry never went out and the
// call ended ("session refresh failed").
func TestRefreshGlareRetriedBeforeExpiry(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	_, sbc, oc, _ := weRefresh(ctx, t, true, func(n int, req *gosip.Request, tx gosip.ServerTransaction) {
		code := 200
		if n == 1 {
			code = 491
		}
		res := gosip.NewResponseFromRequest(req, code, "", nil)
		if code == 200 {
			res.AppendHeader(gosip.NewHeader("Session-Expires", "2;refresher=uac"))
		}
		_ = tx.Respond(res)
	})
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	// The refused one, its retry, the next interval's.
	for sbc.count(gosip.UPDATE) < 3 {
		if n := sbc.count(gosip.BYE) + oc.p.count(gosip.BYE); n != 0 {
			t.Fatalf("%d BYEs after %d refresh UPDATEs: the 491's retry did not go out before the session expired", n, sbc.count(gosip.UPDATE))
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%d refresh UPDATEs, want 3", sbc.count(gosip.UPDATE))
		}
	}
	if n := sbc.count(gosip.BYE) + oc.p.count(gosip.BYE); n != 0 {
		t.Fatalf("%d BYEs: the call was ended over one 491", n)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}
