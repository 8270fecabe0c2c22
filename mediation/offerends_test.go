package mediation_test

// Offers that end with their dialog or transaction (r27-review2 F1, F2).

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestCancelledReinviteNeverAnswered: outbound call over UDP, T1 100 ms
// (64*T1 = 6.4 s). The client's hold re-INVITE is relayed to the SBC, which
// sends 100 Trying; the client CANCELs and gets 487 at once. The SBC
// answers our CANCEL 200 but never sends a final response to the
// re-INVITE (a UAS that ignores CANCEL of a re-INVITE). RFC 3261 §9.1: "If
// there is no final response for the original request in 64*T1 seconds
// ..., the client SHOULD then consider the original transaction cancelled
// and SHOULD destroy the client transaction": the offer is over, nothing
// changed for either peer, and the call goes on, as it did before 4670548.
// README: "the offer stays in progress (later offers get 491)".
func TestCancelledReinviteNeverAnswered(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := midRaw(t, 2)
	srv := midServe(t, sbc.addr(), "udp", func(c *mediation.Config) { c.SIP.T1 = 100 * time.Millisecond })
	caller := midPeer(t, "caller", 3)
	h := startPendingHold(ctx, t, srv, sbc, caller)
	oc, answer, ourTag, reinv, tx, rinv, rfrom := h.oc, h.answer, h.ourTag, h.reinv, h.tx, h.rinv, h.rfrom
	rawRespond(t, sbc, rinv, rfrom, 100, "", nil)
	if res, err := caller.stack.Client("udp").Do(ctx, cancelOfReinvite(reinv)); err != nil || res.StatusCode != 200 {
		t.Fatalf("CANCEL of the re-INVITE: %v %v", res, err)
	}
	for final := false; !final; {
		select {
		case r := <-tx.Responses():
			if r.StatusCode >= 200 {
				if r.StatusCode != 487 {
					t.Fatalf("cancelled re-INVITE got %d, want 487", r.StatusCode)
				}
				final = true
			}
		case <-ctx.Done():
			t.Fatal("no final response to the re-INVITE")
		}
	}
	c, cfrom := sbc.read(gosip.INVITE)
	if c.Method != gosip.CANCEL {
		t.Fatalf("SBC got %s, want our CANCEL", c.Method)
	}
	rawRespond(t, sbc, c, cfrom, 200, "", nil) // and the re-INVITE is never answered
	cancelled := time.Now()

	// The client, told 487, offers again: glare (491) while the far side
	// may still answer the cancelled one, then, that offer taken as
	// cancelled at 64*T1 (6.4 s), relayed: the call goes on.
	relayed, seq := false, uint32(2)
	for ; !relayed; seq++ {
		again := inCallerDialog(oc, gosip.INVITE, seq, ourTag)
		again.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		again.SetBody(clientSDP(t, int(seq), "sendonly"))
		tx, err := caller.stack.Client("udp").TransactionRequest(ctx, again)
		if err != nil {
			t.Fatal(err)
		}
		for final := false; !final; {
			select {
			case r := <-tx.Responses():
				switch {
				case r.StatusCode < 200:
				case r.StatusCode == 491 && !relayed:
					final = true
				default:
					t.Fatalf("the client's next re-INVITE got %d, want 491 (glare) until relayed", r.StatusCode)
				}
			case <-time.After(50 * time.Millisecond):
				// Relayed: the SBC has it.
				if r, src := rawReadTimeout(sbc, 10*time.Millisecond, gosip.ACK); r != nil && r.Method == gosip.INVITE && r.CSeq().SeqNo > rinv.CSeq().SeqNo {
					relayed = true
					rawRespond(t, sbc, r, src, 200, "", answer)
				}
			case <-ctx.Done():
				t.Fatal("the client's re-INVITEs after the cancelled one were never relayed")
			}
			if relayed {
				select {
				case r := <-tx.Responses():
					if r.StatusCode >= 200 && r.StatusCode != 200 {
						t.Fatalf("the client's re-INVITE relayed got %d", r.StatusCode)
					}
					if r.StatusCode == 200 {
						final = true
						ack := inCallerDialog(oc, gosip.ACK, seq, ourTag)
						ack.Recipient = r.Contact().Address
						if err := caller.stack.Client("udp").WriteRequest(ack); err != nil {
							t.Fatal(err)
						}
					}
				case <-ctx.Done():
					t.Fatal("no answer to the client's relayed re-INVITE")
				}
			}
		}
		tx.Terminate()
		if !relayed {
			// The glare wait of a UA that got 491 (RFC 3261 §14.1).
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	t.Logf("the client's re-INVITE relayed %v after the CANCEL", time.Since(cancelled).Round(100*time.Millisecond))
	if n := caller.count(gosip.BYE); n > 0 {
		t.Errorf("the call was ended (client got BYE) because the SBC never answered a re-INVITE that the client had CANCELled and been answered 487 for: RFC 3261 §9.1 has that transaction considered cancelled, not the dialog terminated")
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("%d calls in progress, want the call going on", n)
	}
	bye := inCallerDialog(oc, gosip.BYE, seq, ourTag)
	go func() { _, _ = caller.stack.Client("udp").Do(ctx, bye) }()
	for {
		r, src := rawReadTimeout(sbc, 5*time.Second, gosip.ACK, gosip.INVITE)
		if r == nil {
			t.Fatal("the SBC got no BYE")
		}
		if r.Method == gosip.BYE {
			rawRespond(t, sbc, r, src, 200, "", nil)
			break
		}
	}
	waitCalls(t, srv, 0)
}

// TestEarly422EndsPendingUpdate: outbound call over UDP, T1 100 ms, the
// trunk's session timer on. The SBC sends a reliable 183 with SDP (To-tag
// T), PRACKed; the client, its own reliable 183 PRACKed, sends an UPDATE
// with an offer in its early dialog, relayed to the SBC in early dialog T.
// Before answering it the SBC relays the carrier's 422, and we INVITE
// again (RFC 4028 §7.4); then the SBC answers the UPDATE 200 and rings the
// retry (180). forgetEarlyDialogs (7375657) dropped early dialog T, so the
// SBC's answer to our UPDATE is taken for a stale one (dialogGone) and
// dropped, and nothing else ends the offer: the client's UPDATE waits, its
// later offers refused, until 64*T1 answers it 408 and ends the ringing
// call ("re-offer: no answer"). Want: the UPDATE answered (its answer
// relayed, or 487/491 as when an answering fork ends the dialog an offer
// went in, abortLosingForkOffer) at once, and the call still ringing.
func TestEarly422EndsPendingUpdate(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := midRaw(t, 12)
	srv := midServe(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.SIP.T1 = 100 * time.Millisecond
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 90 * time.Second}
	})
	caller := midPeer(t, "caller", 13)
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", clientSDP(t, 0, ""), gosip.NewHeader("Supported", "100rel"))
	ans := fixtureBody(t, "sbc-answer-pcma.sdp")
	sbcDone := make(chan string, 1)
	go func() {
		inv, from := sbc.read("")
		send := func(wire []byte) { _, _ = sbc.conn.WriteToUDPAddrPort(wire, from) }
		send(rawResponseWith(sbc, inv, 183, "T", ans, "Require: 100rel", "RSeq: 1"))
		if rawNextPrack(ctx, sbc, 5*time.Second) == nil {
			sbcDone <- "the SBC's reliable 183 was not PRACKed"
			return
		}
		var upd *gosip.Request
		var ufrom netip.AddrPort
		for upd == nil {
			r, src := rawReadTimeout(sbc, 5*time.Second, gosip.INVITE)
			if r == nil {
				sbcDone <- "the client's early UPDATE never reached the SBC"
				return
			}
			if r.Method == gosip.UPDATE {
				upd, ufrom = r, src
			}
		}
		send(rawResponseWith(sbc, inv, 422, "T", nil, "Min-SE: 1800"))
		var inv2 *gosip.Request
		for inv2 == nil {
			r, _ := rawReadTimeout(sbc, 5*time.Second)
			if r == nil {
				sbcDone <- "no INVITE again after the 422"
				return
			}
			if r.Method == gosip.INVITE && r.CSeq().SeqNo != inv.CSeq().SeqNo {
				inv2 = r
			}
		}
		moved := strings.Replace(string(ans), "1718291842", "1718291843", 1)
		rawRespond(t, sbc, upd, ufrom, 200, "", []byte(moved))
		send(rawResponseWith(sbc, inv2, 180, "T", nil))
		sbcDone <- ""
		// Ringing: whatever comes now (a CANCEL) is for the test to see.
		for {
			r, src := rawReadTimeout(sbc, 10*time.Second, gosip.INVITE)
			if r == nil {
				return
			}
			if r.Method == gosip.CANCEL {
				// The caller's, once the retry rang.
				rawRespond(t, sbc, r, src, 200, "", nil)
				send(rawResponseWith(sbc, inv2, 487, "T", nil))
				return
			}
		}
	}()
	var ures *gosip.Response
	var took time.Duration
	seen, rang := false, false
	pracked := map[string]bool{}
	res := oc.answer(ctx, func(r *gosip.Response) {
		if r.GetHeader("RSeq") == nil || pracked[r.GetHeader("RSeq").Value()] {
			return
		}
		// Each reliable provisional PRACKed (the retry's 180 too).
		pracked[r.GetHeader("RSeq").Value()] = true
		if pres := doIn(ctx, t, oc, prackFor(oc, r)); pres.StatusCode != 200 {
			t.Errorf("PRACK got %d", pres.StatusCode)
		}
		if r.StatusCode == 180 && !rang {
			// The retry rings: the call is alive; the caller gives up.
			rang = true
			cancelAs(ctx, oc)
		}
		if seen || r.StatusCode != 183 {
			return
		}
		seen = true
		start := time.Now()
		ures = earlyUpdate(ctx, t, oc, r, clientSDP(t, 1, "sendonly"))
		took = time.Since(start)
		t.Logf("client's early UPDATE got %d %s after %v", ures.StatusCode, ures.Reason, took.Round(100*time.Millisecond))
	})
	if msg := <-sbcDone; msg != "" {
		t.Fatal(msg)
	}
	t.Logf("call got %d", res.StatusCode)
	if took > 3*time.Second {
		t.Errorf("the client's early UPDATE, whose relayed copy the SBC answered just after its 422, was answered only after %v (%d): the offer was stuck until 64*T1", took.Round(100*time.Millisecond), ures.StatusCode)
	}
	if res.StatusCode != 487 {
		t.Errorf("the ringing call, which the caller CANCELled, ended with %d, want 487: an early UPDATE the SBC answered after its 422 ended it", res.StatusCode)
	}
}

