package mediation_test

import (
	"fmt"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestInboundForks: the edge answers an inbound INVITE from two places
// (183 with SDP from two forks), then the second fork answers. The SBC
// sees two early dialogs (two To-tags), and the 200 in the second's; its
// ACK and BYE reach the answering fork and the call ends cleanly.
func TestInboundForks(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, edge := startPeer(t, "sbc"), forkingEdge(t)
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	// In wire order: sipgo's transaction layer hands each response to a
	// goroutine of its own, so the dialog may see the 200 first.
	var early []string
	for _, r := range sbc.wireResponses(string(*oc.inv.CallID()), 183) {
		tag, _ := r.To().Params.Get("tag")
		early = append(early, tag)
	}
	if len(early) != 2 || early[0] == early[1] || early[0] == "" {
		t.Fatalf("SBC saw early dialogs %q, want two different tags", early)
	}
	if tag, _ := res.To().Params.Get("tag"); tag != early[1] {
		t.Errorf("200 in dialog %q, want the answering fork's %q", tag, early[1])
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	ack := edge.wait(ctx, gosip.ACK, 1)
	if tag, _ := ack.To().Params.Get("tag"); tag != "forkB" {
		t.Errorf("edge's ACK in dialog %q, want forkB", tag)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	bye := edge.wait(ctx, gosip.BYE, 1)
	if tag, _ := bye.To().Params.Get("tag"); tag != "forkB" {
		t.Errorf("edge's BYE in dialog %q, want forkB", tag)
	}
	waitCalls(t, srv, 0)
}

// forkingEdge answers each INVITE with a 183 with SDP from two forks,
// forkA then forkB, then 200 from forkB.
func forkingEdge(t *testing.T) *peer {
	edge := startPeer(t, "edge")
	answer := fixtureBody(t, "sbc-answer-pcma.sdp")
	edge.invites(func(pi *peerInvite) {
		for _, tag := range []string{"forkA", "forkB"} {
			res := pi.response(183, answer)
			res.To().Params.Add("tag", tag)
			_ = pi.tx.Respond(res)
		}
		pi.tag = "forkB"
		pi.respond(200, answer)
	})
	return edge
}

// wireResponses are the responses with code the peer read for the Call-ID,
// in wire order.
func (p *peer) wireResponses(callID string, code int) []*gosip.Response {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*gosip.Response
	for _, m := range p.wire {
		if r, ok := m.(*gosip.Response); ok && r.StatusCode == code && r.CallID() != nil && string(*r.CallID()) == callID {
			out = append(out, r)
		}
	}
	return out
}

// TestInboundForksBypassPerDialog: bypass is decided per early dialog: a
// fork whose client answers with our bypass ID gets the SBC its own media
// address, a fork without gets our relay; the 200 of the anchored fork,
// without SDP, gives the SBC that fork's answer, though the bypassed
// fork's 18x came last.
func TestInboundForksBypassPerDialog(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	bypassed, anchored := fixtureBody(t, "sfb-answer-with-bypassid.sdp"), fixtureBody(t, "sfb-answer-no-bypassid.sdp")
	edge.invites(func(pi *peerInvite) {
		for _, f := range []struct {
			tag string
			sdp []byte
		}{{"anchoredFork", anchored}, {"bypassFork", bypassed}} {
			res := pi.response(183, f.sdp)
			res.To().Params.Add("tag", f.tag)
			_ = pi.tx.Respond(res)
		}
		pi.tag = "anchoredFork"
		pi.respond(200, nil)
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	early := sbc.wireResponses(string(*oc.inv.CallID()), 183)
	if len(early) != 2 {
		t.Fatalf("SBC got %d 183s, want one per fork", len(early))
	}
	anch, byp := media(t, "anchored fork's 183", early[0].Body()), media(t, "bypassed fork's 183", early[1].Body())
	if byp.RTP().Port() != 50010 {
		t.Errorf("bypassed fork: SBC told %s, want the client's own port 50010", byp.RTP())
	}
	if anch.RTP().Port() == 50020 || anch.RTP().Port() == 50010 {
		t.Errorf("anchored fork: SBC told %s, want our relay", anch.RTP())
	}
	if final := media(t, "200", res.Body()); final.RTP() != anch.RTP() {
		t.Errorf("200 names %s, want the anchored fork's %s", final.RTP(), anch.RTP())
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	waitCalls(t, srv, 0)
}

// TestInboundForksPRACK: an SBC that supports 100rel gets each fork's 183
// reliably in that fork's early dialog and PRACKs each there, counting
// each early dialog's CSeq on its own (RFC 3261 §12.1.2: here the second
// dialog's PRACK has a lower CSeq than the first's). Each PRACK's 200 is
// in the PRACK's own early dialog (RFC 3261 §8.2.6.2), and the call is
// answered in the second.
func TestInboundForksPRACK(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, edge := startPeer(t, "sbc"), forkingEdge(t)
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), gosip.NewHeader("Supported", "100rel"))
	type prack struct {
		tag  string
		code int
		got  string
	}
	pracks := make(chan prack, 2)
	seq := oc.inv.CSeq().SeqNo + 2 // the first dialog's PRACK: as if it had sent a request before
	res := oc.answer(ctx, func(r *gosip.Response) {
		rseq := r.GetHeader("RSeq")
		if r.StatusCode != 183 || rseq == nil {
			return
		}
		tag, _ := r.To().Params.Get("tag")
		p := gosip.NewRequest(gosip.PRACK, r.Contact().Address)
		p.AppendHeader(gosip.HeaderClone(oc.inv.From()))
		p.AppendHeader(gosip.HeaderClone(r.To()))
		p.AppendHeader(gosip.HeaderClone(oc.inv.CallID()))
		p.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: gosip.PRACK})
		p.AppendHeader(gosip.NewHeader("RAck", rseq.Value()+" "+fmt.Sprint(oc.inv.CSeq().SeqNo)+" INVITE"))
		p.SetTransport("UDP")
		seq = oc.inv.CSeq().SeqNo + 1 // the second dialog's first request
		go func() {
			res, err := sbc.stack.Client("udp").Do(ctx, p)
			if err != nil {
				t.Errorf("PRACK: %v", err)
				pracks <- prack{tag: tag}
				return
			}
			got, _ := res.To().Params.Get("tag")
			pracks <- prack{tag, res.StatusCode, got}
		}()
	})
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	tags := map[string]bool{}
	for range 2 {
		p := <-pracks
		if p.code != 200 || p.got != p.tag {
			t.Errorf("PRACK in early dialog %q got %d in dialog %q, want 200 in its own", p.tag, p.code, p.got)
		}
		tags[p.tag] = true
	}
	if len(tags) != 2 {
		t.Errorf("PRACKs in dialogs %v, want two", tags)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	waitCalls(t, srv, 0)
}
