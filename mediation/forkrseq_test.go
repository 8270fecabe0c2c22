package mediation_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// Our reliable provisionals to an SBC on an inbound call whose client
// forks: each fork is an early dialog of ours towards the SBC (our To-tag
// per fork), a UAS of its own as RFC 3262 §3 sees it, with an RSeq of its
// own and its PRACKs matched in it (r26-fork F1).

// strictSBC is an SBC that checks RSeq per early dialog, as RFC 3262 §4
// says a UAC does (and as our own gateway side does: each fork numbers its
// own): the first reliable provisional of a dialog starts its sequence,
// the next must be one higher; a lower one is a retransmission, a higher
// one out of order and never PRACKed. It PRACKs the ones it accepts, each
// in its own early dialog with that dialog's CSeq count (RFC 3261
// §12.1.2).
type strictSBC struct {
	t   *testing.T
	ctx context.Context
	sbc *peer
	oc  *outCall

	// release is closed once want different reliable provisionals came
	// (after the PRACK of the last is on its way: answered gives it its
	// response).
	want    int
	release chan struct{}

	mu       sync.Mutex
	last     map[string]uint32 // per To-tag: RSeq of the last accepted
	seq      map[string]uint32 // per To-tag: CSeq of the SBC's last request
	distinct map[string]bool   // tag/RSeq seen
	gaps     []string
	pracks   []string // "tag RSeq code" of every PRACK sent
	wg       sync.WaitGroup
}

func newStrictSBC(ctx context.Context, t *testing.T, sbc *peer, oc *outCall, want int) *strictSBC {
	return &strictSBC{t: t, ctx: ctx, sbc: sbc, oc: oc, want: want, release: make(chan struct{}),
		last: map[string]uint32{}, seq: map[string]uint32{}, distinct: map[string]bool{}}
}

// provisional takes each provisional response of the call (oc.answer's
// each).
func (s *strictSBC) provisional(r *gosip.Response) {
	h := r.GetHeader("RSeq")
	if h == nil {
		return
	}
	n, err := strconv.ParseUint(h.Value(), 10, 32)
	if err != nil {
		s.t.Errorf("RSeq %q: %v", h.Value(), err)
		return
	}
	rseq := uint32(n)
	tag, _ := r.To().Params.Get("tag")
	s.mu.Lock()
	reached, ok := s.accept(tag, rseq)
	s.mu.Unlock()
	if ok {
		p := s.prack(r, rseq, tag)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			code := s.do(p)
			s.mu.Lock()
			s.pracks = append(s.pracks, fmt.Sprintf("%s %d %d", tag, rseq, code))
			s.mu.Unlock()
		}()
	}
	if reached {
		close(s.release)
	}
}

// accept, under s.mu, tells whether rseq in the early dialog of tag is to
// be PRACKed, and whether it is the want-th different one.
func (s *strictSBC) accept(tag string, rseq uint32) (reached, ok bool) {
	key := fmt.Sprintf("%s/%d", tag, rseq)
	copied := s.distinct[key]
	if !copied {
		s.distinct[key] = true
		reached = len(s.distinct) == s.want
	}
	last, started := s.last[tag]
	switch {
	case !started:
	case rseq <= last:
		return reached, false // a retransmission (or a late copy of an earlier one)
	case rseq != last+1:
		// RFC 3262 §4: not PRACKed, not processed.
		if !copied {
			s.gaps = append(s.gaps, fmt.Sprintf("dialog %s: RSeq %d after %d", tag, rseq, last))
		}
		return reached, false
	}
	s.last[tag] = rseq
	return reached, true
}

// tags are the To-tags of our reliable 183s, in the order the first of
// each came on the wire.
func (s *strictSBC) tags() []string { return reliableTags(s.sbc, s.oc) }

