package mediation_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	psdp "github.com/pion/sdp/v3"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestRefusedReofferChangesNothing: a hold re-INVITE the far side refuses
// is answered with its code and leaves the call as it was: not on hold, so
// the media timeout of a silent anchored call still runs (it used to be
// suspended by the hold that never happened).
func TestRefusedReofferChangesNothing(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				sbc.reply(req, tx, 488, nil)
			})
			records := t.TempDir() + "/calls.jsonl"
			srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) {
				c.Media.Timeout = 1500 * time.Millisecond
				c.Records.Path = records
			})
			caller := startPeer(t, "caller")
			// No bypass ID: anchored, and nobody sends media.
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
			if res := oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("got %d", res.StatusCode)
			}
			_ = oc.d.Ack(ctx)
			hold := gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address)
			hold.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			hold.SetBody(fixtureBody(t, "hold-offer.sdp"))
			if res := doIn(ctx, t, oc, hold); res.StatusCode != 488 {
				t.Fatalf("refused hold got %d, want the far side's 488", res.StatusCode)
			}
			// Not on hold: the silent call is ended by the media timeout.
			caller.wait(ctx, gosip.BYE, 1)
			sbc.wait(ctx, gosip.BYE, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
			if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "media timeout" {
				t.Fatalf("records %+v, want one ended by the media timeout", recs)
			}
		})
	}
}

// TestReinvite2xxRetransmitted: our 200 to a re-INVITE is retransmitted
// until the ACK comes (RFC 3261 §13.3.1.4), then no more; over TCP too
// ("independent of whatever transport protocols are used": a hop past the
// SBC may be UDP).
func TestReinvite2xxRetransmitted(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { testReinvite2xxRetransmitted(t, tr) })
	}
}

