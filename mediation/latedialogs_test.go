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
)

// Late 2xx (latedialogs.go): a callee's 200 that crosses our CANCEL, or a
// second fork's, is ACKed and hung up with one BYE, numbered above our
// PRACK in that early dialog; a copy of it gets the ACK alone.

// lateCallee is a call through a lab server to a raw UDP callee: outbound
// (a caller peer with Supported: 100rel calls; the raw socket is the SBC)
// or inbound (an SBC peer calls; the raw socket is the client). It returns
// once the callee has the INVITE, with where to answer it and an SDP
// answer of the callee's side.
func lateCallee(ctx context.Context, t *testing.T, dir string) (raw *rawSBC, srv *mediation.Server, oc *outCall, inv *gosip.Request, from netip.AddrPort, answer []byte) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	raw = &rawSBC{t: t, conn: conn}
	if dir == "outbound" {
		srv = serveTo(t, raw.addr(), "udp", nil)
		oc = startPeer(t, "caller").call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"), gosip.NewHeader("Supported", "100rel"))
		answer = fixtureBody(t, "sbc-answer-pcma.sdp")
	} else {
		sbc := startPeer(t, "sbc")
		srv = serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = raw.addr().String() })
		oc = sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
		answer = fixtureBody(t, "sfb-answer-no-bypassid.sdp")
	}
	inv, from = raw.read("")
	return
}

// lateResponse is the wire form of the raw callee's response code to req,
// with To-tag tag (when not ""), its Contact, body as SDP when not nil,
// and hdrs (name, value pairs).
func lateResponse(s *rawSBC, req *gosip.Request, code int, tag string, body []byte, hdrs ...string) []byte {
	res := gosip.NewResponseFromRequest(req, code, "Late", body)
	if tag != "" {
		res.To().Params.Add("tag", tag)
	}
	res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: tag, Host: s.addr().Addr().String(), Port: int(s.addr().Port())}})
	for i := 0; i+1 < len(hdrs); i += 2 {
		res.AppendHeader(gosip.NewHeader(hdrs[i], hdrs[i+1]))
	}
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	return []byte(res.String())
}

// writeTo sends wire to the server.
func (s *rawSBC) writeTo(wire []byte, to netip.AddrPort) {
	s.t.Helper()
	if _, err := s.conn.WriteToUDPAddrPort(wire, to); err != nil {
		s.t.Fatal(err)
	}
}

// nextAnswered is the next request the raw callee reads (INVITE copies
// skipped), a BYE or PRACK answered 200.
func (s *rawSBC) nextAnswered() *gosip.Request {
	s.t.Helper()
	r, src := s.read(gosip.INVITE)
	if r.Method == gosip.BYE || r.Method == gosip.PRACK {
		s.writeTo(lateResponse(s, r, 200, "", nil), src)
	}
	return r
}

// cancelAs is the CANCEL of oc's INVITE, sent from the caller's stack.
func cancelAs(ctx context.Context, oc *outCall) {
	go func() { _, _ = oc.p.stack.Client("udp").Do(ctx, oc.cancel()) }()
}

