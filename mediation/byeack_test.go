package mediation_test

import (
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestByeWaitsForAck: the SBC answers and hangs up at once, before the
// caller has ACKed our 200. RFC 3261 §15: our BYE to the caller waits for
// its ACK, and our 200 goes on being retransmitted meanwhile (a caller
// whose first copy was lost still gets one). The BYE used to leave in the
// same millisecond as the 200 and stop its retransmissions.
func TestByeWaitsForAck(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			hungUp := make(chan struct{})
			sbc.invites(func(pi *peerInvite) {
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				// As RFC 3261 §15 has the callee do: its BYE waits for our
				// ACK. Sent at once, over TCP it can overtake the 200 (it
				// goes on a connection of its own, to our Contact) and
				// get 481 on a loaded machine.
				if !pi.waitAck(ctx) {
					return
				}
				if res := pi.do(ctx, pi.inDialog(gosip.BYE, pi.req.CSeq().SeqNo+1, nil)); res.StatusCode != 200 {
					t.Errorf("SBC's BYE got %d", res.StatusCode)
				}
				close(hungUp)
			})
			srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) { c.SIP.T2 = 80 * time.Millisecond })
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"))
			if res := oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("call got %d", res.StatusCode)
			}
			select {
			case <-hungUp:
			case <-ctx.Done():
				t.Fatal("the SBC's BYE was not answered")
			}
			callID := string(*oc.inv.CallID())
			oks := func() int {
				n := 0
				caller.mu.Lock()
				defer caller.mu.Unlock()
				for _, m := range caller.wire {
					if r, ok := m.(*gosip.Response); ok && r.StatusCode == 200 && string(*r.CallID()) == callID && r.CSeq().MethodName == gosip.INVITE {
						n++
					}
				}
				return n
			}
			for oks() < 3 {
				select {
				case <-ctx.Done():
					t.Fatalf("our 200 came %d times after the SBC hung up and before the caller's ACK, want it retransmitted", oks())
				case <-time.After(10 * time.Millisecond):
				}
			}
			if n := caller.count(gosip.BYE); n != 0 {
				t.Fatalf("the caller got BYE before its ACK (RFC 3261 §15)")
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			caller.wait(ctx, gosip.BYE, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
		})
	}
}

// TestRecordEndsWhenHangupStarts: the caller hangs up and the SBC never
// answers our BYE. The record's end time (and the "call ended" duration) is
// when the hang-up came, not when our BYE gave up (64*T1, at most 4 s):
// talk time must not grow by the wait for a dead peer.
func TestRecordEndsWhenHangupStarts(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.on(gosip.BYE, func(*gosip.Request, gosip.ServerTransaction) {}) // gone
	records := t.TempDir() + "/calls.jsonl"
	const t1 = 40 * time.Millisecond // BYE given up after 64*T1 = 2.56 s
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.SIP.T1, c.SIP.T2 = t1, 4*t1
		c.Records.Path = records
	})
	caller := startPeer(t, "caller")
	oc := upCall(ctx, t, caller, srv, "udp")
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	hungUp := time.Now() // our 200 to the BYE has come: the end began before
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	recs := readRecords(t, records)
	if len(recs) != 1 || len(recs[0].ByeUndelivered) != 1 {
		t.Fatalf("records %+v, want one with the SBC's BYE undelivered", recs)
	}
	if late := recs[0].EndTime.Sub(hungUp); late > 32*t1 {
		t.Errorf("record ends %s after the hang-up, want at it (not after our BYE to the dead SBC gave up)", late)
	}
}