func testReinvite2xxRetransmitted(t *testing.T, tr string) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	var call *peerInvite
	sbc.invites(func(pi *peerInvite) {
		call = pi
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		pi.waitAck(ctx)
	})
	srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) { c.SIP.T2 = 80 * time.Millisecond })
	caller := startPeer(t, "caller")
	caller.answerSDP(t, gosip.INVITE)
	oc := upCall(ctx, t, caller, srv, tr)
	sbc.wait(ctx, gosip.ACK, 1)
	ackTaken(ctx, t, oc)
	const seq = 2
	reinv := call.inDialog(gosip.INVITE, seq, fixtureBody(t, "hold-offer.sdp"))
	tx, err := sbc.stack.Client(tr).TransactionRequest(ctx, reinv)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	callID := string(*reinv.CallID())
	okCount := func() int {
		n := 0
		sbc.mu.Lock()
		defer sbc.mu.Unlock()
		for _, m := range sbc.wire {
			if r, ok := m.(*gosip.Response); ok && r.StatusCode == 200 && string(*r.CallID()) == callID && r.CSeq().SeqNo == seq {
				n++
			}
		}
		return n
	}
	for okCount() < 3 {
		select {
		case <-ctx.Done():
			t.Fatalf("our 200 to the re-INVITE came %d times without an ACK, want retransmissions", okCount())
		case <-time.After(10 * time.Millisecond):
		}
	}
	var ok *gosip.Response
	sbc.mu.Lock()
	for _, m := range sbc.wire {
		if r, isRes := m.(*gosip.Response); isRes && r.StatusCode == 200 && r.CSeq().SeqNo == seq && string(*r.CallID()) == callID {
			ok = r
		}
	}
	sbc.mu.Unlock()
	ack := call.inDialog(gosip.ACK, seq, nil)
	ack.Recipient = ok.Contact().Address
	if err := sbc.stack.Client(tr).WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	// After the ACK: no more than what was in flight, for ten T2.
	after := okCount()
	deadline := time.After(10 * 80 * time.Millisecond)
	for done := false; !done; {
		select {
		case <-deadline:
			done = true
		case <-time.After(20 * time.Millisecond):
			if okCount() > after+1 {
				t.Fatalf("200 still retransmitted after the ACK (%d -> %d)", after, okCount())
			}
		}
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// TestAnswerKeepsOfferMLines: an offer with audio and video is answered
// with the video m-line rejected (port 0), not dropped (RFC 3264 §6); the
// SBC is offered audio only.
func TestAnswerKeepsOfferMLines(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-savp-audio-video-offer.sdp"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("got %d %s", res.StatusCode, res.Reason)
	}
	var ans psdp.SessionDescription
	if err := ans.UnmarshalString(string(res.Body())); err != nil {
		t.Fatal(err)
	}
	if len(ans.MediaDescriptions) != 2 || ans.MediaDescriptions[0].MediaName.Media != "audio" ||
		ans.MediaDescriptions[1].MediaName.Media != "video" || ans.MediaDescriptions[1].MediaName.Port.Value != 0 {
		t.Fatalf("answer m-lines are not audio + rejected video:\n%s", res.Body())
	}
	if inv := sbc.wait(ctx, gosip.INVITE, 1); strings.Contains(string(inv.Body()), "m=video") {
		t.Errorf("the SBC was offered video:\n%s", inv.Body())
	}
	_ = oc.d.Ack(ctx)
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// TestUnchangedOfferAnsweredLocally: an SBC re-INVITE or UPDATE repeating
// its SDP, o= version and all (a session refresh), is answered by the
// server with the SDP the SBC has from it, and the client is not
// re-INVITEd; a new version of the same SDP is still relayed.
func TestUnchangedOfferAnsweredLocally(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	var call *peerInvite
	answer := fixtureBody(t, "sbc-answer-pcma.sdp")
	sbc.invites(func(pi *peerInvite) {
		call = pi
		pi.respond(200, answer)
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	caller.answerSDP(t, gosip.INVITE)
	oc := upCall(ctx, t, caller, srv, "udp")
	sbc.wait(ctx, gosip.ACK, 1)
	ackTaken(ctx, t, oc)
	seq := uint32(1)
	offer := func(method gosip.RequestMethod, body []byte) *gosip.Response {
		t.Helper()
		seq++
		res := call.do(ctx, call.inDialog(method, seq, body))
		if res.StatusCode == 200 && method == gosip.INVITE {
			ack := call.inDialog(gosip.ACK, seq, nil)
			ack.Recipient = res.Contact().Address
			if err := sbc.stack.Client("udp").WriteRequest(ack); err != nil {
				t.Fatal(err)
			}
		}
		return res
	}
	ours := string(sbc.wait(ctx, gosip.INVITE, 1).Body())
	for _, method := range []gosip.RequestMethod{gosip.INVITE, gosip.UPDATE} {
		res := offer(method, answer)
		if res.StatusCode != 200 || string(res.Body()) != ours {
			t.Fatalf("%s repeating the SBC's SDP got %d with\n%s\nwant 200 with our SDP as it was:\n%s", method, res.StatusCode, res.Body(), ours)
		}
	}
	if n := caller.count(gosip.INVITE) + caller.count(gosip.UPDATE); n != 0 {
		t.Fatalf("the client got %d re-offers for an unchanged SDP (%s)", n, caller.methods())
	}
	newer := bumpVersion(t, string(answer))
	if res := offer(gosip.INVITE, []byte(newer)); res.StatusCode != 200 {
		t.Fatalf("re-INVITE with a new version got %d", res.StatusCode)
	}
	if n := caller.count(gosip.INVITE); n != 1 {
		t.Fatalf("the client got %d re-INVITEs for a new SDP version, want 1", n)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// bumpVersion increments the o= line's session version of an SDP.
func bumpVersion(t *testing.T, s string) string {
	t.Helper()
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "o=") {
			continue
		}
		f := strings.Fields(strings.TrimRight(l, "\r"))
		v, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		f[2] = strconv.FormatUint(v+1, 10)
		lines[i] = strings.Join(f, " ") + "\r"
		return strings.Join(lines, "\n")
	}
	t.Fatal("no o= line")
	return ""
}

// TestPeerMovesMedia: in an anchored call, an SBC's re-INVITE that changes
// nothing but its media address is answered by the server with the SDP the
// SBC already has, the client is not re-INVITEd, and the relay sends the
// client's media to the new address.
func TestPeerMovesMedia(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	clientRTP, before, after := rtpSock(t), rtpSock(t), rtpSock(t)
	edge.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(sockPort(clientRTP), "sendrecv", false, "PCMU")) })
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(before), "sendrecv", false, "PCMU"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	ours := string(oc.final.Body())
	// The same SDP at another port, as a new version (the o= session id of
	// loopSDP is the port: keep the first's).
	moved := strings.Replace(string(loopSDP(sockPort(after), "sendrecv", false, "PCMU")),
		fmt.Sprintf("o=peer %d 1 ", sockPort(after)), fmt.Sprintf("o=peer %d 2 ", sockPort(before)), 1)
	reinv := gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address)
	reinv.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	reinv.SetBody([]byte(moved))
	// The SBC's ACK went before on the same socket: no glare with it.
	res := doIn(ctx, t, oc, reinv)
	if res.StatusCode != 200 || string(res.Body()) != ours {
		t.Fatalf("re-INVITE moving the SBC's media got %d with\n%s\nwant 200 with our SDP as it was:\n%s", res.StatusCode, res.Body(), ours)
	}
	ack := gosip.NewRequest(gosip.ACK, reinv.Recipient)
	ack.AppendHeader(gosip.HeaderClone(reinv.From()))
	ack.AppendHeader(gosip.HeaderClone(reinv.To()))
	ack.AppendHeader(gosip.HeaderClone(reinv.CallID()))
	ack.AppendHeader(&gosip.CSeqHeader{SeqNo: reinv.CSeq().SeqNo, MethodName: gosip.ACK})
	ack.SetTransport("UDP")
	if err := sbc.stack.Client("udp").WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	if n := edge.count(gosip.INVITE); n != 1 {
		t.Fatalf("the client got %d INVITEs, want only the call's: its session did not change", n)
	}
	relayEdge := media(t, "our offer to the client", edge.wait(ctx, gosip.INVITE, 1).Body()).RTP()
	for seq := uint16(1); ; seq++ {
		sendRTPFrom(t, clientRTP, relayEdge, 0, seq, make([]byte, 160))
		if receivedPT(after, 0, 100*time.Millisecond) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the client's media never reached the SBC's new address")
		}
	}
	if receivedPT(before, 0, 50*time.Millisecond) {
		t.Error("the SBC's old address still gets media")
	}
	_ = oc.d.Bye(ctx)
	edge.wait(ctx, gosip.BYE, 1)
}