// reliableTags are the To-tags of the reliable 183s the SBC got for oc, in
// the order the first of each came on the wire. Our reliable 18x of an
// inbound call's forks go out side by side, each fork's early dialog with
// its own, and sipgo hands each response on in a goroutine of its own: a
// test that tells the forks apart by their order goes by the wire's.
func reliableTags(sbc *peer, oc *outCall) []string {
	var tags []string
	for _, r := range sbc.wireResponses(string(*oc.inv.CallID()), 183) {
		if tag, _ := r.To().Params.Get("tag"); r.GetHeader("RSeq") != nil && !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	return tags
}

// prack builds the PRACK of rseq in our early dialog of To-tag in (to the
// Contact of r, a provisional of ours in that dialog), with that dialog's
// next CSeq.
func (s *strictSBC) prack(r *gosip.Response, rseq uint32, in string) *gosip.Request {
	inv := s.oc.inv
	s.mu.Lock()
	if s.seq[in] == 0 {
		s.seq[in] = inv.CSeq().SeqNo
	}
	s.seq[in]++
	seq := s.seq[in]
	s.mu.Unlock()
	p := gosip.NewRequest(gosip.PRACK, r.Contact().Address)
	p.AppendHeader(gosip.HeaderClone(inv.From()))
	to := gosip.HeaderClone(r.To()).(*gosip.ToHeader)
	to.Params.Add("tag", in)
	p.AppendHeader(to)
	p.AppendHeader(gosip.HeaderClone(inv.CallID()))
	p.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: gosip.PRACK})
	p.AppendHeader(gosip.NewHeader("RAck", fmt.Sprintf("%d %d INVITE", rseq, inv.CSeq().SeqNo)))
	p.SetTransport(inv.Transport())
	return p
}

// answered waits until release, then for the responses to the PRACKs
// sent: the client may answer then, with no PRACK of ours crossing its
// 200 (which ends the other early dialogs, their PRACKs then in none).
func (s *strictSBC) answered() {
	select {
	case <-s.release:
	case <-s.ctx.Done():
	}
	s.wg.Wait()
}

// do sends a request of the SBC and returns its final status, 0 for none.
func (s *strictSBC) do(req *gosip.Request) int {
	res, err := s.sbc.stack.Client(req.Transport()).Do(s.ctx, req)
	if err != nil {
		s.t.Errorf("%s: %v", req.Method, err)
		return 0
	}
	return res.StatusCode
}

// clientFork is one 18x of the client: its To-tag and, when reliable, its
// RSeq.
type clientFork struct {
	tag  string
	rseq uint32
}

// forkingClient is an edge that answers an INVITE with the 183s of forks
// (each with SDP), then, once release is closed, 200 with SDP from the
// fork answering.
func forkingClient(ctx context.Context, t *testing.T, forks []clientFork, release <-chan struct{}, answering string) *peer {
	edge := startPeer(t, "edge")
	answer := fixtureBody(t, "sfb-answer-no-bypassid.sdp")
	edge.invites(func(pi *peerInvite) {
		for _, f := range forks {
			var hdrs []gosip.Header
			if f.rseq != 0 {
				hdrs = append(hdrs, gosip.NewHeader("Require", "100rel"), gosip.NewHeader("RSeq", fmt.Sprint(f.rseq)))
			}
			res := pi.response(183, answer, hdrs...)
			res.To().Params.Add("tag", f.tag)
			_ = pi.tx.Respond(res)
		}
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		pi.tag = answering
		pi.respond(200, answer)
		pi.waitAck(ctx)
	})
	return edge
}

// TestInboundForksRSeqPerDialog: the client forks (183 from A, from B,
// then from A again, each with SDP), and an SBC that checks RSeq per early
// dialog PRACKs each of our reliable 183s: each of our early dialogs
// numbers its own, one higher each time. B answers: the SBC gets our 200
// in B's dialog. With one RSeq count for all forks A's second 183 skipped
// a number, was never PRACKed, held our 200 and after 64*T1 the SBC got
// 504 (r26-fork F1). Whether or not the client's own 183s are reliable.
func TestInboundForksRSeqPerDialog(t *testing.T) {
	for _, reliable := range []bool{false, true} {
		t.Run(map[bool]string{false: "unreliable client", true: "reliable client"}[reliable], func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			forks := []clientFork{{tag: "forkA"}, {tag: "forkB"}, {tag: "forkA"}}
			if reliable {
				forks[0].rseq, forks[1].rseq, forks[2].rseq = 10, 700, 11
			}
			sbc := startPeer(t, "sbc")
			release := make(chan struct{})
			edge := forkingClient(ctx, t, forks, release, "forkB")
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
			oc := sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), gosip.NewHeader("Supported", "100rel"))
			s := newStrictSBC(ctx, t, sbc, oc, 3)
			go func() {
				// The client's 200 once the SBC has had the three 183s
				// (the third not PRACKed when numbered wrong).
				s.answered()
				close(release)
			}()
			res := oc.answer(ctx, s.provisional)
			s.wg.Wait()
			s.mu.Lock()
			gaps, pracks := s.gaps, s.pracks
			s.mu.Unlock()
			order := s.tags()
			if len(gaps) > 0 {
				t.Errorf("RSeq not counted per early dialog: %v", gaps)
			}
			if res.StatusCode != 200 {
				t.Fatalf("SBC got %d %s, want 200", res.StatusCode, res.Reason)
			}
			if len(order) != 2 {
				t.Fatalf("reliable 183s in early dialogs %v, want two", order)
			}
			if tag, _ := res.To().Params.Get("tag"); tag != order[1] {
				t.Errorf("200 in dialog %q, want fork B's %q", tag, order[1])
			}
			if len(pracks) != 3 {
				t.Errorf("SBC PRACKed %v, want all three 183s", pracks)
			}
			for _, p := range pracks {
				var tag string
				var rseq uint32
				var code int
				if _, err := fmt.Sscan(p, &tag, &rseq, &code); err != nil || code != 200 {
					t.Errorf("PRACK %q, want 200", p)
				}
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatalf("BYE: %v", err)
			}
			if tag, _ := edge.wait(ctx, gosip.BYE, 1).To().Params.Get("tag"); tag != "forkB" {
				t.Errorf("edge's BYE in dialog %q, want forkB", tag)
			}
			waitCalls(t, srv, 0)
		})
	}
}

