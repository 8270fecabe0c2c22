package mediation_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestRefreshAnswerCrossingOtherRefresh: we refresh both legs at once;
// the SBC answers its refresh with its media at a new port (the answer
// binds, RFC 3264 §8) while our refresh of the client is still
// unanswered. The change waits for that refresh to end, then the relay
// follows the SBC: the client's media reaches the new port. It used to
// be dropped ("not relayed"): the client's media went on to the old port
// until the SBC's next refresh answer, and a new SRTP key in such an
// answer failed every packet to decrypt as long (r26-soak #1).
func TestRefreshAnswerCrossingOtherRefresh(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	clientRTP, before, after := rtpSock(t), rtpSock(t), rtpSock(t)
	moved := strings.Replace(string(loopSDP(sockPort(after), "sendrecv", false, "PCMU")),
		fmt.Sprintf("o=peer %d 1 ", sockPort(after)), fmt.Sprintf("o=peer %d 2 ", sockPort(before)), 1)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(sockPort(before), "sendrecv", false, "PCMU"),
			gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer"))
	})
	// Our refresh of the SBC: answered, moved, once our refresh of the
	// client is in progress; the next refresh a minute away, after the
	// test.
	clientRefreshed := make(chan struct{})
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		select {
		case <-clientRefreshed:
		case <-ctx.Done():
			return
		}
		sbc.reply(req, tx, 200, []byte(moved), gosip.NewHeader("Session-Expires", "60;refresher=uac"))
	})
	logs := new(syncBuffer)
	cfg := labConfig(sbc.addr(), "udp")
	cfg.Gateways[0].SessionTimer.MinSE = time.Second
	cfg.Edge.SessionTimer.MinSE = time.Second
	srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
	caller := startPeer(t, "caller")
	// Our refresh of the client: answered once the SBC's moved answer
	// has found it in progress.
	var once sync.Once
	caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		once.Do(func() { close(clientRefreshed) })
		waitLogged(ctx, t, logs, "peer's answer (in an ACK or a refresh's 2xx) changes the media while another offer is in progress")
		caller.reply(req, tx, 200, loopSDP(sockPort(clientRTP), "sendrecv", false, "PCMU"), gosip.NewHeader("Session-Expires", "60;refresher=uas"))
	})
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(clientRTP), "sendrecv", false, "PCMU"),
		gosip.NewHeader("Supported", "timer"), gosip.NewHeader("Session-Expires", "2;refresher=uas"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "2;refresher=uas" {
		t.Fatalf("our 200 has Session-Expires %v, want 2;refresher=uas (we refresh the client)", se)
	}
	_ = oc.d.Ack(ctx)
	relayEdge := media(t, "our answer to the client", res.Body()).RTP()
	for seq := uint16(1); ; seq++ {
		sendRTPFrom(t, clientRTP, relayEdge, 0, seq, make([]byte, 160))
		if receivedPT(after, 0, 100*time.Millisecond) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the client's media never reached the SBC's new port")
		}
	}
	if n := caller.count(gosip.INVITE); n != 1 {
		t.Errorf("the client got %d re-INVITEs, want our one refresh (only the SBC's address moved)", n)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// TestRefreshAnswerWithFewerFormats: the client offered PCMU and PCMA; we
// answered PCMU; it answers our session refresh (our SDP again) with
// PCMU alone, as RFC 3264 §6.1 has an answer list a subset of the offer:
// no change of its media, so nothing goes to the SBC but our refreshes.
// It used to count as a change: a re-INVITE to the SBC that changed
// nothing, or a warning when our refreshes crossed (r26-soak #2).
func TestRefreshAnswerWithFewerFormats(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	clientRTP, sbcRTP := rtpSock(t), rtpSock(t)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(sockPort(sbcRTP), "sendrecv", true, "PCMU"))
	})
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		sbc.reply(req, tx, 200, loopSDP(sockPort(sbcRTP), "sendrecv", true, "PCMU"))
	})
	logs := new(syncBuffer)
	cfg := labConfig(sbc.addr(), "udp")
	cfg.Edge.SessionTimer.MinSE = time.Second
	srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
	caller := startPeer(t, "caller")
	caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		caller.reply(req, tx, 200, loopSDP(sockPort(clientRTP), "sendrecv", true, "PCMU"), gosip.NewHeader("Session-Expires", "2;refresher=uac"))
	})
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(clientRTP), "sendrecv", true, "PCMU", "PCMA"),
		gosip.NewHeader("Supported", "timer"), gosip.NewHeader("Session-Expires", "2;refresher=uas"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	// Two refreshes of the client answered (one a second).
	caller.wait(ctx, gosip.INVITE, 2)
	caller.waitSeq(ctx, gosip.ACK, caller.wait(ctx, gosip.INVITE, 2).CSeq().SeqNo)
	if n := sbc.count(gosip.INVITE); n != 1 {
		t.Errorf("the SBC got %d INVITEs, want the call's only", n)
	}
	if hasMessage(logs, "peer's answer (in an ACK or a refresh's 2xx) changes the media: relayed to the other leg unless only its address moved") {
		t.Error("the client's answer with fewer formats was taken as a change of its media")
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// TestDeferredRefreshAnswerOutdated: as TestRefreshAnswerCrossingOther-
// Refresh, the SBC's answer to our refresh moves it (port "after") while
// our refresh of the client is in progress, and waits; before it goes,
// the SBC moves again by a re-INVITE of its own (port "third"), relayed
// and answered. The waiting answer is then out of date and dropped: the
// client's media goes to "third". It used to go as it was, and the relay
// sent the client's media back to "after", which the SBC had left
// (r26-reviewB B1).
func TestDeferredRefreshAnswerOutdated(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	clientRTP, before, after, third := rtpSock(t), rtpSock(t), rtpSock(t), rtpSock(t)
	sdpAt := func(port, ver int) []byte {
		return []byte(strings.Replace(string(loopSDP(port, "sendrecv", false, "PCMU")),
			fmt.Sprintf("o=peer %d 1 ", port), fmt.Sprintf("o=peer %d %d ", sockPort(before), ver), 1))
	}
	sbc := startPeer(t, "sbc")
	pis := make(chan *peerInvite, 1)
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(sockPort(before), "sendrecv", false, "PCMU"),
			gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer"))
		pis <- pi
	})
	clientRefreshed := make(chan struct{})
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		select {
		case <-clientRefreshed:
		case <-ctx.Done():
			return
		}
		sbc.reply(req, tx, 200, sdpAt(sockPort(after), 2), gosip.NewHeader("Session-Expires", "60;refresher=uac"))
	})
	logs := new(syncBuffer)
	cfg := labConfig(sbc.addr(), "udp")
	cfg.SIP.T1 = 400 * time.Millisecond
	cfg.Gateways[0].SessionTimer.MinSE = time.Second
	cfg.Edge.SessionTimer.MinSE = time.Second
	srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
	caller := startPeer(t, "caller")
	var once sync.Once
	caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		once.Do(func() { close(clientRefreshed) })
		waitLogged(ctx, t, logs, "peer's answer (in an ACK or a refresh's 2xx) changes the media while another offer is in progress")
		caller.reply(req, tx, 200, loopSDP(sockPort(clientRTP), "sendrecv", false, "PCMU"), gosip.NewHeader("Session-Expires", "60;refresher=uas"))
	})
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(clientRTP), "sendrecv", false, "PCMU"),
		gosip.NewHeader("Supported", "timer"), gosip.NewHeader("Session-Expires", "2;refresher=uas"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	relayEdge := media(t, "our answer to the client", res.Body()).RTP()
	pi := <-pis
	ackOf := caller.wait(ctx, gosip.INVITE, 1)
	caller.waitSeq(ctx, gosip.ACK, ackOf.CSeq().SeqNo)
	rr := pi.do(ctx, pi.inDialog(gosip.INVITE, 1, sdpAt(sockPort(third), 3)))
	if rr.StatusCode != 200 {
		t.Fatalf("SBC's re-INVITE got %d", rr.StatusCode)
	}
	ack := pi.inDialog(gosip.ACK, 1, nil)
	ack.Recipient = rr.Contact().Address
	if err := sbc.stack.Client("udp").WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	waitLogged(ctx, t, logs, "peer's answer (in an ACK or a refresh's 2xx) waited for another offer, which changed its media since: dropped")
	gotThird, gotAfter := false, false
	for seq := uint16(1); seq < 100 && !gotThird && !gotAfter; seq++ {
		sendRTPFrom(t, clientRTP, relayEdge, 0, seq, make([]byte, 160))
		gotThird = receivedPT(third, 0, 50*time.Millisecond)
		if !gotThird {
			gotAfter = receivedPT(after, 0, 10*time.Millisecond)
		}
	}
	if !gotThird {
		t.Errorf("client's media does not reach the SBC's latest port (after=%v)", gotAfter)
	}
	_ = oc.d.Bye(ctx)
}