// TestMovedMediaWithNewStream: an SBC's re-offer that moves its media and
// adds a video m-line is a change of the session, not a move alone: the
// answer has as many m-lines as the offer (RFC 3264 §6), the video one
// rejected with port 0. Answered locally with the old one-line SDP, it
// broke that rule.
func TestMovedMediaWithNewStream(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	clientRTP, before, after := rtpSock(t), rtpSock(t), rtpSock(t)
	edge.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(sockPort(clientRTP), "sendrecv", false, "PCMU")) })
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(before), "sendrecv", false, "PCMU"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	moved := strings.Replace(string(loopSDP(sockPort(after), "sendrecv", false, "PCMU")),
		fmt.Sprintf("o=peer %d 1 ", sockPort(after)), fmt.Sprintf("o=peer %d 2 ", sockPort(before)), 1) +
		fmt.Sprintf("m=video %d RTP/AVP 34\r\na=rtpmap:34 H263/90000\r\n", sockPort(after)+2)
	res := callerReinvites(t, oc)(ctx, []byte(moved))
	if res.StatusCode != 200 {
		t.Fatalf("re-INVITE moving the media and adding video got %d", res.StatusCode)
	}
	var lines []string
	for _, l := range strings.Split(string(res.Body()), "\r\n") {
		if strings.HasPrefix(l, "m=") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "m=audio ") || !strings.HasPrefix(lines[1], "m=video 0 ") {
		t.Errorf("answer's m-lines %q, want audio then video rejected (port 0):\n%s", lines, res.Body())
	}
	_ = oc.d.Bye(ctx)
	edge.wait(ctx, gosip.BYE, 1)
}

