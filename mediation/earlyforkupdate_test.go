package mediation_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
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
	pracked, heard := map[string]bool{}, map[string]*gosip.Response{}
	res := oc.answer(ctx, func(r *gosip.Response) {
		tag, _ := r.To().Params.Get("tag")
		if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || pracked[tag] {
			return
		}
		pracked[tag] = true
		if p := inDialog(r, gosip.PRACK, nil, gosip.NewHeader("RAck", r.GetHeader("RSeq").Value()+" "+fmt.Sprint(oc.inv.CSeq().SeqNo)+" INVITE")); p.StatusCode != 200 {
			t.Errorf("PRACK in %q got %d", tag, p.StatusCode)
		}
		heard[tag] = r
		if len(heard) < 2 {
			return
		}
		// Both forks heard: the UPDATE in A's early dialog (the first
		// on the wire).
		first = heard[reliableTags(sbc, oc)[0]]
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

// TestEarlyUpdateOtherForkAnswers: the SBC's UPDATE in fork A's early
// dialog is relayed to fork A; fork B answers the INVITE before fork A
// answers the UPDATE (r23-review3 #1). Fork A's early dialog is over, so
// its answer can no longer complete the offer: the SBC's UPDATE gets 487 at
// once, and the call, answered by fork B, stays up with its offer slot free
// (once, the UPDATE held the slot until 64*T1 hung up the call).
func TestEarlyUpdateOtherForkAnswers(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	s1, s2, eA, eB := rtpSock(t), rtpSock(t), rtpSock(t), rtpSock(t)
	ansA, ansB := loopSDP(sockPort(eA), "sendrecv", true, "PCMU"), loopSDP(sockPort(eB), "sendrecv", true, "PCMU")
	updatedIn, answered := make(chan string, 4), make(chan struct{})
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	edge.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		tag, _ := req.To().Params.Get("tag")
		updatedIn <- tag
		// Fork A answers the UPDATE only once fork B's 200 is ACKed.
		select {
		case <-answered:
		case <-ctx.Done():
			return
		}
		body := ansB
		if tag == "forkA" {
			body = ansA
		}
		edge.reply(req, tx, 200, body, allowUpdate())
	})
	edge.invites(func(pi *peerInvite) {
		pi.tag = "forkA"
		pi.reliable(183, 1, ansA)
		pi.tag = "forkB"
		pi.reliable(183, 1, ansB)
		select {
		case tag := <-updatedIn:
			if tag != "forkA" {
				t.Errorf("the SBC's UPDATE in fork A's early dialog reached the client in %q", tag)
			}
		case <-ctx.Done():
			return
		}
		pi.tag = "forkB"
		pi.respond(200, ansB, allowUpdate())
		pi.waitAck(ctx)
		close(answered)
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(s1), "sendrecv", true, "PCMU", "PCMA"),
		gosip.NewHeader("Supported", "100rel"))
	var mu sync.Mutex
	seq := oc.inv.CSeq().SeqNo
	inDialog := func(r *gosip.Response, method gosip.RequestMethod, body []byte, hdrs ...gosip.Header) (*gosip.Response, error) {
		req := gosip.NewRequest(method, r.Contact().Address)
		req.AppendHeader(gosip.HeaderClone(oc.inv.From()))
		req.AppendHeader(gosip.HeaderClone(r.To()))
		req.AppendHeader(gosip.HeaderClone(oc.inv.CallID()))
		mu.Lock()
		seq++
		req.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: method})
		mu.Unlock()
		for _, h := range hdrs {
			req.AppendHeader(h)
		}
		if body != nil {
			req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			req.SetBody(body)
		}
		req.SetTransport("UDP")
		return sbc.stack.Client("udp").Do(ctx, req)
	}
	var first *gosip.Response
	pracked, heard := map[string]bool{}, map[string]*gosip.Response{}
	ures := make(chan *gosip.Response, 1)
	res := oc.answer(ctx, func(r *gosip.Response) {
		tag, _ := r.To().Params.Get("tag")
		if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || pracked[tag] {
			return
		}
		pracked[tag] = true
		if p, err := inDialog(r, gosip.PRACK, nil, gosip.NewHeader("RAck", r.GetHeader("RSeq").Value()+" "+fmt.Sprint(oc.inv.CSeq().SeqNo)+" INVITE")); err != nil || p.StatusCode != 200 {
			t.Errorf("PRACK in %q: %v %v", tag, p, err)
		}
		heard[tag] = r
		if len(heard) < 2 {
			return
		}
		// Both forks heard: the UPDATE in A's early dialog (the first
		// on the wire), answered only after the INVITE's 200.
		first = heard[reliableTags(sbc, oc)[0]]
		f := first
		go func() {
			r, err := inDialog(f, gosip.UPDATE, loopSDP(sockPort(s2), "sendrecv", true, "PCMU", "PCMA"))
			if err != nil {
				t.Errorf("UPDATE: %v", err)
			}
			ures <- r
		}()
	})
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	if tag, _ := res.To().Params.Get("tag"); first != nil {
		if ftag, _ := first.To().Params.Get("tag"); ftag == tag {
			t.Fatalf("our 200 has the To-tag of fork A's early dialog %q", tag)
		}
	}
	_ = oc.d.Ack(ctx)
	select {
	case r := <-ures:
		if r == nil || r.StatusCode != 487 {
			t.Fatalf("the SBC's UPDATE towards the fork that did not answer got %v, want 487", r)
		}
	case <-ctx.Done():
		t.Fatal("the SBC's UPDATE got no final response")
	}
	// The call's offer slot is free: an UPDATE in the confirmed dialog is
	// relayed to fork B and answered.
	if u, err := inDialog(res, gosip.UPDATE, loopSDP(sockPort(s2), "sendrecv", true, "PCMU")); err != nil || u.StatusCode != 200 {
		t.Fatalf("UPDATE in the answered call got %v %v, want 200", u, err)
	}
	select {
	case tag := <-updatedIn:
		if tag != "forkB" {
			t.Fatalf("the answered call's UPDATE reached the client in %q", tag)
		}
	case <-ctx.Done():
		t.Fatal("no UPDATE at the client")
	}
	if calls := srv.ActiveCalls(); calls != 1 {
		t.Fatalf("%d calls in progress, want 1", calls)
	}
	if b, err := inDialog(res, gosip.BYE, nil); err != nil || b.StatusCode != 200 {
		t.Fatalf("BYE got %v %v", b, err)
	}
	edge.wait(ctx, gosip.BYE, 1)
}

