package mediation_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	psdp "github.com/pion/sdp/v3"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// Answers to a hold re-offer that an anchored call cannot use: no G.711
// (the relay has nothing to relay), and an address of the other family
// than media.ip (127.0.0.1 in these tests).
var (
	answerNoG711 = "v=0\r\no=peer 9 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 20004 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\na=recvonly\r\n"
	answerIPv6 = "v=0\r\no=peer 9 9 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n" +
		"m=audio 20004 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n"
)

// sdpVersion is the o= version of an SDP body.
func sdpVersion(t *testing.T, body []byte) uint64 {
	t.Helper()
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatalf("SDP %q: %v", body, err)
	}
	return sd.Origin.SessionVersion
}

// withoutOrigin is an SDP body without its o= line.
func withoutOrigin(body []byte) string {
	var keep []string
	for _, l := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(l, "o=") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// sameSessionNewer checks that restored, an SDP we sent a peer to restore
// its session, is before (the SDP the peer had) with a version above
// offered's (the re-offer it took): RFC 3264 §8.
func sameSessionNewer(t *testing.T, before, offered, restored []byte) {
	t.Helper()
	if withoutOrigin(restored) != withoutOrigin(before) {
		t.Errorf("restoring offer\n%s\nis not the earlier session\n%s", restored, before)
	}
	if v, o := sdpVersion(t, restored), sdpVersion(t, offered); v <= o {
		t.Errorf("restoring offer's o= version %d is not above the re-offer's %d", v, o)
	}
}

// TestUnusableReofferAnswerRolledBack: the SBC takes the client's hold
// re-offer (200, ACKed) with an answer an anchored call cannot use. The
// client gets 488 and keeps its session; the SBC, on hold already, is
// re-INVITEd with the SDP it had before (a newer o= version), and the call
// goes on. Without the rollback the SBC stayed on hold while the client
// was told nothing changed.
func TestUnusableReofferAnswerRolledBack(t *testing.T) {
	for _, tt := range []struct{ name, answer, warning string }{
		{"no G.711", answerNoG711, ""},
		{"other address family", answerIPv6, "address family"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			_, sbc, srv, oc, records := anchoredCall(ctx, t, func(n int, _ *gosip.Request) (int, []byte) {
				if n == 1 {
					return 200, []byte(tt.answer)
				}
				return 200, fixtureBody(t, "sbc-answer-pcma.sdp") // what it answered at first
			})
			res := callerReinvites(t, oc)(ctx, fixtureBody(t, "hold-offer.sdp"))
			if res.StatusCode != 488 || !strings.Contains(valueOf(res.GetHeader("Warning")), tt.warning) {
				t.Fatalf("re-offer got %d (Warning %q), want 488 mentioning %q", res.StatusCode, valueOf(res.GetHeader("Warning")), tt.warning)
			}
			restore := sbc.wait(ctx, gosip.INVITE, 3)
			sameSessionNewer(t, sbc.wait(ctx, gosip.INVITE, 1).Body(), sbc.wait(ctx, gosip.INVITE, 2).Body(), restore.Body())
			sbc.waitSeq(ctx, gosip.ACK, restore.CSeq().SeqNo)
			hangUpAndCheck(ctx, t, sbc, srv, oc, records)
		})
	}
}

// TestUnusableClientAnswerRolledBack: the same from the SBC's side: the
// client takes the SBC's hold re-offer with an answer at an IPv6 address
// (media.ip is IPv4); the SBC gets 488 and the client its earlier session
// again.
func TestUnusableClientAnswerRolledBack(t *testing.T) {
	// A G.722 client (media.edge_codecs) answers its restored session in
	// G.722: usable on the client's leg, as its first exchange was.
	// Its offer lists G.711 too (CCE's clients' do); our answer, and so
	// the restoring offer, is G.722 alone.
	g722 := func(pts string) []byte {
		return []byte("v=0\r\no=peer 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
			"m=audio 20006 RTP/AVP " + pts + " 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
			"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
	}
	for _, tt := range []struct {
		name            string
		codecs          []string
		offer, restored func(t *testing.T) []byte
	}{
		{"G.711 client", nil,
			func(t *testing.T) []byte { return fixtureBody(t, "sbc-offer-pcma-pcmu.sdp") },
			func(t *testing.T) []byte { return fixtureBody(t, "sbc-offer-pcma-pcmu.sdp") }},
		{"G.722 client", []string{"G722", "PCMU", "PCMA"},
			func(*testing.T) []byte { return g722("9 0 8") },
			func(*testing.T) []byte { return g722("9") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			calls := make(chan *peerInvite, 1)
			sbc.invites(func(pi *peerInvite) {
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				calls <- pi
			})
			records := t.TempDir() + "/calls.jsonl"
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				c.Records.Path = records
				c.Media.IP = "127.0.0.1"
				if tt.codecs != nil {
					c.Media.EdgeCodecs = tt.codecs
				}
			})
			caller := startPeer(t, "caller")
			var n atomic.Int32
			caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				if n.Add(1) == 1 {
					caller.reply(req, tx, 200, []byte(answerIPv6))
					return
				}
				caller.reply(req, tx, 200, tt.restored(t))
			})
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", tt.offer(t))
			if res := oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("call got %d (Warning %q)", res.StatusCode, valueOf(res.GetHeader("Warning")))
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			ackTaken(ctx, t, oc)
			pi := <-calls
			sbc.wait(ctx, gosip.ACK, 1)
			hold := bumpVersion(t, string(fixtureBody(t, "sbc-answer-pcma.sdp")))
			hold = strings.Replace(hold, "a=sendrecv", "a=sendonly", 1)
			res := calleeReinvites(t, sbc, pi)(ctx, []byte(hold))
			if res.StatusCode != 488 || !strings.Contains(valueOf(res.GetHeader("Warning")), "address family") {
				t.Fatalf("SBC's re-offer got %d (Warning %q), want 488 about the address family", res.StatusCode, valueOf(res.GetHeader("Warning")))
			}
			restore := caller.wait(ctx, gosip.INVITE, 2)
			sameSessionNewer(t, oc.final.Body(), caller.wait(ctx, gosip.INVITE, 1).Body(), restore.Body())
			caller.waitSeq(ctx, gosip.ACK, restore.CSeq().SeqNo)
			ackTaken(ctx, t, oc)
			hangUpAndCheck(ctx, t, sbc, srv, oc, records)
		})
	}
}

