package mediation_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// cancel builds the CANCEL of the call's INVITE (RFC 3261 §9.1).
func (oc *outCall) cancel() *gosip.Request {
	cancel := gosip.NewRequest(gosip.CANCEL, oc.inv.Recipient)
	cancel.AppendHeader(oc.inv.Via().Clone())
	for _, h := range []gosip.Header{oc.inv.From(), oc.inv.To(), oc.inv.CallID()} {
		cancel.AppendHeader(gosip.HeaderClone(h))
	}
	cancel.AppendHeader(&gosip.CSeqHeader{SeqNo: oc.inv.CSeq().SeqNo, MethodName: gosip.CANCEL})
	cancel.SetTransport(oc.inv.Transport())
	return cancel
}

// cancelWhenRinging CANCELs oc's INVITE over transport tr, with hdrs,
// once ringing is closed, and checks the CANCEL's 200. Defer the wait it
// returns: the check reports within the test.
func cancelWhenRinging(ctx context.Context, t *testing.T, oc *outCall, tr string, ringing <-chan struct{}, hdrs ...gosip.Header) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ringing:
		case <-ctx.Done():
			return
		}
		c := oc.cancel()
		for _, h := range hdrs {
			c.AppendHeader(h)
		}
		if res, err := oc.p.stack.Client(tr).Do(ctx, c); err != nil || res.StatusCode != 200 {
			t.Errorf("CANCEL: %v %v", res, err)
		}
	}()
	return func() { <-done }
}

// ringingSBC answers INVITEs with 180 and never more, until a CANCEL (then
// 487).
func ringingSBC(t *testing.T) *peer {
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.respond(180, nil)
		<-pi.tx.Done()
	})
	return sbc
}

// TestCancelKeepsTag: the 487 to a cancelled INVITE carries the To-tag of
// the 18x the caller already has (RFC 3261 §8.2.6.2, §9.2), and the callee
// gets a CANCEL.
func TestCancelKeepsTag(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := ringingSBC(t)
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"))
			var ringTag string
			ringing := make(chan struct{})
			defer cancelWhenRinging(ctx, t, oc, tr, ringing)()
			res := oc.answer(ctx, func(r *gosip.Response) {
				if r.StatusCode == 180 {
					ringTag, _ = r.To().Params.Get("tag")
					close(ringing)
				}
			})
			if res.StatusCode != 487 {
				t.Fatalf("got %d, want 487", res.StatusCode)
			}
			if tag, _ := res.To().Params.Get("tag"); tag == "" || tag != ringTag {
				t.Errorf("487 To-tag %q, the 180's %q", tag, ringTag)
			}
			sbc.wait(ctx, gosip.CANCEL, 1)
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "canceled")
		})
	}
}

// TestEarlyByeFromCaller: a caller that hangs up with BYE while the call
// rings gets 200 for the BYE and 487 for its INVITE, and the callee a
// CANCEL (RFC 3261 §15); the client does not keep ringing.
func TestEarlyByeFromCaller(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := ringingSBC(t)
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"))
			byed := make(chan *gosip.Response, 1)
			res := oc.answer(ctx, func(r *gosip.Response) {
				if r.StatusCode != 180 {
					return
				}
				// The BYE in the early dialog, built from the INVITE and the
				// 180 rather than through sipgo's dialog, which WaitAnswer
				// is updating on this goroutine meanwhile.
				bye := gosip.NewRequest(gosip.BYE, r.Contact().Address)
				bye.AppendHeader(gosip.HeaderClone(oc.inv.From()))
				bye.AppendHeader(gosip.HeaderClone(r.To()))
				bye.AppendHeader(gosip.HeaderClone(oc.inv.CallID()))
				bye.AppendHeader(&gosip.CSeqHeader{SeqNo: oc.inv.CSeq().SeqNo + 1, MethodName: gosip.BYE})
				bye.SetTransport(oc.inv.Transport())
				go func() {
					res, err := caller.stack.Client(tr).Do(ctx, bye)
					if err != nil {
						t.Errorf("early BYE: %v", err)
						res = &gosip.Response{}
					}
					byed <- res
				}()
			})
			if res.StatusCode != 487 {
				t.Fatalf("INVITE got %d, want 487", res.StatusCode)
			}
			if b := <-byed; b.StatusCode != 200 {
				t.Errorf("early BYE got %d, want 200", b.StatusCode)
			}
			sbc.wait(ctx, gosip.CANCEL, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
		})
	}
}

