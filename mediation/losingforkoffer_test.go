package mediation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestLosingForkUpdateThenOtherForkAnswers: the client forks (A, B, each
// a reliable 183); fork B sends an UPDATE with an offer, which goes to the
// SBC in our early dialog of fork B (e61760b). Before the SBC answers it,
// fork A answers 200: our 200 to the SBC ends our early dialog B' there,
// so the SBC answers the UPDATE in B' with 481 (as this emulator itself
// does for a request in a losing fork's early dialog,
// TestByeInLosingForkDialog), or, slower to drop it, 200. Fork B's offer
// is over with its early dialog: its UPDATE gets 487, and the SBC's late
// answer is ignored. Taken, the 481 hung up the call fork A answered, the
// 200 moved its media to fork B (r27-review F1).
func TestLosingForkUpdateThenOtherForkAnswers(t *testing.T) {
	for _, code := range []int{481, 200} {
		t.Run(fmt.Sprint(code), func(t *testing.T) { losingForkUpdate(t, code) })
	}
}

func losingForkUpdate(t *testing.T, sbcCode int) {
	ctx := testCtx(t, 30*time.Second)
	s1, eA, eB, eU := rtpSock(t), rtpSock(t), rtpSock(t), rtpSock(t)
	ansA, ansB := loopSDP(sockPort(eA), "sendrecv", true, "PCMU"), loopSDP(sockPort(eB), "sendrecv", true, "PCMU")
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	gotUpdate, answered := make(chan string, 4), make(chan struct{})
	var answeredTag string // set before answered is closed
	sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		tag, _ := req.From().Params.Get("tag")
		gotUpdate <- tag
		select {
		case <-answered:
		case <-ctx.Done():
			return
		}
		// Our early dialog B' is over at the SBC: our 200 came in A'.
		code := sbcCode
		if tag == answeredTag {
			// Still a live dialog at the SBC (the UPDATE went in the
			// dialog our 200 confirmed): answered.
			code = 200
		}
		var body []byte
		if code == 200 {
			body = loopSDP(sockPort(s1), "sendrecv", true, "PCMU")
		}
		sbc.reply(req, tx, code, body, allowUpdate())
	})
	proceed, updated := make(chan struct{}), make(chan int, 1)
	edge.invites(func(pi *peerInvite) {
		pi.tag = "forkA"
		pi.reliable(183, 1, ansA)
		pi.tag = "forkB"
		pi.reliable(183, 1, ansB)
		select {
		case <-proceed:
		case <-ctx.Done():
			return
		}
		upd := pi.inDialog(gosip.UPDATE, 1, loopSDP(sockPort(eU), "sendrecv", true, "PCMU"))
		go func() {
			res, err := edge.stack.Client("udp").Do(ctx, upd)
			code := 0
			if err == nil {
				code = res.StatusCode
			}
			updated <- code
		}()
		select {
		case <-gotUpdate:
		case <-ctx.Done():
			return
		}
		pi.tag = "forkA"
		pi.respond(200, ansA)
		pi.waitAck(ctx)
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	_, res, inDialog := forkedInboundCall(ctx, t, sbc, srv, s1, proceed)
	answeredTag, _ = res.To().Params.Get("tag")
	close(answered)
	select {
	case code := <-updated:
		if code != 487 {
			t.Errorf("fork B's UPDATE got %d, want 487: its early dialog ended with fork A's 200", code)
		}
	case <-ctx.Done():
		t.Fatal("fork B's UPDATE got no answer")
	}
	if sbcCode == 200 {
		// Fork A is the call: the SBC's media must reach fork A's
		// address, not the one fork B offered in its UPDATE.
		m := media(t, "our 200 to the SBC", res.Body())
		t.Logf("our 200 to the SBC points the SBC at %v (fork A %d, fork B's UPDATE %d)", m.RTP(), sockPort(eA), sockPort(eU))
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		for seq := uint16(1); fctx.Err() == nil; seq++ {
			sendRTPFrom(t, s1, m.RTP(), 0, seq, make([]byte, 160))
			if receivedPT(eA, 0, 50*time.Millisecond) {
				break
			}
			if receivedPT(eU, 0, 50*time.Millisecond) {
				t.Fatalf("the SBC's media in the call fork A answered goes to the address fork B offered in its UPDATE (%d)", sockPort(eU))
			}
		}
		if fctx.Err() != nil {
			t.Fatal("the SBC's media reached neither fork A nor fork B's UPDATE address")
		}
	}
	// The answered call (fork A) must still be up: the SBC's BYE in it
	// gets 200 and is the first BYE of the call; we sent the SBC none.
	b := inDialog(res, gosip.BYE)
	if b == nil || b.StatusCode != 200 {
		t.Errorf("the SBC's BYE in the answered call got %v, want 200", b)
	}
	if n := sbc.count(gosip.BYE); n != 0 {
		t.Errorf("the SBC got %d BYEs from us: the answered call was hung up over fork B's UPDATE", n)
	}
	waitCalls(t, srv, 0)
}
