package mediation_test

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestSettledCallReleasesSetup: 64*T1 after the caller's ACK an answered
// call lets its set-up messages go (our ACK of the SBC's 2xx is then
// garbage collected) and keeps working: a PRACK gets 481, a 2xx the SBC
// sends again is ACKed again from the dialog, and the call ends with a
// whole record; it keeps the peers' SDPs as their bodies only, read
// the same again. (A late copy of the caller's INVITE is answered by sipgo's
// transaction here, whose T1 is the RFC's: the soak package's
// TestRetransmittedInviteOutlivesTransaction reaches the call with it.)
func TestSettledCallReleasesSetup(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc := startPeer(t, "sbc")
			answered := make(chan *peerInvite, 1)
			var ok *gosip.Response
			sbc.invites(func(pi *peerInvite) {
				ok = pi.response(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				_ = pi.tx.Respond(ok)
				if !pi.waitAck(ctx) {
					return
				}
				answered <- pi
			})
			records := t.TempDir() + "/calls.jsonl"
			const t1 = 20 * time.Millisecond // settles 1.28 s after the ACK
			srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) {
				c.SIP.T1, c.SIP.T2 = t1, 4*t1
				c.Records.Path = records
			})
			caller := startPeer(t, "caller")
			// A caller that supports 100rel (so the call has reliable
			// provisional state; the SBC answers at once).
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"), gosip.NewHeader("Supported", "100rel"))
			if res := oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("call got %d %s", res.StatusCode, res.Reason)
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			var pi *peerInvite
			select {
			case pi = <-answered:
			case <-ctx.Done():
				t.Fatal("the SBC got no ACK")
			}

			states := srv.SetupStates()
			if len(states) != 1 || states[0].Settled || states[0].Invite.Value() == nil || states[0].Ack.Value() == nil || !states[0].AnswerKept || states[0].ParsedSDP != 3 {
				t.Fatalf("right after the ACK: %+v, want one call holding its INVITE, ACK, the SBC's parsed answer and three parsed SDPs", states)
			}
			if states[0].Latest[0].BypassID == "" || len(states[0].Latest[0].Candidates) == 0 || len(states[0].Latest[1].Codecs) == 0 {
				t.Fatalf("latest SDPs %+v, want the client's offer (bypass ID, candidates) and the SBC's answer", states[0].Latest)
			}
			held := states[0]
			spanBefore := srv.StringsSpan()
			waitUntil(ctx, t, "the call to settle", func() bool {
				st := srv.SetupStates()
				return len(st) == 1 && st[0].Settled
			})
			// A PRACK now has nothing to acknowledge: 481.
			prack := gosip.NewRequest(gosip.PRACK, oc.final.Contact().Address)
			prack.AppendHeader(gosip.NewHeader("RAck", fmt.Sprintf("1 %d INVITE", oc.inv.CSeq().SeqNo)))
			if res := doIn(ctx, t, oc, prack); res.StatusCode != 481 {
				t.Fatalf("PRACK after the settle got %d, want 481", res.StatusCode)
			}
			// The call holds neither any more. Our ACK is then garbage; our
			// INVITE stays with sipgo until its own Timer M (64 of its T1,
			// 500 ms here, after the 2xx: Terminate does not stop that timer),
			// which in a server whose sip.t1 is sipgo's has passed by now.
			st := srv.SetupStates()
			if st[0].Invite.Value() != nil || st[0].Ack.Value() != nil || st[0].AnswerKept || st[0].ParsedSDP != 0 {
				t.Fatalf("settled call still holds its INVITE, ACK, the SBC's parsed answer or a parsed SDP: %+v", st[0])
			}
			// The strings it keeps (dialogs, numbers, registry keys) share
			// one buffer.
			if span := srv.StringsSpan(); len(span) != 1 || span[0] > 1024 {
				t.Fatalf("settled call's strings span %v bytes (%v before), want them in one buffer", span, spanBefore)
			}
			// It reads each peer's latest SDP again from the body kept,
			// the same as before (a transfer offers the client's).
			if !reflect.DeepEqual(st[0].Latest, held.Latest) {
				t.Fatalf("latest SDPs once settled\n%+v\nwant as before\n%+v", st[0].Latest, held.Latest)
			}
			waitUntil(ctx, t, "our ACK collected", func() bool {
				runtime.GC()
				return held.Ack.Value() == nil
			})

			// The SBC's 2xx again (its transaction still accepts them): a
			// new ACK in the same dialog.
			if err := pi.tx.Respond(ok); err != nil {
				t.Fatal(err)
			}
			ack := sbc.wait(ctx, gosip.ACK, 2)
			tag, _ := ack.To().Params.Get("tag")
			if ack.CallID().Value() != pi.req.CallID().Value() || ack.CSeq().SeqNo != pi.req.CSeq().SeqNo || tag != pi.tag {
				t.Fatalf("second ACK %s, want the dialog of %s with CSeq %d", ack.StartLine(), pi.req.CallID().Value(), pi.req.CSeq().SeqNo)
			}

			if err := oc.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			sbc.wait(ctx, gosip.BYE, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
			recs := readRecords(t, records)
			if len(recs) != 1 || recs[0].GatewayCallID != pi.req.CallID().Value() || recs[0].EdgeCallID != oc.inv.CallID().Value() {
				t.Fatalf("records %+v, want one with both Call-IDs", recs)
			}
		})
	}
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestSettledInboundCallReleasesForks: an inbound call whose client sent
// an 18x with SDP (one fork, tracked by its To-tag with that SDP) holds
// none of it once settled, as an outbound call does not (r23-review2 #3).
func TestSettledInboundCallReleasesForks(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	e1, s1 := rtpSock(t), rtpSock(t)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	edge.invites(func(pi *peerInvite) {
		pi.respond(183, loopSDP(sockPort(e1), "sendrecv", true, "PCMU"))
		pi.respond(200, loopSDP(sockPort(e1), "sendrecv", true, "PCMU"))
		pi.waitAck(ctx)
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Edge.Peer = edge.addr().String()
		c.SIP.T1, c.SIP.T2 = 20*time.Millisecond, 80*time.Millisecond
	})
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(s1), "sendrecv", true, "PCMU", "PCMA"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d %s", res.StatusCode, res.Reason)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if st := srv.SetupStates(); len(st) != 1 || st[0].Forks != 1 || st[0].ForkSDP == 0 {
		t.Fatalf("before the settle: %+v, want the client's fork with its 183's SDP", st)
	}
	waitUntil(ctx, t, "the call to settle", func() bool {
		st := srv.SetupStates()
		return len(st) == 1 && st[0].Settled
	})
	if st := srv.SetupStates(); st[0].Forks != 0 || st[0].ForkSDP != 0 {
		t.Fatalf("settled inbound call still holds %d forks, %d bytes of their SDP", st[0].Forks, st[0].ForkSDP)
	}
	_ = oc.d.Bye(ctx)
	edge.wait(ctx, gosip.BYE, 1)
}
