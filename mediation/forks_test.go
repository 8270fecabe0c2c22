package mediation_test

import (
	"bytes"
	"fmt"
	"sync"
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
// answered in the second, once both PRACKs are answered (our 200 there
// ends the first early dialog: a PRACK crossing it is in no dialog).
func TestInboundForksPRACK(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	release := make(chan struct{})
	edge := forkingClient(ctx, t, []clientFork{{tag: "forkA"}, {tag: "forkB"}}, release, "forkB")
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), gosip.NewHeader("Supported", "100rel"))
	type prack struct {
		tag  string
		code int
		got  string
	}
	pracks := make(chan prack, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		wg.Wait()
		close(release)
	}()
	var first string
	seen := map[string]bool{}
	res := oc.answer(ctx, func(r *gosip.Response) {
		rseq := r.GetHeader("RSeq")
		tag, _ := r.To().Params.Get("tag")
		if r.StatusCode != 183 || rseq == nil || seen[tag] {
			return // not reliable, or a retransmission
		}
		seen[tag] = true
		if first == "" {
			first = reliableTags(sbc, oc)[0]
		}
		seq := oc.inv.CSeq().SeqNo + 1 // the second dialog's first request
		if tag == first {
			seq++ // the first dialog's PRACK: as if it had sent a request before
		}
		p := gosip.NewRequest(gosip.PRACK, r.Contact().Address)
		p.AppendHeader(gosip.HeaderClone(oc.inv.From()))
		p.AppendHeader(gosip.HeaderClone(r.To()))
		p.AppendHeader(gosip.HeaderClone(oc.inv.CallID()))
		p.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: gosip.PRACK})
		p.AppendHeader(gosip.NewHeader("RAck", rseq.Value()+" "+fmt.Sprint(oc.inv.CSeq().SeqNo)+" INVITE"))
		p.SetTransport("UDP")
		go func() {
			defer wg.Done()
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

// TestOutboundForkAnswersWithoutSDP: the SBC forks an outbound call, two
// forks answer in 183s with SDP (A, then B: another port and law), and A
// answers 200 without SDP, its answer being the one of its 183 (RFC 3262
// §5, RFC 3261 §13.2.1). The call is fork A's session: anchored, the
// relay sends to A's address in A's law while the client keeps the SDP of
// our first 183; bypassed, the client's 200 names A's address. Both with
// reliable and with unreliable 183s. The 200 was built from the last
// fork's SDP (B's): the media went to the fork that never answered.
func TestOutboundForkAnswersWithoutSDP(t *testing.T) {
	for _, reliable := range []bool{true, false} {
		for _, bypass := range []bool{false, true} {
			t.Run(fmt.Sprintf("reliable=%v bypass=%v", reliable, bypass), func(t *testing.T) {
				ctx := testCtx(t, 30*time.Second)
				forkA, forkB := rtpSock(t), rtpSock(t)
				sbc := startPeer(t, "sbc")
				sbc.invites(func(pi *peerInvite) {
					a := pi.response(183, loopSDP(sockPort(forkA), "sendrecv", true, "PCMU"))
					b := pi.response(183, loopSDP(sockPort(forkB), "sendrecv", true, "PCMA"))
					b.To().Params.Add("tag", "forkB") // replaces pi's tag: another UAS
					if reliable {
						for _, r := range []*gosip.Response{a, b} {
							r.AppendHeader(gosip.NewHeader("Require", "100rel"))
							r.AppendHeader(gosip.NewHeader("RSeq", "1"))
						}
					}
					_ = pi.tx.Respond(a)
					if reliable {
						pi.p.wait(ctx, gosip.PRACK, 1)
					}
					_ = pi.tx.Respond(b)
					if reliable {
						pi.p.wait(ctx, gosip.PRACK, 2)
					}
					pi.respond(200, nil)
					pi.waitAck(ctx)
				})
				srv := serveTo(t, sbc.addr(), "udp", nil)
				callerMedia := rtpSock(t)
				offer := loopSDP(sockPort(callerMedia), "sendrecv", true, "PCMU", "PCMA")
				if bypass {
					offer = bytes.Replace(offer, []byte("a=ptime"), []byte("a=x-bypassid:"+srv.Settings().BypassID+"\r\na=ptime"), 1)
				}
				caller := startPeer(t, "caller")
				oc := caller.call(ctx, srv.EdgeAddr(), "udp", offer)
				res := oc.answer(ctx, nil)
				if res.StatusCode != 200 {
					t.Fatalf("call got %d", res.StatusCode)
				}
				_ = oc.d.Ack(ctx)
				if tag, _ := sbc.wait(ctx, gosip.ACK, 1).To().Params.Get("tag"); tag == "forkB" {
					t.Fatal("ACK went to fork B, which never answered")
				}
				final := media(t, "the caller's 200", res.Body())
				if bypass {
					if final.RTP().Port() != uint16(sockPort(forkA)) {
						t.Fatalf("bypassed client told %s, want fork A's port %d (fork B's is %d)", final.RTP(), sockPort(forkA), sockPort(forkB))
					}
				} else {
					var first []byte
					for _, r := range oc.provisionals {
						if first == nil && len(r.Body()) > 0 {
							first = r.Body()
						}
					}
					// (An unreliable 183 may reach the caller's stack after
					// the 200 and be dropped there: then the version says.)
					if final.OriginVersion != 1 || first != nil && !bytes.Equal(first, res.Body()) {
						t.Fatalf("our 200 carries another SDP than our first 183:\n%s\n---\n%s", first, res.Body())
					}
					var wg sync.WaitGroup
					wg.Go(func() { rawPeer{sock: callerMedia, law: "PCMU"}.exchange(t, final.RTP(), clientHz, 50) })
					gotA := receivedPT(forkA, 0, 3*time.Second)
					wg.Wait()
					if !gotA {
						t.Error("fork A, which answered, got no PCMU from the relay")
					}
				}
				_ = oc.d.Bye(ctx)
				sbc.wait(ctx, gosip.BYE, 1)
			})
		}
	}
}