// sbcScript is an SBC's steps run off the test goroutine while the test
// waits for the final response to its INVITE (oc.answer): it watches what
// the SBC read on the wire, in wire order.
type sbcScript struct {
	t      *testing.T
	ctx    context.Context
	sbc    *peer
	callID string
	// over is closed when the INVITE has its final response: nothing the
	// script waits for comes any more.
	over chan struct{}
}

func newSBCScript(ctx context.Context, t *testing.T, sbc *peer, oc *outCall) *sbcScript {
	return &sbcScript{t: t, ctx: ctx, sbc: sbc, callID: string(*oc.inv.CallID()), over: make(chan struct{})}
}

// until is waitUntil off the test goroutine: false at ctx's end (the test
// failed) or once the INVITE has its final response.
func (s *sbcScript) until(what string, cond func() bool) bool {
	for !cond() {
		select {
		case <-s.ctx.Done():
			s.t.Errorf("timed out waiting for %s", what)
			return false
		case <-s.over:
			return cond()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

// reliable183 waits for the first reliable 183 in an early dialog other
// than not's, and returns it (nil: none came).
func (s *sbcScript) reliable183(not string) *gosip.Response {
	var first *gosip.Response
	s.until("a reliable 183 in a new early dialog", func() bool {
		for _, r := range s.sbc.wireResponses(s.callID, 183) {
			if tag, _ := r.To().Params.Get("tag"); tag != not && r.GetHeader("RSeq") != nil {
				first = r
				return true
			}
		}
		return false
	})
	return first
}

// copies is how many times r (a reliable 183: its To-tag and RSeq) came.
func (s *sbcScript) copies(r *gosip.Response) int {
	n := 0
	for _, c := range s.sbc.wireResponses(s.callID, 183) {
		if c.To().Value() == r.To().Value() && c.GetHeader("RSeq") != nil && c.GetHeader("RSeq").Value() == r.GetHeader("RSeq").Value() {
			n++
		}
	}
	return n
}

// rseqTag is a reliable provisional's RSeq and To-tag.
func rseqTag(r *gosip.Response) (uint32, string) {
	rseq, _ := strconv.ParseUint(r.GetHeader("RSeq").Value(), 10, 32)
	tag, _ := r.To().Params.Get("tag")
	return uint32(rseq), tag
}

// TestInboundForkUnprackedOtherDialog: the SBC never PRACKs our reliable
// 183 of fork A (it dropped that early dialog). Fork B's 183 comes 32*T1
// later, and B answers at once; the SBC PRACKs B's 183 only after 64*T1
// of A's has passed. Our 200 in B's dialog waits for no PRACK of A's (RFC
// 3262 §3: the PRACK of a reliable 18x with SDP of the same dialog), and
// A's 183 is given up on no more once the call is answered: its early
// dialog ends with our 200 in B's. With one sender for all forks B's 183
// waited behind A's, and the SBC got 504; with A's 183 left waiting for
// its PRACK while our 200 waited for B's, 504 all the same. Over TCP,
// where our reliable 18x are not retransmitted but still given up on
// after 64*T1 (and sipgo's dialog, the SBC here, takes only 10
// provisionals).
func TestInboundForkUnprackedOtherDialog(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	const t1 = 50 * time.Millisecond
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	answer := fixtureBody(t, "sfb-answer-no-bypassid.sdp")
	forkB := make(chan struct{})
	edge.invites(func(pi *peerInvite) {
		a := pi.response(183, answer)
		a.To().Params.Add("tag", "forkA")
		_ = pi.tx.Respond(a)
		select {
		case <-forkB:
		case <-ctx.Done():
			return
		}
		b := pi.response(183, answer)
		b.To().Params.Add("tag", "forkB")
		_ = pi.tx.Respond(b)
		pi.tag = "forkB"
		pi.respond(200, answer)
		pi.waitAck(ctx)
	})
	srv := serveTo(t, sbc.addr(), "tcp", func(c *mediation.Config) {
		c.Edge.Peer = edge.addr().String()
		c.SIP.T1 = t1
	})
	oc := sbc.call(ctx, srv.GatewayAddr(), "tcp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), gosip.NewHeader("Supported", "100rel"))
	s := newSBCScript(ctx, t, sbc, oc)
	var a *gosip.Response
	script := make(chan struct{})
	go func() {
		defer close(script)
		if a = s.reliable183(""); a == nil {
			return
		}
		seen := time.Now()
		// Time itself is what this waits for: how long A's 183 has
		// gone without its PRACK.
		if !s.until("32*T1 of fork A's 183", func() bool { return time.Since(seen) > 32*t1 }) {
			return
		}
		close(forkB)
		_, tagA := rseqTag(a)
		b := s.reliable183(tagA)
		if b == nil {
			return
		}
		// A's 183 would be given up on at 64*T1, and the call with it.
		if !s.until("64*T1 of fork A's 183", func() bool { return time.Since(seen) > 69*t1 }) {
			return
		}
		rseqB, tagB := rseqTag(b)
		p := newStrictSBC(ctx, t, sbc, oc, 0)
		if code := p.do(p.prack(b, rseqB, tagB)); code != 200 {
			t.Errorf("PRACK of fork B's 183 got %d, want 200", code)
		}
	}()
	res := oc.answer(ctx, nil)
	close(s.over)
	<-script
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d %s, want 200", res.StatusCode, res.Reason)
	}
	_, tagA := rseqTag(a)
	if tag, _ := res.To().Params.Get("tag"); tag == tagA {
		t.Fatalf("200 in fork A's dialog %q", tag)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// The settle comes 64*T1 after the ACK: the call is still up.
	waitUntil(ctx, t, "the call to settle", func() bool {
		st := srv.SetupStates()
		return len(st) == 1 && st[0].Settled
	})
	if srv.ActiveCalls() != 1 || edge.count(gosip.BYE) != 0 {
		t.Fatalf("answered call ended (%d calls, edge got %s)", srv.ActiveCalls(), edge.methods())
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	edge.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
}

// TestInboundForkPrackWrongDialog: the SBC PRACKs fork B's reliable 183
// in fork A's early dialog (A's To-tag, to A's Contact, B's RSeq). That
// PRACK matches no reliable provisional of A's dialog: 481 (RFC 3262 §3),
// and B's 183, unacknowledged, is still retransmitted until its own PRACK
// in B's dialog, which gets 200. One PRACK matcher for all forks
// acknowledged B's 183 with it.
func TestInboundForkPrackWrongDialog(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	release := make(chan struct{})
	edge := forkingClient(ctx, t, []clientFork{{tag: "forkA"}, {tag: "forkB"}}, release, "forkB")
	// A T1 of 100 ms: B's copies come for 6.4 s, long after the 481.
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Edge.Peer = edge.addr().String()
		c.SIP.T1 = 100 * time.Millisecond
	})
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), gosip.NewHeader("Supported", "100rel"))
	s, p := newSBCScript(ctx, t, sbc, oc), newStrictSBC(ctx, t, sbc, oc, 0)
	script := make(chan struct{})
	go func() {
		defer close(script)
		defer close(release) // the client answers in B
		a := s.reliable183("")
		if a == nil {
			return
		}
		rseqA, tagA := rseqTag(a)
		if code := p.do(p.prack(a, rseqA, tagA)); code != 200 {
			t.Errorf("PRACK of fork A's 183 in its dialog got %d, want 200", code)
		}
		b := s.reliable183(tagA)
		if b == nil {
			return
		}
		rseqB, tagB := rseqTag(b)
		// B's RSeq in A's dialog.
		if code := p.do(p.prack(a, rseqB, tagA)); code != 481 {
			t.Errorf("PRACK of fork B's 183 in fork A's dialog got %d, want 481", code)
		} else {
			n := s.copies(b)
			s.until("fork B's 183 retransmitted after the PRACK in the wrong dialog", func() bool { return s.copies(b) > n })
		}
		if code := p.do(p.prack(b, rseqB, tagB)); code != 200 {
			t.Errorf("PRACK of fork B's 183 in its dialog got %d, want 200", code)
		}
	}()
	res := oc.answer(ctx, nil)
	close(s.over)
	<-script
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d %s, want 200", res.StatusCode, res.Reason)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	edge.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
}