// TestRingTimeout: an SBC that rings for ever is CANCELled after
// ring_timeout and the caller gets 408; the relay's ports are released.
func TestRingTimeout(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := ringingSBC(t)
			srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) { c.Gateways[0].RingTimeout = 400 * time.Millisecond })
			caller := startPeer(t, "caller")
			// No bypass ID: the call is anchored and holds relay ports while ringing.
			// Timed from before the INVITE leaves: the server's ring timer
			// starts after it arrives, which may be before call returns.
			start := time.Now()
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
			res := oc.answer(ctx, nil)
			if res.StatusCode != 408 {
				t.Fatalf("got %d, want 408", res.StatusCode)
			}
			if d := time.Since(start); d < 400*time.Millisecond {
				t.Errorf("timed out after %v, before ring_timeout", d)
			}
			sbc.wait(ctx, gosip.CANCEL, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_side_port_pairs_open")
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "ring_timeout")
		})
	}
}

// TestLateAnswerIsHungUp: an SBC that answers 200 only after the server
// gave up on its INVITE (no response within 64*T1: the caller got 408)
// gets an ACK and a BYE, so that it does not keep a call nobody is on.
func TestLateAnswerIsHungUp(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer sbc.Close()
	srv := serveTo(t, sbc.LocalAddr().(*net.UDPAddr).AddrPort(), "udp", nil)
	read := func() (*gosip.Request, netip.AddrPort) {
		t.Helper()
		buf := make([]byte, 65535)
		_ = sbc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			n, src, err := sbc.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("SBC read: %v", err)
			}
			if m, err := gosip.ParseMessage(append([]byte(nil), buf[:n]...)); err == nil {
				if r, ok := m.(*gosip.Request); ok {
					return r, src
				}
			}
		}
	}
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	inv, from := read()
	if res := oc.answer(ctx, nil); res.StatusCode != 408 {
		t.Fatalf("caller got %d, want 408", res.StatusCode)
	}
	ok := gosip.NewResponseFromRequest(inv, 200, "OK", fixtureBody(t, "sbc-answer-pcma.sdp"))
	ok.To().Params.Add("tag", "late")
	ok.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(sbc.LocalAddr().(*net.UDPAddr).Port)}})
	ok.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	if _, err := sbc.WriteToUDPAddrPort([]byte(ok.String()), from); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		r, _ := read()
		if r.IsInvite() {
			continue // INVITE retransmissions before the server gave up
		}
		got = append(got, string(r.Method))
		if tag, _ := r.To().Params.Get("tag"); tag != "late" {
			t.Errorf("%s To-tag %q, want the late 2xx's", r.Method, tag)
		}
	}
	if got[0] != "ACK" || got[1] != "BYE" {
		t.Fatalf("SBC got %v, want ACK then BYE", got)
	}
}

// TestStrayAnswerDropped: a 2xx to an INVITE we never sent (an unknown
// Call-ID), even from a trusted peer, is dropped and counted: no ACK or
// BYE goes to the address its Contact names, which would let any peer aim
// our messages anywhere.
func TestStrayAnswerDropped(t *testing.T) {
	victim, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", nil)
	body := fixtureBody(t, "sbc-answer-pcma.sdp")
	ok := fmt.Sprintf("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKstray1\r\n"+
		"From: <sip:+15550111@127.0.0.1>;tag=neverours\r\nTo: <sip:+15550100@127.0.0.1>;tag=stray\r\n"+
		"Call-ID: never-sent-by-us\r\nCSeq: 1 INVITE\r\nContact: <sip:127.0.0.2:%d>\r\n"+
		"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		srv.GatewayAddr(), victim.LocalAddr().(*net.UDPAddr).Port, len(body), body)
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.GatewayAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// From the SBC's IP (trusted: the gateway side trusts a trunk's IP
	// from any port), not a stranger's.
	if _, err := conn.Write([]byte(ok)); err != nil {
		t.Fatal(err)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_sip_stray_responses_total", "side", "gateway")
	_ = victim.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 65535)
	if n, _, err := victim.ReadFromUDP(buf); err == nil {
		t.Fatalf("the stray 2xx's Contact got %q", buf[:n])
	}
}

// TestSecondForkHungUp: when two forks of the callee answer 2xx, the call
// stays with the first and the second is ACKed and sent BYE (RFC 3261
// §13.2.2.4).
func TestSecondForkHungUp(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				pi.respond(183, fixtureBody(t, "sbc-answer-pcma.sdp"))
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				fork := pi.response(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				fork.To().Params.Add("tag", "fork2")
				_ = pi.tx.Respond(fork)
			})
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, tr)
			bye := sbc.wait(ctx, gosip.BYE, 1)
			if tag, _ := bye.To().Params.Get("tag"); tag != "fork2" {
				t.Fatalf("BYE to tag %q, want the second fork's", tag)
			}
			// The call itself is up: the caller's BYE reaches the first fork.
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			if tag, _ := sbc.wait(ctx, gosip.BYE, 2).To().Params.Get("tag"); tag == "fork2" {
				t.Error("the caller's BYE went to the second fork")
			}
		})
	}
}