// TestLateAnswerByeAbovePrack: the callee's early dialog B has had our
// PRACK (CSeq INVITE+1 in that dialog); then B's 200 comes after the call
// is over (crossing the caller's CANCEL), or after fork A answered: we ACK
// it and send BYE in that dialog (the early dialog the 2xx confirms, RFC
// 3261 §12.1.2, §13.2.2.4), numbered above the PRACK (§12.2.1.1). It
// reused the PRACK's CSeq, which a strict UAS (pjsip: 500 "Invalid CSeq")
// refuses, the PSTN leg staying up with nobody on it (r27-early F1).
func TestLateAnswerByeAbovePrack(t *testing.T) {
	for _, tc := range []struct{ dir, how string }{
		{"outbound", "cancel crossing"}, {"outbound", "second fork"}, {"inbound", "second fork"},
	} {
		t.Run(tc.dir+" "+tc.how, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			raw, srv, oc, inv, from, ans := lateCallee(ctx, t, tc.dir)
			raw.writeTo(lateResponse(raw, inv, 183, "B", ans, "Require", "100rel", "RSeq", "1"), from)
			prack := raw.nextAnswered()
			if prack.Method != gosip.PRACK || reqToTag(prack) != "B" {
				t.Fatalf("got %s to %q, want PRACK to B", prack.Method, reqToTag(prack))
			}
			switch tc.how {
			case "cancel crossing":
				cancelAs(ctx, oc)
				c := raw.nextAnswered()
				if c.Method != gosip.CANCEL {
					t.Fatalf("got %s, want CANCEL", c.Method)
				}
				raw.writeTo(lateResponse(raw, c, 200, "B", nil), from)
				if res := oc.answer(ctx, nil); res.StatusCode != 487 {
					t.Fatalf("caller got %d", res.StatusCode)
				}
				waitCalls(t, srv, 0)
				// The SBC's 200 crossed the CANCEL (the PSTN party picked up).
				raw.writeTo(lateResponse(raw, inv, 200, "B", ans), from)
			case "second fork":
				raw.writeTo(lateResponse(raw, inv, 200, "A", ans), from)
				if r := raw.nextAnswered(); r.Method != gosip.ACK || reqToTag(r) != "A" {
					t.Fatalf("got %s to %q, want ACK to A", r.Method, reqToTag(r))
				}
				raw.writeTo(lateResponse(raw, inv, 200, "B", ans), from)
			}
			ack := raw.nextAnswered()
			bye := raw.nextAnswered()
			if ack.Method != gosip.ACK || bye.Method != gosip.BYE || reqToTag(bye) != "B" {
				t.Fatalf("got %s, %s to %q; want ACK, BYE to B", ack.Method, bye.Method, reqToTag(bye))
			}
			if bye.CSeq().SeqNo <= prack.CSeq().SeqNo {
				t.Errorf("BYE in dialog B has CSeq %d, not above our PRACK's %d in that dialog (RFC 3261 §12.2.1.1)", bye.CSeq().SeqNo, prack.CSeq().SeqNo)
			}
		})
	}
}

// TestLateAnswerCopyAckedOnly: outbound, the caller CANCELs; the SBC's
// 200 crosses the CANCEL and is ACKed and hung up (BYE). The SBC, not
// having seen our ACK, sends that 200 again: the copy is ACKed again
// (RFC 3261 §13.2.2.4) without another BYE, which would be a request in a
// dialog already over reusing the first BYE's CSeq (r27-early F5). A 200
// of another fork after it (C) is ACKed and hung up as the first was: the
// BYE that follows is C's, none went to B.
func TestLateAnswerCopyAckedOnly(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	raw, srv, oc, inv, from, ans := lateCallee(ctx, t, "outbound")
	raw.writeTo(lateResponse(raw, inv, 180, "B", nil), from)
	cancelAs(ctx, oc)
	c := raw.nextAnswered()
	if c.Method != gosip.CANCEL {
		t.Fatalf("got %s, want CANCEL", c.Method)
	}
	raw.writeTo(lateResponse(raw, c, 200, "B", nil), from)
	if res := oc.answer(ctx, nil); res.StatusCode != 487 {
		t.Fatalf("caller got %d", res.StatusCode)
	}
	ok := lateResponse(raw, inv, 200, "B", ans)
	raw.writeTo(ok, from)
	for _, want := range []gosip.RequestMethod{gosip.ACK, gosip.BYE} {
		if r := raw.nextAnswered(); r.Method != want || reqToTag(r) != "B" {
			t.Fatalf("the 200 got %s to %q, want %s to B", r.Method, reqToTag(r), want)
		}
	}
	waitCalls(t, srv, 0)
	raw.writeTo(ok, from)
	if r := raw.nextAnswered(); r.Method != gosip.ACK || reqToTag(r) != "B" {
		t.Fatalf("the 200's copy got %s to %q, want the ACK again", r.Method, reqToTag(r))
	}
	raw.writeTo(lateResponse(raw, inv, 200, "C", ans), from)
	for {
		r := raw.nextAnswered()
		if r.Method == gosip.BYE && reqToTag(r) == "B" {
			t.Fatalf("the copy of B's 200, already hung up, got another BYE (CSeq %d)", r.CSeq().SeqNo)
		}
		if r.Method == gosip.BYE && reqToTag(r) == "C" {
			break
		}
	}
}

