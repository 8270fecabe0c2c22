package mediation_test

import (
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
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
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