// rawSBC is an SBC on a bare UDP socket: it answers only what a test
// writes, so that it can stay silent where sipgo would send 100 Trying.
type rawSBC struct {
	t    *testing.T
	conn *net.UDPConn
}

func startRawSBC(t *testing.T) *rawSBC {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawSBC{t: t, conn: conn}
}

func (s *rawSBC) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// read returns the next request (other than a retransmission of skip's
// method, when skip is not empty) and where it came from.
func (s *rawSBC) read(skip gosip.RequestMethod) (*gosip.Request, netip.AddrPort) {
	s.t.Helper()
	buf := make([]byte, 65535)
	_ = s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			s.t.Fatalf("SBC read: %v", err)
		}
		m, err := gosip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		if r, ok := m.(*gosip.Request); ok && r.Method != skip {
			return r, src
		}
	}
}

// respond writes a response to req, with tag as its To-tag.
func (s *rawSBC) respond(req *gosip.Request, to netip.AddrPort, code int, tag string, body []byte) {
	s.t.Helper()
	res := gosip.NewResponseFromRequest(req, code, "Reason", body)
	if tag != "" && !res.To().Params.Has("tag") {
		res.To().Params.Add("tag", tag)
	}
	if body != nil {
		res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(s.addr().Port())}})
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	if _, err := s.conn.WriteToUDPAddrPort([]byte(res.String()), to); err != nil {
		s.t.Fatal(err)
	}
}

// rawCall is a call from a caller peer through a lab server to a raw SBC,
// which has read the server's INVITE (inv, from the server's address from).
type rawCall struct {
	sbc    *rawSBC
	srv    *mediation.Server
	caller *peer
	oc     *outCall
	inv    *gosip.Request
	from   netip.AddrPort
}

// startRawCall places a call over UDP to a raw SBC, and waits for its INVITE.
func startRawCall(ctx context.Context, t *testing.T) *rawCall {
	t.Helper()
	rc := &rawCall{sbc: startRawSBC(t), caller: startPeer(t, "caller")}
	rc.srv = serveTo(t, rc.sbc.addr(), "udp", nil)
	rc.oc = rc.caller.call(ctx, rc.srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	rc.inv, rc.from = rc.sbc.read("")
	return rc
}

// TestCancelBeforeProvisional: a caller that cancels while the SBC has
// sent nothing at all gets its 487 at once and the call ends (its slot
// released), but the SBC's INVITE is not forgotten: its first provisional,
// however late, gets the CANCEL (RFC 3261 §9.1), so the PSTN phone stops
// ringing, and a reliable one its PRACK too (RFC 3262 §4); an SBC that
// answers 200 instead gets ACK and BYE.
func TestCancelBeforeProvisional(t *testing.T) {
	for _, first := range []string{"180", "reliable 183", "200"} {
		t.Run(first, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			rc := startRawCall(ctx, t)
			sbc, srv, inv, from := rc.sbc, rc.srv, rc.inv, rc.from
			if res, err := rc.caller.stack.Client("udp").Do(ctx, rc.oc.cancel()); err != nil || res.StatusCode != 200 {
				t.Fatalf("CANCEL: %v %v", res, err)
			}
			if res := rc.oc.answer(ctx, nil); res.StatusCode != 487 {
				t.Fatalf("caller got %d, want 487", res.StatusCode)
			}
			// The call is over while the SBC has said nothing.
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "canceled")
			switch first {
			case "200":
				sbc.respond(inv, from, 200, "late", fixtureBody(t, "sbc-answer-pcma.sdp"))
				ack, _ := sbc.read(gosip.INVITE)
				bye, _ := sbc.read(gosip.INVITE)
				if ack.Method != gosip.ACK || bye.Method != gosip.BYE {
					t.Fatalf("SBC got %s then %s, want ACK then BYE", ack.Method, bye.Method)
				}
				return
			case "reliable 183":
				sbc.reliable(inv, from, 183, "ring", 7, fixtureBody(t, "sbc-answer-pcma.sdp"))
				got := sbc.collect(gosip.PRACK, gosip.CANCEL)
				sbc.checkPrack(got[gosip.PRACK], inv, "ring", 7)
				sbc.respond(got[gosip.CANCEL].req, got[gosip.CANCEL].from, 200, "ring", nil)
				sbc.respond(inv, from, 487, "ring", nil)
				sbc.collect(gosip.ACK)
				return
			}
			sbc.respond(inv, from, 180, "ring", nil)
			c, src := sbc.read(gosip.INVITE)
			if c.Method != gosip.CANCEL {
				t.Fatalf("SBC got %s after its 180, want CANCEL", c.Method)
			}
			if c.CSeq().SeqNo != inv.CSeq().SeqNo || branch(c) != branch(inv) {
				t.Errorf("CANCEL CSeq %d branch %q, INVITE's %d %q", c.CSeq().SeqNo, branch(c), inv.CSeq().SeqNo, branch(inv))
			}
			sbc.respond(c, src, 200, "ring", nil)
			sbc.respond(inv, from, 487, "ring", nil)
			if ack, _ := sbc.read(gosip.INVITE); ack.Method != gosip.ACK {
				t.Fatalf("SBC got %s after its 487, want ACK", ack.Method)
			}
		})
	}
}