// TestCancelledReinviteAnsweredAfterGivenUp: as
// TestCancelledReinviteNeverAnswered, the SBC answering our CANCEL but not
// the re-INVITE, which is taken as cancelled at 64*T1; its 200 (the hold
// its offerer cancelled) comes after that: it is ACKed and the SBC
// offered its earlier session again (sendrecv), as when its 200 crossed
// our CANCEL. It was ACKed only, the SBC left on hold (r27-review3 F2).
func TestCancelledReinviteAnsweredAfterGivenUp(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := midRaw(t, 22)
	logs := new(syncBuffer)
	cfg := labConfig(sbc.addr(), "udp")
	cfg.SIP.T1 = 100 * time.Millisecond
	cfg.Edge.Listen, cfg.GatewayListen = "127.0.63.1:0", "127.0.63.1:0"
	srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
	caller := midPeer(t, "caller", 23)
	h := startPendingHold(ctx, t, srv, sbc, caller)
	answer, reinv, rinv, rfrom := h.answer, h.reinv, h.rinv, h.rfrom
	rawRespond(t, sbc, rinv, rfrom, 100, "", nil)
	if res, err := caller.stack.Client("udp").Do(ctx, cancelOfReinvite(reinv)); err != nil || res.StatusCode != 200 {
		t.Fatalf("CANCEL of the re-INVITE: %v %v", res, err)
	}
	c, cfrom := sbc.read(gosip.INVITE)
	if c.Method != gosip.CANCEL {
		t.Fatalf("SBC got %s, want our CANCEL", c.Method)
	}
	rawRespond(t, sbc, c, cfrom, 200, "", nil) // and the re-INVITE not yet answered
	if !waitLogged(ctx, t, logs, "cancelled re-offer got no final response from the far side: taken as cancelled") {
		t.Fatal("the cancelled re-offer was never taken as cancelled")
	}
	held := strings.Replace(strings.Replace(string(answer), "1718291842", "1718291843", 1), "a=sendrecv", "a=recvonly", 1)
	rawRespond(t, sbc, rinv, rfrom, 200, "", []byte(held))
	var acked bool
	for {
		r, src := rawReadTimeout(sbc, 5*time.Second, gosip.CANCEL)
		switch {
		case r == nil:
			t.Fatalf("the SBC, on the hold its offerer cancelled, was not offered its earlier session again (ACKed: %v)", acked)
		case r.Method == gosip.ACK && r.CSeq().SeqNo == rinv.CSeq().SeqNo:
			acked = true
			continue
		case r.Method == gosip.BYE:
			t.Fatal("the call was ended: the SBC could be offered its earlier session again")
		case r.Method == gosip.INVITE && r.CSeq().SeqNo > rinv.CSeq().SeqNo:
			rawRespond(t, sbc, r, src, 200, "", answer)
			if m := media(t, "our offer after the cancelled hold", r.Body()); m.Direction != "sendrecv" && m.Direction != "" {
				t.Errorf("the SBC was offered %q, want its earlier session (sendrecv)", m.Direction)
			}
			if !acked {
				t.Error("the SBC's late 200 was not ACKed before our offer")
			}
			if n := len(srv.Calls()); n != 1 {
				t.Errorf("%d calls in progress, want the call going on", n)
			}
			return
		}
	}
}