// TestEarlyRollbackGoesToItsFork: the SBC's UPDATE in fork A's early
// dialog goes to fork A, which answers it unusably (an IPv6 address, the
// relay being IPv4): the SBC gets 488 and the rollback, offering fork A its
// earlier session again, goes to fork A too, not to fork B, heard last,
// which never took the new session (r23-review3 #2).
func TestEarlyRollbackGoesToItsFork(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	s1, s2, eA, eB := rtpSock(t), rtpSock(t), rtpSock(t), rtpSock(t)
	ansA, ansB := loopSDP(sockPort(eA), "sendrecv", true, "PCMU"), loopSDP(sockPort(eB), "sendrecv", true, "PCMU")
	bad := bytes.ReplaceAll(loopSDP(sockPort(eA)+2, "sendrecv", true, "PCMU"), []byte("c=IN IP4 127.0.0.1"), []byte("c=IN IP6 ::1"))
	var mu sync.Mutex
	var tags []string
	proceed := make(chan struct{})
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	edge.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		tag, _ := req.To().Params.Get("tag")
		mu.Lock()
		n := len(tags)
		tags = append(tags, tag)
		mu.Unlock()
		body := ansB
		if tag == "forkA" {
			body = ansA
		}
		if n == 0 {
			body = bad
		}
		edge.reply(req, tx, 200, body, allowUpdate())
	})
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
	pracked, heard := map[string]bool{}, map[string]*gosip.Response{}
	res := oc.answer(ctx, func(r *gosip.Response) {
		tag, _ := r.To().Params.Get("tag")
		if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || pracked[tag] {
			return
		}
		pracked[tag] = true
		inDialog(r, gosip.PRACK, nil, gosip.NewHeader("RAck", r.GetHeader("RSeq").Value()+" "+fmt.Sprint(oc.inv.CSeq().SeqNo)+" INVITE"))
		heard[tag] = r
		if len(heard) < 2 {
			return
		}
		// Both forks heard: the UPDATE in A's early dialog (the first
		// on the wire).
		first = heard[reliableTags(sbc, oc)[0]]
		ures = inDialog(first, gosip.UPDATE, loopSDP(sockPort(s2), "sendrecv", true, "PCMU", "PCMA"))
		edge.wait(ctx, gosip.UPDATE, 2) // the rollback
		close(proceed)
	})
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	if ures == nil || ures.StatusCode != 488 {
		t.Fatalf("the SBC's UPDATE answered unusably got %v, want 488", ures)
	}
	mu.Lock()
	got := append([]string(nil), tags...)
	mu.Unlock()
	if len(got) != 2 || got[0] != "forkA" || got[1] != "forkA" {
		t.Fatalf("UPDATEs at the client by fork: %v, want the UPDATE and its rollback both in forkA", got)
	}
	if b := inDialog(res, gosip.BYE, nil); b.StatusCode != 200 {
		t.Fatalf("BYE got %d", b.StatusCode)
	}
	edge.wait(ctx, gosip.BYE, 1)
}