// TestAnchoredReofferWithoutUsableCodec: an anchored client's re-offer
// with none of the codecs the relay can take (SILK alone, with a hold) gets
// 488 before the SBC is asked. Relayed first, the SBC took the hold and
// the client then got 488: the two peers disagreed about the session.
func TestAnchoredReofferWithoutUsableCodec(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.answerSDP(t, gosip.INVITE)
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	// No bypass ID: anchored.
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	silk := "v=0\r\no=client 7 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 26000 RTP/AVP 104 13 101\r\na=rtpmap:104 SILK/16000\r\na=rtpmap:13 CN/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
	res := callerReinvites(t, oc)(ctx, []byte(silk))
	if res.StatusCode != 488 || !strings.Contains(valueOf(res.GetHeader("Warning")), "SILK") {
		t.Errorf("SILK-only re-offer got %d (Warning %v), want 488 naming what was offered", res.StatusCode, res.GetHeader("Warning"))
	}
	if n := sbc.count(gosip.INVITE); n != 1 {
		t.Errorf("the SBC got %d INVITEs, want only the call's: the re-offer must not reach it", n)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// TestFaxReofferRefusedWithReason: an SBC's switch to T.38 (audio and
// video at port 0, m=image) is refused 488 with a Warning that says why
// (no audio stream), not that the SDP could not be parsed; the call stays.
func TestFaxReofferRefusedWithReason(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	edge.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(40000, "sendrecv", false, "PCMU")) })
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(40002, "sendrecv", false, "PCMU"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	fax := "v=0\r\no=peer 40002 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 0 RTP/AVP 0\r\nm=image 40010 udptl t38\r\na=T38FaxVersion:0\r\n"
	res := callerReinvites(t, oc)(ctx, []byte(fax))
	if w := valueOf(res.GetHeader("Warning")); res.StatusCode != 488 || !strings.Contains(w, "no audio stream") || strings.Contains(w, "unparseable") {
		t.Errorf("T.38 re-offer got %d (Warning %q), want 488 saying there is no audio stream", res.StatusCode, w)
	}
	_ = oc.d.Bye(ctx)
	edge.wait(ctx, gosip.BYE, 1)
}

// TestUnansweredReofferEndsCall: a re-offer relayed to the SBC that gets no
// response at all within 64*T1 ends the call, as a 408 from the SBC does
// (RFC 3261 §12.2.1.2): its offerer gets 408, both legs BYE. It used to
// leave the call up with the peers disagreeing about the session.
func TestUnansweredReofferEndsCall(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.on(gosip.INVITE, func(*gosip.Request, gosip.ServerTransaction) {}) // re-INVITEs get nothing
	records := t.TempDir() + "/calls.jsonl"
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.SIP.T1, c.SIP.T2 = 20*time.Millisecond, 80*time.Millisecond
		c.Records.Path = records
	})
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	if res := callerReinvites(t, oc)(ctx, fixtureBody(t, "hold-offer.sdp")); res.StatusCode != 408 {
		t.Fatalf("unanswered re-offer got %d, want 408", res.StatusCode)
	}
	caller.wait(ctx, gosip.BYE, 1)
	sbc.wait(ctx, gosip.BYE, 1)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "re-offer: no answer" {
		t.Fatalf("records %+v, want one ended by the unanswered re-offer", recs)
	}
}

// TestReinviteWhileEnding: a re-INVITE or UPDATE that reaches us after our
// BYE went out (the other peer hung up) gets 481, not 491, which would
// have the SBC try again.
func TestReinviteWhileEnding(t *testing.T) {
	for _, method := range []gosip.RequestMethod{gosip.INVITE, gosip.UPDATE} {
		t.Run(string(method), func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			calls := make(chan *peerInvite, 1)
			sbc.invites(func(pi *peerInvite) {
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				calls <- pi
			})
			byes := make(chan gosip.ServerTransaction, 1)
			sbc.on(gosip.BYE, func(req *gosip.Request, tx gosip.ServerTransaction) { byes <- tx }) // answered later
			srv := serveTo(t, sbc.addr(), "udp", nil)
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, "udp")
			pi := <-calls
			sbc.wait(ctx, gosip.ACK, 1)
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			var byeTx gosip.ServerTransaction
			select {
			case byeTx = <-byes:
			case <-ctx.Done():
				t.Fatal("no BYE at the SBC")
			}
			res := pi.do(ctx, pi.inDialog(method, pi.req.CSeq().SeqNo+1, fixtureBody(t, "hold-offer.sdp")))
			if res.StatusCode != 481 {
				t.Errorf("%s after our BYE got %d, want 481", method, res.StatusCode)
			}
			_ = byeTx.Respond(gosip.NewResponseFromRequest(sbc.wait(ctx, gosip.BYE, 1), 200, "OK", nil))
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
		})
	}
}