// TestRollbackRefusedEndsCall: an SBC that refuses the SDP it had before,
// answers it with one we cannot use either, or does not answer at all
// (64*T1), leaves the peers with no session both agree on: the call ends,
// BYE on both legs.
func TestRollbackRefusedEndsCall(t *testing.T) {
	for _, tt := range []struct {
		name string
		code int
		body string
	}{{"refused", 488, ""}, {"unusable answer", 200, answerNoG711}, {"no response", 0, ""}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			caller, sbc, srv, oc, records := anchoredCall(ctx, t, func(n int, _ *gosip.Request) (int, []byte) {
				if n == 1 {
					return 200, []byte(answerNoG711)
				}
				if tt.body == "" {
					return tt.code, nil
				}
				return tt.code, []byte(tt.body)
			}, func(c *mediation.Config) { c.SIP.T1, c.SIP.T2 = 20*time.Millisecond, 80*time.Millisecond })
			if res := callerReinvites(t, oc)(ctx, fixtureBody(t, "hold-offer.sdp")); res.StatusCode != 488 {
				t.Fatalf("re-offer got %d, want 488", res.StatusCode)
			}
			sbc.wait(ctx, gosip.INVITE, 3)
			caller.wait(ctx, gosip.BYE, 1)
			sbc.wait(ctx, gosip.BYE, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
			if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "re-offer: far side's session not restored" {
				t.Fatalf("records %+v, want one ended by the failed rollback", recs)
			}
		})
	}
}

// TestRollbackGlareRetried: a 491 to the restoring re-INVITE is glare
// (RFC 3261 §14.1): it is sent again after the random wait, the same SDP.
func TestRollbackGlareRetried(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	_, sbc, srv, oc, records := anchoredCall(ctx, t, func(n int, _ *gosip.Request) (int, []byte) {
		switch n {
		case 1:
			return 200, []byte(answerNoG711)
		case 2:
			return 491, nil
		}
		return 200, fixtureBody(t, "sbc-answer-pcma.sdp")
	})
	if res := callerReinvites(t, oc)(ctx, fixtureBody(t, "hold-offer.sdp")); res.StatusCode != 488 {
		t.Fatalf("re-offer got %d, want 488", res.StatusCode)
	}
	first, again := sbc.wait(ctx, gosip.INVITE, 3), sbc.wait(ctx, gosip.INVITE, 4)
	if string(again.Body()) != string(first.Body()) {
		t.Errorf("restoring offer sent again after 491 as\n%s\nwas\n%s", again.Body(), first.Body())
	}
	sbc.waitSeq(ctx, gosip.ACK, again.CSeq().SeqNo) // the retry's
	hangUpAndCheck(ctx, t, sbc, srv, oc, records)
}