func branch(r *gosip.Request) string {
	b, _ := r.Via().Params.Get("branch")
	return b
}

// TestCancelledCallFreesSlotBeforeThe487: a caller that cancels a ringing
// call gets its 487 and the call is over at once, its slot free, while the
// SBC has answered neither the CANCEL nor the INVITE (README, Capacity: a
// slot is given back as soon as the final failure response is sent). The
// server used to wait for the SBC's 487, up to the end-of-call deadline
// (9 s with this T1), holding the slot.
func TestCancelledCallFreesSlotBeforeThe487(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startRawSBC(t)
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.SIP.T1 = 500 * time.Millisecond })
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	inv, from := sbc.read("")
	sbc.respond(inv, from, 180, "ring", nil)
	rang := false
	cancelled := make(chan struct{})
	res := oc.answer(ctx, func(r *gosip.Response) {
		if r.StatusCode != 180 || rang {
			return
		}
		rang = true
		go func() {
			defer close(cancelled)
			if res, err := caller.stack.Client("udp").Do(ctx, oc.cancel()); err != nil || res.StatusCode != 200 {
				t.Errorf("CANCEL: %v %v", res, err)
			}
		}()
	})
	<-cancelled
	if res.StatusCode != 487 {
		t.Fatalf("caller got %d, want 487", res.StatusCode)
	}
	if c, _ := sbc.read(gosip.INVITE); c.Method != gosip.CANCEL {
		t.Fatalf("SBC got %s, want CANCEL", c.Method)
	}
	// The SBC stays silent. 5 s is well within the old 9 s wait and far
	// above what a loaded machine takes to end a call.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := mediationtest.AwaitMetric(wctx, srv, 0, "mediationserver_calls_current", "direction", "outbound"); err != nil {
		t.Fatalf("the cancelled call still holds its slot while the SBC's 487 is due: %v", err)
	}
}

// TestCancelCrossingProvisional: the caller's CANCEL and the SBC's first
// provisional cross, over and over: whichever the call takes first, the
// SBC gets its CANCEL every time (a 180 queued behind the CANCEL used to
// be dropped with the call's other leftover events, and the INVITE then
// rang until Timer B). The crossing is timing, so each run tries it
// twenty times.
func TestCancelCrossingProvisional(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	sbc := startRawSBC(t)
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	for i := range 20 {
		oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
		inv, from := sbc.read("")
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = caller.stack.Client("udp").Do(ctx, oc.cancel())
		}()
		sbc.respond(inv, from, 180, fmt.Sprint("ring", i), nil)
		for {
			r, src := sbc.read(gosip.INVITE)
			if r.Method == gosip.CANCEL && string(*r.CallID()) == string(*inv.CallID()) {
				sbc.respond(r, src, 200, "", nil)
				sbc.respond(inv, from, 487, fmt.Sprint("ring", i), nil)
				break
			}
		}
		if ack, _ := sbc.read(gosip.INVITE); ack.Method != gosip.ACK {
			t.Fatalf("try %d: SBC got %s after its 487, want ACK", i, ack.Method)
		}
		<-done
		if res := oc.answer(ctx, nil); res.StatusCode != 487 {
			t.Fatalf("try %d: caller got %d, want 487", i, res.StatusCode)
		}
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
}

