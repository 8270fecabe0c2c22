package mediation_test

import (
	"fmt"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestEarlyUpdateToItsFork: the SBC's UPDATE in the early dialog of the
// client's first fork goes to that fork, not to the one heard last
// (r23-review2 #4). When that fork's 183 was not reliable the UPDATE's
// offer cannot go to it (RFC 3311 §5.1): 500 with Retry-After, though the
// fork heard last answered reliably.
func TestEarlyUpdateToItsFork(t *testing.T) {
	for _, aReliable := range []bool{true, false} {
		t.Run(fmt.Sprintf("fork A reliable %v", aReliable), func(t *testing.T) { earlyUpdateToItsFork(t, aReliable) })
	}
}

func earlyUpdateToItsFork(t *testing.T, aReliable bool) {
	ctx := testCtx(t, 30*time.Second)
	s1, s2, eA, eB := rtpSock(t), rtpSock(t), rtpSock(t), rtpSock(t)
	ansA, ansB := loopSDP(sockPort(eA), "sendrecv", true, "PCMU"), loopSDP(sockPort(eB), "sendrecv", true, "PCMU")
	updatedIn, proceed := make(chan string, 1), make(chan struct{})
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	edge.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		tag, _ := req.To().Params.Get("tag")
		body := ansB
		if tag == "forkA" {
			body = ansA
		}
		edge.reply(req, tx, 200, body, allowUpdate())
		updatedIn <- tag
	})
	edge.invites(func(pi *peerInvite) {
		pi.tag = "forkA"
		if aReliable {
			pi.reliable(183, 1, ansA)
		} else {
			pi.respond(183, ansA)
		}
		pi.tag = "forkB"
		pi.reliable(183, 1, ansB)
		select {
		case <-proceed:
		case <-ctx.Done():
			return
		}
		pi.tag = "forkA"
		pi.respond(200, ansA)
		pi.waitAck(ctx)
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(s1), "sendrecv", true, "PCMU", "PCMA"),
		gosip.NewHeader("Supported", "100rel"))
	seq := oc.inv.CSeq().SeqNo
	inDialog := func(r *gosip.Response, method gosip.RequestMethod, body []byte, hdrs ...gosip.Header) *gosip.Response {
		req := gosip.NewRequest(method, r.Contact().Address)
		req.AppendHeader(gosip.HeaderClone(oc.inv.From()))
		req.AppendHeader(gosip.HeaderClone(r.To()))
		req.AppendHeader(gosip.HeaderClone(oc.inv.CallID()))
		seq++
		req.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: method})
		for _, h := range hdrs {
			req.AppendHeader(h)
		}
		if body != nil {
			req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			req.SetBody(body)
		}
		req.SetTransport("UDP")
		res, err := sbc.stack.Client("udp").Do(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return res
	}
	var first *gosip.Response
	var ures *gosip.Response
	pracked := map[string]bool{}
	res := oc.answer(ctx, func(r *gosip.Response) {
		tag, _ := r.To().Params.Get("tag")
		if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || pracked[tag] {
			return
		}
		pracked[tag] = true
		if p := inDialog(r, gosip.PRACK, nil, gosip.NewHeader("RAck", r.GetHeader("RSeq").Value()+" "+fmt.Sprint(oc.inv.CSeq().SeqNo)+" INVITE")); p.StatusCode != 200 {
			t.Errorf("PRACK in %q got %d", tag, p.StatusCode)
		}
		if first == nil {
			first = r
			return
		}
		// Both forks heard, B last: the UPDATE in A's early dialog.
		ures = inDialog(first, gosip.UPDATE, loopSDP(sockPort(s2), "sendrecv", true, "PCMU", "PCMA"))
		close(proceed)
	})
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	if !aReliable {
		if ures == nil || ures.StatusCode != 500 || ures.GetHeader("Retry-After") == nil {
			t.Fatalf("the SBC's early UPDATE towards a fork without a reliable answer got %v, want 500 with Retry-After", ures)
		}
		select {
		case tag := <-updatedIn:
			t.Fatalf("the SBC's UPDATE reached the client in %q", tag)
		default:
		}
	} else {
		if ures == nil || ures.StatusCode != 200 {
			t.Fatalf("the SBC's early UPDATE got %v", ures)
		}
		select {
		case tag := <-updatedIn:
			if tag != "forkA" {
				t.Fatalf("the SBC's UPDATE in fork A's early dialog reached the client in %q", tag)
			}
		case <-ctx.Done():
			t.Fatal("no UPDATE at the client")
		}
	}
	// In the dialog's own CSeq count, which the requests above took on.
	if b := inDialog(res, gosip.BYE, nil); b.StatusCode != 200 {
		t.Fatalf("BYE got %d", b.StatusCode)
	}
	edge.wait(ctx, gosip.BYE, 1)
}