// TestEarlyRollbackFailureAnswersCaller: a rollback that fails in an early
// dialog (the caller's early UPDATE, a hold, relayed to the SBC and taken
// with an answer an anchored call cannot use; the restoring UPDATE
// refused) ends a call nobody answered yet: the caller's INVITE gets a
// final response and the SBC's is CANCELled, counted as a failed call for
// a documented reason. It used to be "hung up" as an answered call: no
// final response to the caller at all.
func TestEarlyRollbackFailureAnswersCaller(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.reliable(183, 1, fixtureBody(t, "sbc-answer-pcma.sdp"))
		// Then nothing: the call ends with our CANCEL.
	})
	var updates atomic.Int32
	sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		if updates.Add(1) == 1 {
			sbc.reply(req, tx, 200, []byte(answerNoG711))
			return
		}
		sbc.reply(req, tx, 488, nil)
	})
	records := t.TempDir() + "/calls.jsonl"
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Records.Path = records
		c.Media.IP = "127.0.0.1"
	})
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), gosip.NewHeader("Supported", "100rel"))
	code := 0
	res := oc.answer(ctx, func(r *gosip.Response) {
		if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || code != 0 {
			return
		}
		if pres := doIn(ctx, t, oc, prackFor(oc, r)); pres.StatusCode != 200 {
			t.Errorf("PRACK got %d", pres.StatusCode)
		}
		code = earlyUpdate(ctx, t, oc, r, fixtureBody(t, "hold-offer.sdp")).StatusCode
	})
	if code != 488 {
		t.Errorf("early UPDATE got %d, want 488", code)
	}
	if res.StatusCode != 500 || !strings.Contains(valueOf(res.GetHeader("Warning")), "not restored") {
		t.Fatalf("INVITE got %d (Warning %q), want 500 saying the session was not restored", res.StatusCode, valueOf(res.GetHeader("Warning")))
	}
	sbc.wait(ctx, gosip.CANCEL, 1)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "reoffer_not_restored")
	if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "reoffer_not_restored" {
		t.Fatalf("records %+v, want one ended by the failed rollback", recs)
	}
}

// TestUnusableAnswerToAckOfferEndsCall: the caller's answer in the ACK of
// our 200 to its SDP-less re-INVITE puts it on hold, which goes to the SBC
// as our re-INVITE; the SBC takes it with an answer an anchored call
// cannot use. The caller is bound to its answer (nothing refuses an ACK),
// so restoring the SBC's earlier session would leave them disagreeing:
// the call ends, BYE on both legs. It used to be rolled back.
func TestUnusableAnswerToAckOfferEndsCall(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	caller, sbc, srv, oc, records := anchoredCall(ctx, t, func(n int, _ *gosip.Request) (int, []byte) {
		if n == 1 {
			return 200, []byte(answerNoG711)
		}
		return 200, fixtureBody(t, "sbc-answer-pcma.sdp")
	})
	ourTag, _ := oc.inv.From().Params.Get("tag")
	tx, err := caller.stack.Client("udp").TransactionRequest(ctx, inCallerDialog(oc, gosip.INVITE, 10, ourTag))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	var ok *gosip.Response
	for ok == nil {
		select {
		case r := <-tx.Responses():
			if r.StatusCode >= 200 {
				ok = r
			}
		case <-ctx.Done():
			t.Fatal("no answer to the re-INVITE")
		}
	}
	if ok.StatusCode != 200 || len(ok.Body()) == 0 {
		t.Fatalf("re-INVITE without SDP got %d with %d bytes of SDP, want 200 with an offer", ok.StatusCode, len(ok.Body()))
	}
	ack := inCallerDialog(oc, gosip.ACK, 10, ourTag)
	ack.Recipient = ok.Contact().Address
	ack.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody(fixtureBody(t, "hold-offer.sdp"))
	if err := caller.stack.Client("udp").WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	sbc.wait(ctx, gosip.INVITE, 2) // the hold, relayed
	caller.wait(ctx, gosip.BYE, 1)
	sbc.wait(ctx, gosip.BYE, 1)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	if n := sbc.count(gosip.INVITE); n != 2 {
		t.Errorf("SBC got %d INVITEs, want the call's and the relayed hold (no restoring one)", n)
	}
	if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "re-offer from an answer: far side's answer not usable" {
		t.Fatalf("records %+v, want one ended for the unusable answer", recs)
	}
}

// TestReofferDuringRollbackIsGlare: while the restoring offer to the SBC
// is unanswered, a new re-offer of the client (whose own offer was
// answered 488 already) crosses our offer to the SBC: 491 (RFC 3261
// §14.1), as for any offer of ours in progress. It got 500 with
// Retry-After, the answer to a peer's own pending offer (§14.2).
func TestReofferDuringRollbackIsGlare(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	release := make(chan struct{})
	_, sbc, srv, oc, records := anchoredCall(ctx, t, func(n int, _ *gosip.Request) (int, []byte) {
		switch n {
		case 1:
			return 200, []byte(answerNoG711)
		case 2:
			select { // the restoring offer waits for the client's crossing one
			case <-release:
			case <-ctx.Done():
			}
		}
		return 200, fixtureBody(t, "sbc-answer-pcma.sdp")
	})
	reinvite := callerReinvites(t, oc)
	if res := reinvite(ctx, fixtureBody(t, "hold-offer.sdp")); res.StatusCode != 488 {
		t.Fatalf("re-offer got %d, want 488", res.StatusCode)
	}
	restore := sbc.wait(ctx, gosip.INVITE, 3) // the restoring offer, unanswered
	if res := reinvite(ctx, fixtureBody(t, "hold-offer.sdp")); res.StatusCode != 491 {
		t.Fatalf("re-offer during the rollback got %d %s, want 491", res.StatusCode, res.Reason)
	}
	close(release)
	sbc.waitSeq(ctx, gosip.ACK, restore.CSeq().SeqNo) // the rollback's
	hangUpAndCheck(ctx, t, sbc, srv, oc, records)
}