// TestByeInLosingForkDialog: the client forks (A and B, each a reliable
// 183 with SDP) and A answers. Our early dialog of fork B with the SBC
// (its own To-tag) ended with the 2xx (RFC 3261 §13.2.2.4): a BYE the SBC
// sends in it is in no dialog, 481 (§12.2.2), and the call goes on. It was
// taken as the call's BYE and hung the call up.
func TestByeInLosingForkDialog(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	s1, eA, eB := rtpSock(t), rtpSock(t), rtpSock(t)
	ansA, ansB := loopSDP(sockPort(eA), "sendrecv", true, "PCMU"), loopSDP(sockPort(eB), "sendrecv", true, "PCMU")
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	edge.invites(func(pi *peerInvite) {
		pi.tag = "forkA"
		pi.reliable(183, 1, ansA)
		pi.tag = "forkB"
		pi.reliable(183, 1, ansB)
		pi.tag = "forkA"
		pi.respond(200, ansA)
		pi.waitAck(ctx)
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(s1), "sendrecv", true, "PCMU", "PCMA"),
		gosip.NewHeader("Supported", "100rel"))
	seq := oc.inv.CSeq().SeqNo
	inDialog := func(r *gosip.Response, method gosip.RequestMethod, hdrs ...gosip.Header) *gosip.Response {
		req := gosip.NewRequest(method, r.Contact().Address)
		req.AppendHeader(gosip.HeaderClone(oc.inv.From()))
		req.AppendHeader(gosip.HeaderClone(r.To()))
		req.AppendHeader(gosip.HeaderClone(oc.inv.CallID()))
		seq++
		req.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: method})
		for _, h := range hdrs {
			req.AppendHeader(h)
		}
		req.SetTransport("UDP")
		res, err := sbc.stack.Client("udp").Do(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return res
	}
	early := map[string]*gosip.Response{}
	res := oc.answer(ctx, func(r *gosip.Response) {
		tag, _ := r.To().Params.Get("tag")
		if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || early[tag] != nil {
			return
		}
		early[tag] = r
		inDialog(r, gosip.PRACK, gosip.NewHeader("RAck", r.GetHeader("RSeq").Value()+" "+fmt.Sprint(oc.inv.CSeq().SeqNo)+" INVITE"))
	})
	if res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range sbc.wireResponses(string(*oc.inv.CallID()), 183) {
		if tag, _ := r.To().Params.Get("tag"); early[tag] == nil && r.GetHeader("RSeq") != nil {
			// One that sipgo, handing each response on in a goroutine
			// of its own, passed on after the 200 or not at all.
			early[tag] = r
		}
	}
	answered, _ := res.To().Params.Get("tag")
	var losing *gosip.Response
	for tag, r := range early {
		if tag != answered {
			losing = r
		}
	}
	if losing == nil {
		t.Fatalf("no early dialog of the SBC's other than the answered one (%d 183s)", len(early))
	}
	if bye := inDialog(losing, gosip.BYE); bye.StatusCode != 481 {
		t.Fatalf("BYE in the losing fork's early dialog got %d, want 481", bye.StatusCode)
	}
	if opt := inDialog(res, gosip.OPTIONS); opt.StatusCode != 200 {
		t.Fatalf("OPTIONS in the call's dialog got %d: the call did not go on", opt.StatusCode)
	}
	if n := len(srv.Calls()); n != 1 {
		t.Fatalf("%d calls in progress, want the call still up", n)
	}
	if bye := inDialog(res, gosip.BYE); bye.StatusCode != 200 {
		t.Fatalf("BYE in the call's dialog got %d", bye.StatusCode)
	}
	waitCalls(t, srv, 0)
}

// TestClientEarlyUpdateInItsFork: the client forks (A, then B, each a
// reliable 183 with SDP), and fork B sends an UPDATE with an offer in its
// early dialog: it goes to the SBC in our early dialog of fork B (its
// To-tag as our From-tag), not in fork A's, the caller dialog's own; fork
// A's goes in A's. It went in A's whichever fork made it (r26-regr R2).
func TestClientEarlyUpdateInItsFork(t *testing.T) {
	for _, from := range []string{"forkA", "forkB"} {
		t.Run(from, func(t *testing.T) { clientEarlyUpdateInItsFork(t, from) })
	}
}