// TestCancelCrossingHeldProvisional: the SBC's first provisional is
// read but reaches the call only after the caller's CANCEL has ended it
// (held there by a test hook; under load it is a matter of scheduling).
// The call, having seen no provisional, left the CANCEL to the first one:
// it still goes, and the SBC's 487 is ACKed. It used to be lost with the
// provisional, and the SBC rang on (CI, stop 25).
func TestCancelCrossingHeldProvisional(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startRawSBC(t)
	srv := serveTo(t, sbc.addr(), "udp", nil)
	oc := startPeer(t, "caller").call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	inv, from := sbc.read("")
	held := mediation.HoldProvisionals(t, inv.CallID().Value())
	sbc.respond(inv, from, 180, "held", nil)
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the 180 never reached the call's sink")
	}
	if res, err := oc.p.stack.Client("udp").Do(ctx, oc.cancel()); err != nil || res.StatusCode != 200 {
		t.Fatalf("the caller's CANCEL: %v %v", res, err)
	}
	if res := oc.answer(ctx, nil); res.StatusCode != 487 {
		t.Fatalf("caller got %d, want 487", res.StatusCode)
	}
	r, src := sbc.read(gosip.INVITE)
	if r.Method != gosip.CANCEL || r.CallID().Value() != inv.CallID().Value() {
		t.Fatalf("SBC got %s after the caller's CANCEL, want the CANCEL of its INVITE", r.Method)
	}
	sbc.respond(r, src, 200, "", nil)
	sbc.respond(inv, from, 487, "held", nil)
	if ack, _ := sbc.read(gosip.CANCEL); ack.Method != gosip.ACK {
		t.Fatalf("SBC got %s after its 487, want ACK", ack.Method)
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
}

// TestCancelFromAnotherSentBy: a CANCEL whose top Via has the INVITE's
// branch but another sent-by (another trusted host that learnt the
// branch, Call-ID and From-tag) matches no transaction (RFC 3261 §9.2,
// §17.2.3): 481, and the call rings on; the caller's own CANCEL still
// cancels it. It used to cancel the call of another.
func TestCancelFromAnotherSentBy(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := ringingSBC(t)
	srv := serveTo(t, sbc.addr(), "udp", nil)
	oc := startPeer(t, "caller").call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU"))
	sbc.wait(ctx, gosip.INVITE, 1)
	intruder, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	c := oc.cancel()
	b, _ := c.Via().Params.Get("branch")
	via := &gosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: "127.0.0.1", Port: intruder.LocalAddr().(*net.UDPAddr).Port, Params: gosip.NewParams()}
	via.Params.Add("branch", b)
	c.RemoveHeader("Via")
	c.PrependHeader(via)
	c.AppendHeader(gosip.NewHeader("Max-Forwards", "70"))
	c.AppendHeader(gosip.NewHeader("Content-Length", "0"))
	if _, err := intruder.WriteToUDPAddrPort([]byte(c.String()), srv.EdgeAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = intruder.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := intruder.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("the foreign CANCEL got no answer: %v", err)
	}
	if got := string(buf[:n]); len(got) < 12 || got[:12] != "SIP/2.0 481 " {
		t.Fatalf("the foreign CANCEL got %q, want 481", got)
	}
	if n := sbc.count(gosip.CANCEL); n != 0 {
		t.Fatalf("the SBC got %d CANCELs from a foreign one", n)
	}
	// The caller's own CANCEL still works.
	if res, err := oc.p.stack.Client("udp").Do(ctx, oc.cancel()); err != nil || res.StatusCode != 200 {
		t.Fatalf("the caller's CANCEL: %v %v", res, err)
	}
	if res := oc.answer(ctx, nil); res.StatusCode != 487 {
		t.Errorf("the caller got %d, want 487", res.StatusCode)
	}
}