// TestCancelCopyAfterCallEnded: a caller whose 200 to its CANCEL was lost
// sends the CANCEL again (RFC 3261 §17.1.2, the same branch) while our
// 487 to its INVITE is still being retransmitted (no ACK yet). The call
// ended at the CANCEL and left the registry, but the CANCEL still matches
// that transaction: 200 again (§9.2, §17.2.2), not 481 (r27-early F4).
// A CANCEL of an INVITE we answered 2xx, the call since ended, matches no
// transaction (it ended with the 2xx, §17.2.1): 481 (r27-review2 F5).
func TestCancelCopyAfterCallEnded(t *testing.T) {
	for _, answered := range []bool{false, true} {
		t.Run(map[bool]string{false: "cancelled", true: "answered"}[answered], func(t *testing.T) {
			cancelCopyAfterCallEnded(t, answered)
		})
	}
}

func cancelCopyAfterCallEnded(t *testing.T, answered bool) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	ringing := make(chan struct{})
	sbc.invites(func(pi *peerInvite) {
		if answered {
			pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
			close(ringing)
			return
		}
		pi.respond(180, nil)
		close(ringing)
		<-ctx.Done()
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	caller := &rawSBC{t: t, conn: conn}
	to, a := srv.EdgeAddr(), caller.addr()
	callID := fmt.Sprintf("cancel-copy-%d", time.Now().UnixNano())
	body := fixtureBody(t, "sfb-bypass-offer.sdp")
	request := func(method string, seq int, toTag, branch string) string {
		tt := ""
		if toTag != "" {
			tt = ";tag=" + toTag
		}
		return fmt.Sprintf("%s sip:+15550100@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\nMax-Forwards: 70\r\n"+
			"From: <sip:+15550199@%s>;tag=rawcaller\r\nTo: <sip:+15550100@%s>%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n",
			method, to, a, branch, a.Addr(), to.Addr(), tt, callID, seq, method)
	}
	caller.writeTo(fmt.Appendf(nil, "%sContact: <sip:caller@%s>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		request("INVITE", 1, "", "z9hG4bKcancelcopy"), a, len(body), body), to)
	select {
	case <-ringing:
	case <-ctx.Done():
		t.Fatal("the SBC got no INVITE")
	}
	cancel := []byte(request("CANCEL", 1, "", "z9hG4bKcancelcopy") + "Content-Length: 0\r\n\r\n")
	// response reads the caller's responses until one to method comes.
	response := func(method gosip.RequestMethod) *gosip.Response {
		t.Helper()
		buf := make([]byte, 65535)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("no response to the %s: %v", method, err)
			}
			m, err := gosip.ParseMessage(append([]byte(nil), buf[:n]...))
			if r, ok := m.(*gosip.Response); err == nil && ok && r.CSeq().MethodName == method && r.StatusCode >= 200 {
				return r
			}
		}
	}
	want := 200
	if answered {
		ok := response(gosip.INVITE)
		if ok.StatusCode != 200 {
			t.Fatalf("the INVITE got %d, want 200", ok.StatusCode)
		}
		tag, _ := ok.To().Params.Get("tag")
		caller.writeTo([]byte(request("ACK", 1, tag, "z9hG4bKcancelcopyack")+"Content-Length: 0\r\n\r\n"), to)
		caller.writeTo([]byte(request("BYE", 2, tag, "z9hG4bKcancelcopybye")+"Content-Length: 0\r\n\r\n"), to)
		if r := response(gosip.BYE); r.StatusCode != 200 {
			t.Fatalf("the BYE got %d", r.StatusCode)
		}
		want = 481
	} else {
		caller.writeTo(cancel, to)
		if r := response(gosip.CANCEL); r.StatusCode != 200 {
			t.Fatalf("the CANCEL got %d", r.StatusCode)
		}
		if r := response(gosip.INVITE); r.StatusCode != 487 {
			t.Fatalf("the INVITE got %d, want 487", r.StatusCode)
		}
	}
	waitCalls(t, srv, 0)
	// Its 200 lost, the caller sends the CANCEL again (or, answered, a
	// CANCEL of its INVITE comes after the call).
	caller.writeTo(cancel, to)
	if r := response(gosip.CANCEL); r.StatusCode != want {
		t.Errorf("the CANCEL's copy got %d %s, want %d", r.StatusCode, r.Reason, want)
	}
}