func clientEarlyUpdateInItsFork(t *testing.T, from string) {
	ctx := testCtx(t, 30*time.Second)
	s1, eA, eB, eU := rtpSock(t), rtpSock(t), rtpSock(t), rtpSock(t)
	ansA, ansB := loopSDP(sockPort(eA), "sendrecv", true, "PCMU"), loopSDP(sockPort(eB), "sendrecv", true, "PCMU")
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	sbcUpdates := make(chan string, 4)
	sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		tag, _ := req.From().Params.Get("tag")
		sbc.reply(req, tx, 200, loopSDP(sockPort(s1), "sendrecv", true, "PCMU"), allowUpdate())
		sbcUpdates <- tag
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
		pi.tag = from
		res, err := edge.stack.Client("udp").Do(ctx, pi.inDialog(gosip.UPDATE, 1, loopSDP(sockPort(eU), "sendrecv", true, "PCMU")))
		code := 0
		if err == nil {
			code = res.StatusCode
		}
		updated <- code
		pi.respond(200, ansA)
		pi.waitAck(ctx)
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc, res, inDialog := forkedInboundCall(ctx, t, sbc, srv, s1, proceed)
	select {
	case code := <-updated:
		if code != 200 {
			t.Fatalf("the client's early UPDATE in %s got %d, want 200", from, code)
		}
	case <-ctx.Done():
		t.Fatal("the client's early UPDATE got no answer")
	}
	tags := reliableTags(sbc, oc)
	if len(tags) != 2 {
		t.Fatalf("the SBC got reliable 183s of %d early dialogs, want 2", len(tags))
	}
	want := tags[0]
	if from == "forkB" {
		want = tags[1]
	}
	select {
	case got := <-sbcUpdates:
		if got != want {
			t.Errorf("the client's UPDATE in %s reached the SBC with our tag %q, want %s's early dialog %q (early dialogs %q)", from, got, from, want, tags)
		}
	case <-ctx.Done():
		t.Fatal("no UPDATE at the SBC")
	}
	if b := inDialog(res, gosip.BYE); b == nil || b.StatusCode != 200 {
		t.Fatalf("BYE got %v", b)
	}
	edge.wait(ctx, gosip.BYE, 1)
}

// forkedInboundCall has sbc call srv (s1 its media socket) with 100rel and
// UPDATE while the client forks (two reliable 183s): each is PRACKed in
// its own early dialog, proceed closed once both are, and it returns once
// the call is answered and ACKed, with res our 200 and inDialog, which
// sends the SBC's request in the dialog of a response of ours (early or
// confirmed), its CSeq counted for all of them.
func forkedInboundCall(ctx context.Context, t *testing.T, sbc *peer, srv *mediation.Server, s1 *net.UDPConn, proceed chan struct{}) (
	oc *outCall, res *gosip.Response, inDialog func(*gosip.Response, gosip.RequestMethod, ...gosip.Header) *gosip.Response) {
	t.Helper()
	oc = sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(s1), "sendrecv", true, "PCMU", "PCMA"),
		gosip.NewHeader("Supported", "100rel"), allowUpdate())
	seq := oc.inv.CSeq().SeqNo
	var seqMu sync.Mutex
	inDialog = func(r *gosip.Response, method gosip.RequestMethod, hdrs ...gosip.Header) *gosip.Response {
		req := gosip.NewRequest(method, r.Contact().Address)
		req.AppendHeader(gosip.HeaderClone(oc.inv.From()))
		req.AppendHeader(gosip.HeaderClone(r.To()))
		req.AppendHeader(gosip.HeaderClone(oc.inv.CallID()))
		seqMu.Lock()
		seq++
		req.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: method})
		seqMu.Unlock()
		for _, h := range hdrs {
			req.AppendHeader(h)
		}
		req.SetTransport("UDP")
		res, err := sbc.stack.Client("udp").Do(ctx, req)
		if err != nil {
			t.Errorf("%s: %v", method, err)
			return nil
		}
		return res
	}
	pracked := map[string]bool{}
	res = oc.answer(ctx, func(r *gosip.Response) {
		tag, _ := r.To().Params.Get("tag")
		if r.StatusCode != 183 || r.GetHeader("RSeq") == nil || pracked[tag] {
			return
		}
		pracked[tag] = true
		if p := inDialog(r, gosip.PRACK, gosip.NewHeader("RAck", r.GetHeader("RSeq").Value()+" "+fmt.Sprint(oc.inv.CSeq().SeqNo)+" INVITE")); p == nil || p.StatusCode != 200 {
			t.Errorf("PRACK in %q got %v", tag, p)
		}
		if len(pracked) == 2 {
			close(proceed)
		}
	})
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	return oc, res, inDialog
}
