package mediation_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// transferLab is a server whose trunk has enable_refer_support off (and
// forward_call_history on), an SBC, a client placing outbound calls, and
// the edge next hop where the server sends a transfer's INVITE (the
// target) and inbound calls. The SBC and the target answer with media on
// sockets of their own; the SBC answers re-INVITEs with the same SDP.
type transferLab struct {
	srv                   *mediation.Server
	sbc, caller, edge     *peer
	sbcMedia, targetMedia *net.UDPConn
	records               string
	sbcCalls, targets     chan *peerInvite
	// host is the loopback address the lab binds, the relay's too.
	host netip.Addr
}

func newTransferLab(t *testing.T, configure func(*mediation.Config)) *transferLab {
	t.Helper()
	return newTransferLabOn(t, "127.0.0.1", configure)
}

// newTransferLabOn is newTransferLab with everything it binds (the peers,
// their media sockets, the server's listeners and relay) on the loopback
// address host.
func newTransferLabOn(t *testing.T, host string, configure func(*mediation.Config)) *transferLab {
	t.Helper()
	at := netip.AddrPortFrom(netip.MustParseAddr(host), 0)
	l := &transferLab{sbc: startPeerOn(t, "sbc", at, nil), caller: startPeerOn(t, "caller", at, nil), edge: startPeerOn(t, "edge", at, nil),
		sbcMedia: rtpSockOn(t, host), targetMedia: rtpSockOn(t, host), records: filepath.Join(t.TempDir(), "calls.jsonl"),
		sbcCalls: make(chan *peerInvite, 4), targets: make(chan *peerInvite, 4), host: at.Addr()}
	takeNotifies(l.caller)
	takeNotifies(l.edge)
	sbcSDP := loopSDP(sockPort(l.sbcMedia), "sendrecv", false, "PCMA")
	l.sbc.invites(func(pi *peerInvite) {
		pi.respond(200, sbcSDP)
		l.sbcCalls <- pi
	})
	l.sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { l.sbc.reply(req, tx, 200, sbcSDP) })
	l.edge.invites(func(pi *peerInvite) {
		l.targets <- pi
		pi.respond(200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
	})
	l.srv = serveTo(t, l.sbc.addr(), "udp", func(c *mediation.Config) {
		listen := at.String()
		c.Edge.Listen, c.GatewayListen, c.HTTPListen, c.Admin.Listen = listen, listen, listen, listen
		c.Media.IP = host
		off := false
		c.Gateways[0].EnableReferSupport = &off
		c.Gateways[0].ForwardCallHistory = true
		c.Edge.Peer = l.edge.addr().String()
		c.Records.Path = l.records
		if configure != nil {
			configure(c)
		}
	})
	return l
}

// transferCall sets up a bypassed call from caller (which answers NOTIFYs)
// to sbc through a server whose trunk has enable_refer_support off, and
// ACKs it.
func transferCall(ctx context.Context, t *testing.T, sbc, caller *peer) (*mediation.Server, *outCall) {
	t.Helper()
	takeNotifies(caller)
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		off := false
		c.Gateways[0].EnableReferSupport = &off
	})
	return srv, upCall(ctx, t, caller, srv, "udp")
}

// takeNotifies makes the peer record and answer 200 the NOTIFYs of its
// REFER's subscription.
func takeNotifies(p *peer) {
	p.on(gosip.NOTIFY, func(req *gosip.Request, tx gosip.ServerTransaction) {
		p.reply(req, tx, 200, nil)
	})
}

// clientHolds sends the client's hold re-INVITE in oc on a goroutine of
// its own; its status code (0 for none) comes on the channel (codeOf).
func clientHolds(ctx context.Context, t *testing.T, oc *outCall) <-chan int {
	hold := make(chan int, 1)
	req := gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address)
	req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(fixtureBody(t, "hold-offer.sdp"))
	go func() {
		res, err := oc.d.Do(ctx, req)
		if err != nil {
			hold <- 0
			return
		}
		hold <- res.StatusCode
	}()
	return hold
}

// codeOf is the status code a request sent on another goroutine got, from
// ch, failing the test at ctx's end.
func codeOf(ctx context.Context, t *testing.T, ch <-chan int, what string) int {
	t.Helper()
	select {
	case code := <-ch:
		return code
	case <-ctx.Done():
		t.Fatalf("%s got no answer", what)
		return 0
	}
}

// next is the next INVITE of ch, failing the test at ctx's end.
func next(ctx context.Context, t *testing.T, ch <-chan *peerInvite, what string) *peerInvite {
	t.Helper()
	select {
	case pi := <-ch:
		return pi
	case <-ctx.Done():
		t.Fatalf("no %s INVITE", what)
		return nil
	}
}

// mediaFlows sends RTP from one socket to to until the other socket
// receives something (the relay forwards it), failing at ctx's end.
func mediaFlows(ctx context.Context, t *testing.T, what string, from *net.UDPConn, to netip.AddrPort, recv *net.UDPConn) {
	t.Helper()
	buf := make([]byte, 2048)
	for seq := uint16(1); ctx.Err() == nil; seq++ {
		sendRTPFrom(t, from, to, 8, seq, make([]byte, 160))
		_ = recv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, _, err := recv.ReadFromUDP(buf); err == nil && n > 12 {
			return
		}
	}
	t.Fatalf("%s: no media came through", what)
}

// TestReferPerformedByServer: with enable_refer_support off, the server
// carries a client's blind transfer out itself, as the transferee (the
// PSTN party) would (RFC 3515 §2.4, RFC 5589 §6): 202 and NOTIFYs (100
// Trying, then 200 OK) to the client; an INVITE to the Refer-To target on
// the EDGE side (its user and URI parameters but transport kept: a
// number, or SfB call park's orbit), from the PSTN party, with the
// Referred-By (forward_call_history), offering our relay; once it
// answers, the PSTN party's leg stays and is re-INVITEd to the relay (the
// bypassed call is anchored, reason transferred), media flows between it
// and the target, and only the client's old leg gets BYE. The client's own
// BYE of that leg (RFC 5589: it hangs up after the final NOTIFY) gets 200
// and ends nothing; the call ends when the target hangs up, with one
// record naming the target's leg. Before, the PSTN party got BYE and the
// client was joined to the target.
func TestReferPerformedByServer(t *testing.T) {
	for _, tc := range []struct{ name, referTo, wantUser, wantParams string }{
		{"number", "<sip:+15550200@sfb.example.com;user=phone>", "+15550200", ";user=phone"},
		{"call park orbit", "<sip:alice@contoso.example;opaque=app:cpsp;gruu;transport=tcp;maddr=10.0.0.1>", "alice", ";opaque=app:cpsp;gruu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newTransferLab(t, nil)
			byeAnswered := make(chan struct{}, 1)
			l.caller.on(gosip.BYE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				l.caller.reply(req, tx, 200, nil)
				byeAnswered <- struct{}{}
			})
			oc := upCall(ctx, t, l.caller, l.srv, "udp")
			mediationtest.WaitMetric(t, l.srv, 1, "mediationserver_media_bypass_calls_active", "direction", "outbound")
			first := next(ctx, t, l.sbcCalls, "SBC's")
			refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
			refer.AppendHeader(gosip.NewHeader("Refer-To", tc.referTo))
			refer.AppendHeader(gosip.NewHeader("Referred-By", "<sip:bob@sfb.example.com>"))
			if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
				t.Fatalf("REFER got %d, want 202", res.StatusCode)
			}
			target := next(ctx, t, l.targets, "transfer")
			if want := "sip:" + tc.wantUser + "@" + l.edge.addr().String() + tc.wantParams; target.req.Recipient.String() != want {
				t.Errorf("transfer INVITE to %s, want %s", target.req.Recipient.String(), want)
			}
			if from := target.req.From().Address.User; from != first.req.To().Address.User {
				t.Errorf("transfer INVITE from %s, want the PSTN party %s", from, first.req.To().Address.User)
			}
			if by := headerValue(target.req, "Referred-By"); !strings.Contains(by, "bob@") {
				t.Errorf("transfer INVITE Referred-By %q, want the REFER's", by)
			}
			offer := media(t, "transfer INVITE", target.req.Body())
			if offer.RTP().Port() == uint16(sockPort(l.sbcMedia)) || offer.BypassID != "" {
				t.Errorf("target offered %s (bypass ID %q), want our relay", offer.RTP(), offer.BypassID)
			}
			notify := l.caller.waitLast(ctx, gosip.NOTIFY, 2)
			if !strings.HasPrefix(string(notify.Body()), "SIP/2.0 200") || !strings.HasPrefix(headerValue(notify, "Subscription-State"), "terminated") {
				t.Errorf("final NOTIFY %q, state %q", notify.Body(), headerValue(notify, "Subscription-State"))
			}
			if bye := l.caller.wait(ctx, gosip.BYE, 1); bye.CallID().Value() != oc.inv.CallID().Value() {
				t.Errorf("client's BYE in Call-ID %s, want its old leg's %s", bye.CallID().Value(), oc.inv.CallID().Value())
			}
			reinv := l.sbc.wait(ctx, gosip.INVITE, 2)
			if reinv.CallID().Value() != first.req.CallID().Value() {
				t.Fatalf("SBC's INVITE #2 in Call-ID %s, want the PSTN party's leg's %s", reinv.CallID().Value(), first.req.CallID().Value())
			}
			relayGW := media(t, "re-INVITE to the SBC", reinv.Body()).RTP()
			// The client hangs up its old leg once it has answered our
			// BYE there: that dialog is over, 481 (a BYE crossing ours
			// gets 200: ...TransferorHangsUpFirst), and the call goes on.
			select {
			case <-byeAnswered:
			case <-ctx.Done():
				t.Fatal("the client never answered our BYE")
			}
			if err := oc.d.Bye(ctx); err == nil || !strings.Contains(err.Error(), "481") {
				t.Fatalf("client's BYE of its old leg after ours: %v, want 481", err)
			}
			mediationtest.WaitMetric(t, l.srv, 0, "mediationserver_media_bypass_calls_active", "direction", "outbound")
			if calls := l.srv.Calls(); len(calls) != 1 || calls[0].BypassReason != "transferred" {
				t.Fatalf("calls after the transfer %+v, want one, anchored (transferred)", calls)
			}
			// The transferor's old Call-ID no longer names the call.
			if code, body := adminDo(t, http.MethodDelete, mediationtest.AdminURL(l.srv, "/calls/"+oc.inv.CallID().Value()), "", ""); code != 404 {
				t.Errorf("DELETE by the released leg's Call-ID = %d %s, want 404", code, body)
			}
			mediaFlows(ctx, t, "PSTN party -> target", l.sbcMedia, relayGW, l.targetMedia)
			mediaFlows(ctx, t, "target -> PSTN party", l.targetMedia, offer.RTP(), l.sbcMedia)
			if n := l.sbc.count(gosip.BYE); n != 0 {
				t.Fatalf("the PSTN party's leg got %d BYEs", n)
			}
			// The target hangs up: the PSTN party gets BYE, the call ends.
			target.mustWaitAck(ctx) // its BYE after our ACK (RFC 3261 §15), not ahead of its 200
			if res := target.do(ctx, target.inDialog(gosip.BYE, 2, nil)); res.StatusCode != 200 {
				t.Fatalf("target's BYE got %d", res.StatusCode)
			}
			if bye := l.sbc.wait(ctx, gosip.BYE, 1); bye.CallID().Value() != first.req.CallID().Value() {
				t.Errorf("SBC's BYE in Call-ID %s, want %s", bye.CallID().Value(), first.req.CallID().Value())
			}
			waitCalls(t, l.srv, 0)
			recs := readRecords(t, l.records)
			if len(recs) != 1 || recs[0].EdgeCallID != target.req.CallID().Value() || recs[0].GatewayCallID != first.req.CallID().Value() ||
				recs[0].BypassReason != "transferred" {
				t.Fatalf("records %+v, want one with the target's leg %s and the PSTN party's %s", recs, target.req.CallID().Value(), first.req.CallID().Value())
			}
			if n := l.caller.count(gosip.BYE); n != 1 {
				t.Errorf("client got %d BYEs, want 1", n)
			}
		})
	}
}

// inboundClient makes the edge next hop answer an inbound call as the
// client, with clientSDP, its leg on sbcCalls, and the transfer target
// (+15550200) as the lab's target.
func (l *transferLab) inboundClient(clientSDP []byte) {
	l.edge.invites(func(pi *peerInvite) {
		if pi.req.Recipient.User == "+15550200" {
			l.targets <- pi
			pi.respond(200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
			return
		}
		pi.respond(200, clientSDP)
		l.sbcCalls <- pi // the client's leg
	})
}

// TestReferPerformedByServerInbound: the PSTN calls the client, which
// transfers the caller to another number: the transfer INVITE goes to the
// edge from the PSTN caller, the SBC's leg stays (re-INVITEd, never BYE),
// the client's leg gets BYE, and the SBC's BYE later reaches the target.
func TestReferPerformedByServerInbound(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	l.inboundClient(loopSDP(sockPort(rtpSock(t)), "sendrecv", false, "PCMA"))
	oc := l.sbc.call(ctx, l.srv.GatewayAddr(), "udp", loopSDP(sockPort(l.sbcMedia), "sendrecv", false, "PCMU", "PCMA"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	client := next(ctx, t, l.sbcCalls, "client's")
	client.mustWaitAck(ctx)
	refer := client.inDialog(gosip.REFER, 2, nil, gosip.NewHeader("Refer-To", "<tel:+15550200>"))
	if res := client.do(ctx, refer); res.StatusCode != 202 {
		t.Fatalf("REFER got %d, want 202", res.StatusCode)
	}
	target := next(ctx, t, l.targets, "transfer")
	if from := target.req.From().Address.User; from != "+15550199" {
		t.Errorf("transfer INVITE from %s, want the PSTN caller +15550199", from)
	}
	if bye := l.edge.wait(ctx, gosip.BYE, 1); bye.CallID().Value() != client.req.CallID().Value() {
		t.Errorf("BYE in Call-ID %s, want the client's old leg's %s", bye.CallID().Value(), client.req.CallID().Value())
	}
	// The NOTIFYs (100, 200) go before the BYE, but the client's
	// handlers take each message on a goroutine of its own: wait.
	l.edge.wait(ctx, gosip.NOTIFY, 2)
	l.sbc.wait(ctx, gosip.INVITE, 1) // our re-INVITE to the relay (the SBC's first INVITE was its own)
	if n := l.sbc.count(gosip.BYE); n != 0 {
		t.Fatalf("the PSTN caller's leg got %d BYEs", n)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("SBC's BYE: %v", err)
	}
	if bye := l.edge.wait(ctx, gosip.BYE, 2); bye.CallID().Value() != target.req.CallID().Value() {
		t.Errorf("BYE #2 at the edge in Call-ID %s, want the target's %s", bye.CallID().Value(), target.req.CallID().Value())
	}
	waitCalls(t, l.srv, 0)
	if recs := readRecords(t, l.records); len(recs) != 1 || recs[0].EdgeCallID != target.req.CallID().Value() {
		t.Fatalf("records %+v, want one naming the target's leg", recs)
	}
}

// TestReferPerformedByServerFails: a transfer whose target is busy leaves
// the call as it was (bypassed, no BYE anywhere); the client's NOTIFY says
// 486.
func TestReferPerformedByServerFails(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	l.edge.invites(func(pi *peerInvite) { pi.respond(486, nil) })
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com>")
	notify := l.caller.waitLast(ctx, gosip.NOTIFY, 2)
	if !strings.HasPrefix(string(notify.Body()), "SIP/2.0 486") {
		t.Errorf("final NOTIFY %q, want the target's 486", notify.Body())
	}
	if n, m := l.sbc.count(gosip.BYE), l.caller.count(gosip.BYE); n != 0 || m != 0 {
		t.Errorf("BYEs after a failed transfer: SBC %d, client %d", n, m)
	}
	mediationtest.WaitMetric(t, l.srv, 1, "mediationserver_media_bypass_calls_active", "direction", "outbound")
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	l.sbc.wait(ctx, gosip.BYE, 1)
	waitCalls(t, l.srv, 0)
}

// TestReferPerformedByServerCancelled: a transfer target still ringing when
// the call ends (the PSTN party hangs up) is CANCELled (RFC 3261 §9.1), not
// left to ring and answer
// into a call that is gone.
func TestReferPerformedByServerCancelled(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	ringing := make(chan *gosip.Request, 1)
	l.edge.invites(func(pi *peerInvite) {
		pi.respond(180, nil)
		ringing <- pi.req
		<-pi.tx.Done() // sipgo answers the CANCEL and the INVITE 487
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	first := next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	var inv *gosip.Request
	select {
	case inv = <-ringing:
	case <-ctx.Done():
		t.Fatal("the transfer target never rang")
	}
	// The PSTN party hangs up while the target rings.
	if res := first.do(ctx, first.inDialog(gosip.BYE, first.req.CSeq().SeqNo+1, nil)); res.StatusCode != 200 {
		t.Fatalf("SBC's BYE got %d", res.StatusCode)
	}
	c := l.edge.wait(ctx, gosip.CANCEL, 1)
	if c.CallID().Value() != inv.CallID().Value() {
		t.Errorf("CANCEL in Call-ID %s, want the transfer INVITE's %s", c.CallID().Value(), inv.CallID().Value())
	}
	// The transferor's subscription ends with a final NOTIFY (RFC 6665
	// §4.2.2) before its BYE.
	if n := finalNotify(ctx, t, l.caller); !strings.HasPrefix(string(n.Body()), "SIP/2.0 487") ||
		!strings.HasPrefix(headerValue(n, "Subscription-State"), "terminated") {
		t.Errorf("final NOTIFY %q, state %q, want 487 and terminated", n.Body(), headerValue(n, "Subscription-State"))
	}
	l.caller.wait(ctx, gosip.BYE, 1)
	waitCalls(t, l.srv, 0)
}

// TestReferPerformedByServerStrictTarget: the edge side requires 100rel
// and session timers: the transfer INVITE asks for 100rel (Require) and a
// session timer as the side's calls do, the target's reliable 183 is
// PRACKed once with the right RAck, its 200's Session-Expires
// (refresher=uac) makes us refresh the new leg, and our BYE when the PSTN
// party hangs up reaches the target with a CSeq past the PRACK's.
func TestReferPerformedByServerStrictTarget(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, func(c *mediation.Config) {
		c.Edge.Prack = mediation.PrackRequired
		c.Edge.SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 30 * time.Second, MinSE: time.Second}
	})
	l.edge.invites(func(pi *peerInvite) {
		if got := pi.req.GetHeader("Require"); got == nil || !strings.Contains(got.Value(), "100rel") {
			t.Errorf("transfer INVITE Require %v, want 100rel", got)
		}
		if se := pi.req.GetHeader("Session-Expires"); se == nil || se.Value() != "30;refresher=uac" {
			t.Errorf("transfer INVITE Session-Expires %v, want 30;refresher=uac", se)
		}
		body := loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA")
		pi.reliable(183, 77, body)
		pi.p.wait(ctx, gosip.PRACK, 1)
		pi.respond(200, body, gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer"))
		l.targets <- pi
	})
	l.edge.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { // our refreshes
		l.edge.reply(req, tx, 200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"), gosip.NewHeader("Session-Expires", "2;refresher=uac"))
	})
	oc := l.caller.call(ctx, l.srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"), gosip.NewHeader("Supported", "100rel, timer"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	sbcCall := next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	prack := l.edge.wait(ctx, gosip.PRACK, 1)
	if rack := prack.GetHeader("RAck"); rack == nil || rack.Value() != "77 "+target.req.CSeq().Value()[:strings.IndexByte(target.req.CSeq().Value(), ' ')]+" INVITE" {
		t.Errorf("PRACK RAck %v, want 77 %s", rack, target.req.CSeq().Value())
	}
	if notify := finalNotify(ctx, t, l.caller); !strings.HasPrefix(string(notify.Body()), "SIP/2.0 200") {
		t.Fatalf("final NOTIFY %q, want 200", notify.Body())
	}
	refresh := l.edge.wait(ctx, gosip.INVITE, 2) // the transfer INVITE, then our refresh
	if refresh.CallID().Value() != target.req.CallID().Value() {
		t.Errorf("refresh in Call-ID %s, want the transfer leg's %s", refresh.CallID().Value(), target.req.CallID().Value())
	}
	if res := sbcCall.do(ctx, sbcCall.inDialog(gosip.BYE, 2, nil)); res.StatusCode != 200 {
		t.Fatalf("SBC's BYE got %d", res.StatusCode)
	}
	bye := l.edge.wait(ctx, gosip.BYE, 1)
	if bye.CallID().Value() != target.req.CallID().Value() || bye.CSeq().SeqNo <= prack.CSeq().SeqNo {
		t.Errorf("BYE in %s CSeq %d, want the target's leg past the PRACK's %d", bye.CallID().Value(), bye.CSeq().SeqNo, prack.CSeq().SeqNo)
	}
	if n := l.edge.count(gosip.PRACK); n != 1 {
		t.Errorf("%d PRACKs, want 1", n)
	}
	waitCalls(t, l.srv, 0)
}

// TestReferPerformedByServerTransferorHangsUpFirst: a client that hangs up
// its old leg as soon as the final NOTIFY comes, before answering it (its
// BYE and ours would cross), gets 200; the call goes on between the PSTN
// party and the target, and the client gets no BYE of ours after its own.
func TestReferPerformedByServerTransferorHangsUpFirst(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	var oc *outCall
	byeRes := make(chan error, 1)
	l.caller.on(gosip.NOTIFY, func(req *gosip.Request, tx gosip.ServerTransaction) {
		if strings.HasPrefix(headerValue(req, "Subscription-State"), "terminated") {
			byeRes <- oc.d.Bye(ctx)
		}
		l.caller.reply(req, tx, 200, nil)
	})
	oc = upCall(ctx, t, l.caller, l.srv, "udp")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	select {
	case err := <-byeRes:
		if err != nil {
			t.Fatalf("client's BYE of its old leg: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("no final NOTIFY")
	}
	l.caller.wait(ctx, gosip.NOTIFY, 2)
	l.sbc.wait(ctx, gosip.INVITE, 2) // the re-INVITE to the relay
	if n := l.srv.ActiveCalls(); n != 1 {
		t.Fatalf("%d calls after the transferor hung up, want 1", n)
	}
	l.targetHangsUp(ctx, t, target)
	if n := l.caller.count(gosip.BYE); n != 0 {
		t.Errorf("client got %d BYEs after hanging up itself", n)
	}
}

// TestReferPerformedByServerPSTNPartyMoves: the SBC answers our re-INVITE
// to the relay with media at a new port: the relay sends the target's
// media there.
func TestReferPerformedByServerPSTNPartyMoves(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	moved := rtpSock(t)
	l.sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		l.sbc.reply(req, tx, 200, loopSDP(sockPort(moved), "sendrecv", false, "PCMA"))
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	l.sbc.waitSeq(ctx, gosip.ACK, l.sbc.wait(ctx, gosip.INVITE, 2).CSeq().SeqNo) // the re-INVITE's
	mediaFlows(ctx, t, "target -> PSTN party's new port", l.targetMedia, media(t, "transfer INVITE", target.req.Body()).RTP(), moved)
	target.mustWaitAck(ctx) // its BYE after our ACK (RFC 3261 §15), not ahead of its 200
	if res := target.do(ctx, target.inDialog(gosip.BYE, 2, nil)); res.StatusCode != 200 {
		t.Fatalf("target's BYE got %d", res.StatusCode)
	}
	waitCalls(t, l.srv, 0)
}

// TestReferPerformedByServerHeldCall: the client holds the PSTN party
// (a=sendonly, the SBC answers recvonly), as SfB clients do before they
// transfer, then transfers it. The hold was the transferor's and ends with
// its leg: the target is offered sendrecv and the PSTN party re-INVITEd
// sendrecv. Before, the hold was carried into the new call: one-way audio
// with nobody left to resume.
func TestReferPerformedByServerHeldCall(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	sbcPort := sockPort(l.sbcMedia)
	l.sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		dir := "sendrecv"
		if strings.Contains(string(req.Body()), "a=sendonly") {
			dir = "recvonly"
		}
		l.sbc.reply(req, tx, 200, loopSDP(sbcPort, dir, false, "PCMA"))
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	if res := callerReinvites(t, oc)(ctx, fixtureBody(t, "hold-offer.sdp")); res.StatusCode != 200 {
		t.Fatalf("hold got %d", res.StatusCode)
	}
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	if d := media(t, "transfer INVITE", target.req.Body()).Direction; d != "" && d != "sendrecv" {
		t.Errorf("target offered %s, want sendrecv: the transferor's hold is not the PSTN party's", d)
	}
	reinv := l.sbc.waitLast(ctx, gosip.INVITE, 3) // the call's, the hold, the re-INVITE to the relay
	if d := media(t, "re-INVITE to the SBC", reinv.Body()).Direction; d != "" && d != "sendrecv" {
		t.Errorf("PSTN party re-INVITEd %s, want sendrecv", d)
	}
	l.targetHangsUp(ctx, t, target)
}

// TestReferPerformedByServerTransferorLeaves: the client hangs up right
// after its REFER's 202, while the target rings (blind-transfer phones
// do; RFC 5589 §6 lets it). The transfer goes on for the PSTN party: when
// the target answers, the PSTN party is re-INVITEd to it and never BYEd,
// the client hears nothing more; if the target refuses, the PSTN party has
// nobody left and gets BYE (endReason transfer_failed). Before, the
// client's BYE hung up the PSTN party and CANCELled the target.
func TestReferPerformedByServerTransferorLeaves(t *testing.T) {
	for _, answer := range []int{200, 486} {
		t.Run(fmt.Sprint(answer), func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newTransferLab(t, nil)
			release := make(chan struct{})
			targets := make(chan *peerInvite, 1)
			l.edge.invites(func(pi *peerInvite) {
				pi.respond(180, nil)
				select {
				case <-release:
				case <-ctx.Done():
					return
				}
				if answer == 200 {
					pi.respond(200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
				} else {
					pi.respond(answer, nil)
				}
				targets <- pi
			})
			oc := upCall(ctx, t, l.caller, l.srv, "udp")
			first := next(ctx, t, l.sbcCalls, "SBC's")
			refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
			refer.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com;user=phone>"))
			if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
				t.Fatalf("REFER got %d, want 202", res.StatusCode)
			}
			l.edge.wait(ctx, gosip.INVITE, 1)
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatalf("client's BYE: %v", err)
			}
			if n := l.edge.count(gosip.CANCEL); n != 0 {
				t.Fatalf("the target got CANCEL when the transferor left")
			}
			close(release)
			target := next(ctx, t, targets, "answered transfer")
			if answer == 200 {
				reinv := l.sbc.wait(ctx, gosip.INVITE, 2)
				if reinv.CallID().Value() != first.req.CallID().Value() {
					t.Fatalf("SBC's INVITE #2 in Call-ID %s, want the PSTN party's leg", reinv.CallID().Value())
				}
				if n := l.sbc.count(gosip.BYE); n != 0 {
					t.Fatalf("the PSTN party got BYE")
				}
				target.mustWaitAck(ctx) // its BYE after our ACK (RFC 3261 §15), not ahead of its 200
				if res := target.do(ctx, target.inDialog(gosip.BYE, 2, nil)); res.StatusCode != 200 {
					t.Fatalf("target's BYE got %d", res.StatusCode)
				}
			}
			l.sbc.wait(ctx, gosip.BYE, 1)
			waitCalls(t, l.srv, 0)
			if n := l.caller.count(gosip.BYE); n != 0 {
				t.Errorf("the transferor, gone, got %d BYEs", n)
			}
			recs := readRecords(t, l.records)
			want := "bye from edge"
			if answer != 200 {
				want = "transfer_failed"
			}
			if len(recs) != 1 || recs[0].EndReason != want {
				t.Fatalf("records %+v, want one ended %q", recs, want)
			}
		})
	}
}

// TestReferPerformedByServerRepointRefused: the PSTN party's re-INVITE to
// the relay, after the target answered, meets 491 (glare), or 500 with
// Retry-After (RFC 3261 §14.2: an INVITE of the SBC's crossed it): it is
// sent again after the RFC 3261 §14.1 wait, and the call goes on; the 500
// used to end it. Refused otherwise (488, a 500 without Retry-After), the
// PSTN party's old media path being gone, the call ends with BYE to both
// (transfer_failed) instead of leaving them without audio until the media
// timeout.
func TestReferPerformedByServerRepointRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		codes      []int
		retryAfter string
	}{
		{"491 then 200", []int{491, 200}, ""},
		{"500 with Retry-After then 200", []int{500, 200}, "0"},
		{"488", []int{488}, ""},
		{"500", []int{500}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newTransferLab(t, nil)
			sbcSDP := loopSDP(sockPort(l.sbcMedia), "sendrecv", false, "PCMA")
			n := 0
			l.sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				code := tc.codes[min(n, len(tc.codes)-1)]
				n++
				switch {
				case code == 200:
					l.sbc.reply(req, tx, 200, sbcSDP)
				case tc.retryAfter != "":
					l.sbc.reply(req, tx, code, nil, gosip.NewHeader("Retry-After", tc.retryAfter))
				default:
					l.sbc.reply(req, tx, code, nil)
				}
			})
			oc := upCall(ctx, t, l.caller, l.srv, "udp")
			next(ctx, t, l.sbcCalls, "SBC's")
			refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
			refer.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com;user=phone>"))
			if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
				t.Fatalf("REFER got %d, want 202", res.StatusCode)
			}
			target := next(ctx, t, l.targets, "transfer")
			if len(tc.codes) == 1 {
				l.sbc.wait(ctx, gosip.BYE, 1)
				l.edge.wait(ctx, gosip.BYE, 1)
				waitCalls(t, l.srv, 0)
				if recs := readRecords(t, l.records); len(recs) != 1 || recs[0].EndReason != "transfer_failed" {
					t.Fatalf("records %+v, want one ended transfer_failed", recs)
				}
				return
			}
			l.sbc.wait(ctx, gosip.INVITE, 3) // the call's, the refused one, the retry
			target.mustWaitAck(ctx)          // its BYE after our ACK (RFC 3261 §15), not ahead of its 200
			if res := target.do(ctx, target.inDialog(gosip.BYE, 2, nil)); res.StatusCode != 200 {
				t.Fatalf("target's BYE got %d", res.StatusCode)
			}
			l.sbc.wait(ctx, gosip.BYE, 1)
			waitCalls(t, l.srv, 0)
			if recs := readRecords(t, l.records); len(recs) != 1 || recs[0].EndReason != "bye from edge" {
				t.Fatalf("records %+v, want one ended by the target's BYE", recs)
			}
		})
	}
}

// TestReferPerformedByServerReleasedLegOnEnd: the transferor never answers
// the final NOTIFY (its BYE would follow the answer), and the call ends
// first: the released leg gets its BYE then, not never.
func TestReferPerformedByServerReleasedLegOnEnd(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	// Handlers run on goroutines of their own, a retransmitted NOTIFY's
	// beside its first copy's.
	var notifies atomic.Int32
	l.caller.on(gosip.NOTIFY, func(req *gosip.Request, tx gosip.ServerTransaction) {
		if notifies.Add(1) == 1 {
			l.caller.reply(req, tx, 200, nil) // 100 Trying; the final one gets nothing
		}
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	l.caller.wait(ctx, gosip.NOTIFY, 2)
	l.sbc.wait(ctx, gosip.INVITE, 2) // the PSTN party re-pointed
	if n := l.caller.count(gosip.BYE); n != 0 {
		t.Fatalf("the transferor got BYE before answering the final NOTIFY")
	}
	target.mustWaitAck(ctx) // its BYE after our ACK (RFC 3261 §15), not ahead of its 200
	if res := target.do(ctx, target.inDialog(gosip.BYE, 2, nil)); res.StatusCode != 200 {
		t.Fatalf("target's BYE got %d", res.StatusCode)
	}
	if bye := l.caller.wait(ctx, gosip.BYE, 1); bye.CallID().Value() != oc.inv.CallID().Value() {
		t.Errorf("transferor's BYE in Call-ID %s, want its old leg's", bye.CallID().Value())
	}
	waitCalls(t, l.srv, 0)
}

// TestReferPerformedByServerTarget422: the transfer target answers the
// INVITE 422 with a larger Min-SE (RFC 4028 §7.4): it is INVITEd again
// with that interval, as a callee would be, and the transfer completes;
// also when the edge's session timer is off and our INVITE asked for none
// (a proxy may put its own Session-Expires in it, §8.1): such a 422 used
// to fail the transfer (r28-review F5).
func TestReferPerformedByServerTarget422(t *testing.T) {
	for _, tc := range []struct {
		name  string
		timer mediation.SessionTimerConfig
	}{{"edge timer on", mediation.SessionTimerConfig{Enabled: true, Expires: 4 * time.Second, MinSE: time.Second}}, {"edge timer off", mediation.SessionTimerConfig{}}} {
		t.Run(tc.name, func(t *testing.T) { referPerformedByServerTarget422(t, tc.timer) })
	}
}

func referPerformedByServerTarget422(t *testing.T, timer mediation.SessionTimerConfig) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, func(c *mediation.Config) {
		if timer.Enabled {
			c.Edge.SessionTimer = timer
		}
	})
	l.edge.invites(func(pi *peerInvite) {
		if !strings.HasPrefix(headerValue(pi.req, "Session-Expires"), "10") {
			_ = pi.tx.Respond(pi.response(422, nil, gosip.NewHeader("Min-SE", "10")))
			return
		}
		l.targets <- pi
		pi.respond(200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer (after the 422)")
	if n := l.edge.count(gosip.INVITE); n != 2 {
		t.Errorf("the target got %d INVITEs, want the refused one and its retry", n)
	}
	l.sbc.wait(ctx, gosip.INVITE, 2) // the PSTN party re-pointed: the transfer is done
	l.targetHangsUp(ctx, t, target)
}

// TestReferPerformedByServerRepointRefreshes: on a trunk with session
// timers, the re-INVITE that moves the PSTN party to the relay carries the
// leg's Session-Expires, as our other re-offers do (a re-INVITE is a
// refresh, RFC 4028 §7.4).
func TestReferPerformedByServerRepointRefreshes(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, func(c *mediation.Config) {
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 90 * time.Second}
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	reinv := l.sbc.wait(ctx, gosip.INVITE, 2)
	if se := headerValue(reinv, "Session-Expires"); !strings.HasPrefix(se, "90") {
		t.Errorf("re-INVITE to the PSTN party has Session-Expires %q, want the leg's 90 s", se)
	}
	l.targetHangsUp(ctx, t, target)
}

// TestReferPerformedByServerRefreshDuringRepoint: the trunk's session
// timer has us refresh the PSTN party's leg by re-INVITE every second (2 s
// interval, an SBC that allows no UPDATE), and the re-INVITE that re-points
// the PSTN party to the relay after the transfer gets 491, so that it waits
// RFC 3261 §14.1's wait (1.5 s here, SetGlareWait) while our refresh falls
// due. The refresh waits for the re-point, which refreshes the session
// itself (RFC 4028 §7.4): no INVITE of ours reaches the SBC during the wait
// (a refresh re-INVITE there is the re-point sent again early, against
// §14.1), none offers the pre-transfer media (which would point the SBC
// back at the path the transfer left), the re-point's retry comes with the
// relay's address, the call goes on (no BYE: the deferral expires nothing)
// and our refreshes resume after it, with the relay's address too. Before,
// the refresh went out during the wait.
func TestReferPerformedByServerRefreshDuringRepoint(t *testing.T) {
	const glare = 1500 * time.Millisecond
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLabOn(t, "127.0.91.1", func(c *mediation.Config) {
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 2 * time.Second, MinSE: time.Second}
		mediation.SetGlareWait(c, glare)
	})
	sbcSDP := loopSDP(sockPort(l.sbcMedia), "sendrecv", false, "PCMA")
	at := func(body []byte) netip.AddrPort {
		m := media(t, "SBC's INVITE", body)
		return netip.AddrPortFrom(m.Addr, uint16(m.Port))
	}
	type seen struct {
		at   netip.AddrPort
		when time.Time
	}
	var mu sync.Mutex
	var old netip.AddrPort  // the media our INVITE gave the SBC
	var refusedAt time.Time // the first re-point's 491
	var after []seen        // our INVITEs since
	l.sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		addr := at(req.Body())
		mu.Lock()
		first := refusedAt.IsZero() && addr != old
		if first {
			refusedAt = time.Now()
		} else if !refusedAt.IsZero() {
			after = append(after, seen{addr, time.Now()})
		}
		mu.Unlock()
		if first {
			l.sbc.reply(req, tx, 491, nil)
			return
		}
		l.sbc.reply(req, tx, 200, sbcSDP)
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	mu.Lock()
	old = at(next(ctx, t, l.sbcCalls, "SBC's").req.Body())
	mu.Unlock()
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	// After the 491: the re-point's retry, then a refresh of ours.
	n := l.sbc.count(gosip.INVITE)
	for {
		mu.Lock()
		k := len(after)
		mu.Unlock()
		if k >= 2 {
			break
		}
		n++
		l.sbc.wait(ctx, gosip.INVITE, n)
	}
	mu.Lock()
	got, refused := slices.Clone(after), refusedAt
	mu.Unlock()
	if d := got[0].when.Sub(refused); d < glare-100*time.Millisecond {
		t.Errorf("an INVITE of ours reached the SBC %v after the re-point's 491, within RFC 3261 §14.1's %v wait: a refresh that did not wait for the re-point", d, glare)
	}
	for i, s := range got {
		switch {
		case s.at == old:
			t.Errorf("the SBC's INVITE #%d after the re-point's 491 offers the pre-transfer media %v: a refresh pointing it back at the old path", i+1, s.at)
		case s.at.Addr() != l.host:
			t.Errorf("the SBC's INVITE #%d after the re-point's 491 offers media at %v, not the relay's %v", i+1, s.at, l.host)
		}
	}
	if n := l.sbc.count(gosip.BYE); n != 0 {
		t.Fatal("the PSTN party got BYE")
	}
	l.targetHangsUp(ctx, t, target)
}

// TestReferPerformedByServerTransferorLeavesRefreshing: we refresh the
// client's leg (it asked refresher=uas); the client hangs up after its
// REFER's 202 while the target rings. Its leg's refresh cycle goes with
// it: a refresh sent into the dead dialog (481, or no answer) used to end
// the PSTN party's call as "session refresh failed" before the target
// answered.
func TestReferPerformedByServerTransferorLeavesRefreshing(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, func(c *mediation.Config) {
		c.Edge.SessionTimer = mediation.SessionTimerConfig{MinSE: time.Second}
	})
	release := l.ringingTarget(ctx)
	// Our refresh reaches the client as it hangs up: it answers 481 once
	// its dialog is gone.
	gone, refreshing, refused := make(chan struct{}), make(chan struct{}, 4), make(chan struct{}, 4)
	for _, m := range []gosip.RequestMethod{gosip.UPDATE, gosip.INVITE} {
		l.caller.on(m, func(req *gosip.Request, tx gosip.ServerTransaction) {
			refreshing <- struct{}{}
			select {
			case <-gone:
			case <-ctx.Done():
			}
			l.caller.reply(req, tx, 481, nil)
			refused <- struct{}{}
		})
	}
	oc := l.caller.call(ctx, l.srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"),
		gosip.NewHeader("Supported", "timer"), gosip.NewHeader("Session-Expires", "2;refresher=uas"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 || !strings.Contains(valueOf(res.GetHeader("Session-Expires")), "refresher=uas") {
		t.Fatalf("call got %d (Session-Expires %q), want 200 with us refreshing", res.StatusCode, valueOf(res.GetHeader("Session-Expires")))
	}
	_ = oc.d.Ack(ctx)
	next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	l.edge.wait(ctx, gosip.INVITE, 1)
	select {
	case <-refreshing:
	case <-ctx.Done():
		t.Fatal("no refresh of the client's leg")
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("client's BYE: %v", err)
	}
	close(gone)
	// The 481 goes out before the target answers: both reach the server's
	// edge socket, and the call, in that order.
	select {
	case <-refused:
	case <-ctx.Done():
		t.Fatal("the refresh was never refused")
	}
	close(release)
	target := next(ctx, t, l.targets, "transfer")
	l.sbc.wait(ctx, gosip.INVITE, 2) // re-pointed to the target
	if n := l.sbc.count(gosip.BYE); n != 0 {
		t.Fatalf("the PSTN party got BYE")
	}
	l.targetHangsUp(ctx, t, target)
}

// TestReferPerformedByServerLateAnswerOfOldLeg: the PSTN party's re-offer
// was relayed to the transferor when the target answered (the offer is
// then refused 491); the transferor's 2xx comes after that. It is ACKed in
// the transferor's own dialog and changes nothing of the target's: our
// BYE, when the PSTN party hangs up, still reaches the target. It used to
// move the target's dialog to the transferor's Contact.
func TestReferPerformedByServerLateAnswerOfOldLeg(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	answerHold := make(chan struct{})
	l.caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		select {
		case <-answerHold:
		case <-ctx.Done():
		}
		l.caller.reply(req, tx, 200, fixtureBody(t, "sfb-bypass-offer.sdp"))
	})
	release := l.ringingTarget(ctx)
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	first := next(ctx, t, l.sbcCalls, "SBC's")
	l.sbc.wait(ctx, gosip.ACK, 1)
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	l.edge.wait(ctx, gosip.INVITE, 1)
	// The PSTN party holds; its offer goes to the transferor, who waits.
	holdDone := make(chan int, 1)
	go func() {
		res := first.do(ctx, first.inDialog(gosip.INVITE, first.req.CSeq().SeqNo+1, fixtureBody(t, "hold-offer.sdp")))
		holdDone <- res.StatusCode
	}()
	l.caller.wait(ctx, gosip.INVITE, 1)
	close(release)
	next(ctx, t, l.targets, "transfer")
	if code := codeOf(ctx, t, holdDone, "the PSTN party's hold"); code != 491 {
		t.Errorf("the PSTN party's hold got %d, want 491 (the target answered)", code)
	}
	close(answerHold)                // the transferor's 200 comes late
	l.caller.wait(ctx, gosip.ACK, 1) // our ACK of its late 2xx
	if res := first.do(ctx, first.inDialog(gosip.BYE, first.req.CSeq().SeqNo+2, nil)); res.StatusCode != 200 {
		t.Fatalf("SBC's BYE got %d", res.StatusCode)
	}
	if bye := l.edge.wait(ctx, gosip.BYE, 1); bye == nil {
		t.Fatal("the target got no BYE")
	}
	waitCalls(t, l.srv, 0)
}

// TestReferPerformedByServerReleasedLegTrusted: requests in the
// transferor's released leg pass the in-dialog trust check as the call's
// own legs do: another client host's BYE there gets 403.
func TestReferPerformedByServerReleasedLegTrusted(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	intruder := startPeerOn(t, "intruder", netip.MustParseAddrPort("127.0.0.3:0"), nil)
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	l.caller.wait(ctx, gosip.BYE, 1) // released
	bye := gosip.NewRequest(gosip.BYE, oc.final.Contact().Address)
	from, to, callID := oc.inv.From(), oc.final.To(), *oc.inv.CallID()
	bye.AppendHeader(&gosip.FromHeader{Address: from.Address, Params: from.Params.Clone()})
	bye.AppendHeader(&gosip.ToHeader{Address: to.Address, Params: to.Params.Clone()})
	bye.AppendHeader(&callID)
	bye.AppendHeader(&gosip.CSeqHeader{SeqNo: 50, MethodName: gosip.BYE})
	sendForeign(ctx, t, intruder, bye)
	l.targetHangsUp(ctx, t, target)
}

// finalNotify waits for the NOTIFY that ends a REFER's subscription
// (Subscription-State terminated) and returns it.
func finalNotify(ctx context.Context, t *testing.T, p *peer) *gosip.Request {
	t.Helper()
	for {
		p.mu.Lock()
		for _, r := range p.reqs {
			if r.Method == gosip.NOTIFY && strings.HasPrefix(headerValue(r, "Subscription-State"), "terminated") {
				p.mu.Unlock()
				return r
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%s: no final NOTIFY (got %s)", p.stack.Name(), p.methods())
		}
	}
}

// referAccepted sends the client's REFER to referTo in oc and wants 202.
func referAccepted(ctx context.Context, t *testing.T, oc *outCall, referTo string) *gosip.Request {
	t.Helper()
	refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
	refer.AppendHeader(gosip.NewHeader("Refer-To", referTo))
	if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
		t.Fatalf("REFER got %d, want 202", res.StatusCode)
	}
	return refer
}

// targetHangsUp: the transfer's target hangs up; the PSTN party gets BYE
// and the call ends.
func (l *transferLab) targetHangsUp(ctx context.Context, t *testing.T, target *peerInvite) {
	t.Helper()
	// After our ACK, as RFC 3261 §15 has a callee do: the lab's target is
	// handed over before its 200 is sent, and a BYE ahead of the 200
	// gets 481.
	target.mustWaitAck(ctx)
	if res := target.do(ctx, target.inDialog(gosip.BYE, 2, nil)); res.StatusCode != 200 {
		t.Fatalf("target's BYE got %d", res.StatusCode)
	}
	l.sbc.wait(ctx, gosip.BYE, 1)
	waitCalls(t, l.srv, 0)
}

// wentOn: the PSTN party's call went on with the transfer's target (no
// BYE to it so far); the target hangs up, and the call's one record says
// so.
func (l *transferLab) wentOn(ctx context.Context, t *testing.T, target *peerInvite) {
	t.Helper()
	if n := l.sbc.count(gosip.BYE); n != 0 {
		t.Fatal("the PSTN party got BYE")
	}
	l.targetHangsUp(ctx, t, target)
	if recs := readRecords(t, l.records); len(recs) != 1 || recs[0].EndReason != "bye from edge" {
		t.Fatalf("records %+v, want one ended by the target's BYE", recs)
	}
}

// TestReferPerformedByServerTargetForkAnswersLate: the transfer target
// forks and a second fork answers 200 after the first: that fork is ACKed
// and hung up in its own dialog (RFC 3261 §13.2.2.4), not ACKed in the
// answered fork's, and the transferred call goes on with the first.
func TestReferPerformedByServerTargetForkAnswersLate(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	l.edge.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
		l.targets <- pi
		if !pi.waitAck(ctx) {
			return
		}
		late := pi.response(200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
		late.To().Params.Add("tag", "forkB") // replaces pi's tag: another UAS
		_ = pi.tx.Respond(late)
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	bye := l.edge.wait(ctx, gosip.BYE, 1)
	if tag, _ := bye.To().Params.Get("tag"); tag != "forkB" {
		t.Errorf("BYE to the target's To-tag %q, want the late fork's", tag)
	}
	l.edge.mu.Lock()
	acked := false
	for _, m := range l.edge.wire {
		if r, ok := m.(*gosip.Request); ok && r.IsAck() {
			tag, _ := r.To().Params.Get("tag")
			acked = acked || tag == "forkB"
		}
	}
	l.edge.mu.Unlock()
	if !acked {
		t.Error("the late fork's 2xx was not ACKed in its own dialog")
	}
	if n := l.sbc.count(gosip.BYE); n != 0 {
		t.Fatal("the PSTN party got BYE")
	}
	l.targetHangsUp(ctx, t, target)
}

// TestReferPerformedByServerMutualHold: the PSTN party held first (its own
// sendonly offer), then the client held (inactive) and transferred: the
// PSTN party's own hold is kept in the new call (the target is offered
// sendonly), only the transferor's goes.
func TestReferPerformedByServerMutualHold(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	l.caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		l.caller.reply(req, tx, 200, bytes.Replace(fixtureBody(t, "sfb-bypass-offer.sdp"), []byte("a=sendrecv"), []byte("a=recvonly"), 1))
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	ackTaken(ctx, t, oc)
	first := next(ctx, t, l.sbcCalls, "SBC's")
	l.sbc.wait(ctx, gosip.ACK, 1)
	if res := first.do(ctx, first.inDialog(gosip.INVITE, first.req.CSeq().SeqNo+1, fixtureBody(t, "hold-offer.sdp"))); res.StatusCode != 200 {
		t.Fatalf("the PSTN party's hold got %d", res.StatusCode)
	}
	_ = first.p.stack.Client("udp").WriteRequest(first.inDialog(gosip.ACK, first.req.CSeq().SeqNo+1, nil))
	// The SBC's ACK comes in on another socket than the client's requests:
	// an OPTIONS behind it from the same socket, answered, says it has
	// been taken, so the client's hold cannot cross the SBC's re-INVITE
	// (491).
	if res := first.do(ctx, first.inDialog(gosip.OPTIONS, first.req.CSeq().SeqNo+2, nil)); res.StatusCode != 200 {
		t.Fatalf("the PSTN party's OPTIONS got %d", res.StatusCode)
	}
	ackTaken(ctx, t, oc)
	inactive := bytes.Replace(fixtureBody(t, "hold-offer.sdp"), []byte("a=sendonly"), []byte("a=inactive"), 1)
	if res := callerReinvites(t, oc)(ctx, inactive); res.StatusCode != 200 {
		t.Fatalf("the client's hold got %d", res.StatusCode)
	}
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	if d := media(t, "transfer INVITE", target.req.Body()).Direction; d != "sendonly" {
		t.Errorf("target offered %q, want sendonly: the PSTN party still holds", d)
	}
	l.targetHangsUp(ctx, t, target)
}

// ringingTarget makes the transfer target ring (180) until the returned
// channel is closed, then answer.
func (l *transferLab) ringingTarget(ctx context.Context) chan struct{} {
	release := make(chan struct{})
	l.edge.invites(func(pi *peerInvite) {
		pi.respond(180, nil)
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		l.targets <- pi
		pi.respond(200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
	})
	return release
}

// TestReferPerformedByServerTarget422Reliable: the transfer target sends a
// reliable 183 (To-tag T, RSeq 1), PRACKed, then 422; the retry's reliable
// 183, under the same tag and RSeq 1 again (a target deriving its tag from
// the Call-ID and From-tag, a sipp scenario), is a new one: PRACKed too
// (RFC 3262 §3-4: RSeq is per request), and the transfer completes. It was
// taken for a retransmission, never PRACKed (r27-review2 F4, as r27-early
// F2 for a callee).
func TestReferPerformedByServerTarget422Reliable(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, func(c *mediation.Config) {
		c.Edge.SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 4 * time.Second, MinSE: time.Second}
	})
	// pracks waits (within ctx) until the target has had n PRACKs.
	pracks := func(n int) bool {
		for l.edge.count(gosip.PRACK) < n {
			select {
			case <-time.After(5 * time.Millisecond):
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	l.edge.invites(func(pi *peerInvite) {
		pi.tag = "T"
		pi.reliable(183, 1, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
		if !strings.HasPrefix(headerValue(pi.req, "Session-Expires"), "10") {
			if pracks(1) {
				_ = pi.tx.Respond(pi.response(422, nil, gosip.NewHeader("Min-SE", "10")))
			}
			return
		}
		if !pracks(2) {
			return // never PRACKed: the test fails waiting for the target
		}
		l.targets <- pi
		pi.respond(200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer (after the 422, its reliable 183 PRACKed)")
	invs := l.edge.count(gosip.INVITE)
	retry := l.edge.wait(ctx, gosip.INVITE, invs)
	if prack := l.edge.wait(ctx, gosip.PRACK, 1); retry.CSeq().SeqNo <= prack.CSeq().SeqNo {
		t.Errorf("the retried INVITE has CSeq %d, not above our PRACK's %d", retry.CSeq().SeqNo, prack.CSeq().SeqNo)
	}
	l.sbc.wait(ctx, gosip.INVITE, 2) // the PSTN party re-pointed: the transfer is done
	l.targetHangsUp(ctx, t, target)
}

// repointed waits until the SBC has had n INVITEs, the call's own among
// them, and our ACK of the latest: the PSTN party re-pointed, the transfer
// done (a REFER before then gets 491). The ACK by its CSeq (waitSeq).
func (l *transferLab) repointed(ctx context.Context, n int) *gosip.Request {
	reinv := l.sbc.waitLast(ctx, gosip.INVITE, n)
	l.sbc.waitSeq(ctx, gosip.ACK, reinv.CSeq().SeqNo)
	return reinv
}

// newRepointLab is a transfer lab on 127.0.83.1 whose RFC 3261 §14.1
// wait before an INVITE that met 491 goes again is an hour
// (mediation.SetGlareWait): a re-point that waited for it would not come
// before the test's deadline, so one that comes went on an event.
func newRepointLab(t *testing.T, configure func(*mediation.Config)) *transferLab {
	t.Helper()
	return newTransferLabOn(t, "127.0.83.1", func(c *mediation.Config) {
		mediation.SetGlareWait(c, time.Hour)
		if configure != nil {
			configure(c)
		}
	})
}

// repointPrompt bounds how long after the end of the exchange it waited
// for the re-point may come: well under the shortest RFC 3261 §14.1 wait
// in the PSTN party's dialog of an outbound call (2.1 s: its Call-ID is
// ours), which the re-point used to wait at least, and under half the
// session interval of TestReferPerformedByServerRepointWaitsForRefresh,
// whose next refresh carries the relay's SDP as the re-point does.
const repointPrompt = time.Second

// repointOnEnd waits for the re-INVITE that re-points the PSTN party, the
// SBC's nth INVITE, and checks that it went on the end of the exchange it
// waited for: within repointPrompt of ended, when the SBC ended that
// exchange, and, when a 2xx of the SBC's to an INVITE of ours with CSeq
// ackSeq ended it, after our ACK of that 2xx (in the order the SBC read
// them; 0: nothing to look for: the SBC's own ACK ended it, or a non-2xx
// response, whose ACK the transaction layer sends in no set order with
// what the call does next, RFC 3261 §17.1.1.3). The re-point
// is known by its SDP, the relay's (the lab's call was bypassed before):
// not a session refresh of ours, which would carry the old one. Then
// waits for our ACK of the re-point's 200.
func (l *transferLab) repointOnEnd(ctx context.Context, t *testing.T, n int, ackSeq uint32, ended time.Time) *gosip.Request {
	t.Helper()
	reinv := l.sbc.waitLast(ctx, gosip.INVITE, n)
	if addr := media(t, "re-point", reinv.Body()).Addr; addr != l.host {
		t.Fatalf("the SBC's INVITE #%d offers media at %v, not the relay's %v: the re-point has not come", n, addr, l.host)
	}
	if d := time.Since(ended); d > repointPrompt {
		t.Errorf("the re-point came %v after the exchange it waited for ended, want within %v: on that end, not after RFC 3261 §14.1's wait", d, repointPrompt)
	}
	if ackSeq != 0 {
		if ack, inv := l.sbc.wireAt(gosip.ACK, ackSeq), l.sbc.wireAt(gosip.INVITE, reinv.CSeq().SeqNo); ack < 0 || inv < ack {
			t.Errorf("the re-point (CSeq %d) came before our ACK of the exchange it waited for (CSeq %d): it crossed it (RFC 3261 §14.1)", reinv.CSeq().SeqNo, ackSeq)
		}
	}
	l.sbc.waitSeq(ctx, gosip.ACK, reinv.CSeq().SeqNo)
	return reinv
}

// wireAt is the place of the first request with method and CSeq number
// seq among the messages p read, -1 for none.
func (p *peer) wireAt(method gosip.RequestMethod, seq uint32) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, m := range p.wire {
		if r, ok := m.(*gosip.Request); ok && r.Method == method && r.CSeq().SeqNo == seq {
			return i
		}
	}
	return -1
}

// strictSBC makes the lab's SBC answer INVITEs as RFC 3261 §14.2 has a UAS
// do: one that comes while another of ours is pending in the dialog (its
// final response not sent yet) gets 500 with Retry-After, and is counted
// as an overlap (RFC 3261 §14.1: a UAC MUST NOT send it); the others get
// 200 with the SBC's SDP (recvonly to a hold) and hdrs once pause(req)
// returns, unless a CANCEL ended it first (487). noOverlaps fails the
// test if any came. An INVITE is no longer pending from just before its final
// response goes: an INVITE of ours sent on that response (a re-point that
// waited for it) is no overlap.
func (l *transferLab) strictSBC(pause func(req *gosip.Request), hdrs ...gosip.Header) (noOverlaps func(t *testing.T)) {
	sdp := loopSDP(sockPort(l.sbcMedia), "sendrecv", false, "PCMA")
	var pending, overlapped atomic.Int32
	l.sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		over := sync.OnceFunc(func() { pending.Add(-1) })
		if pending.Add(1) > 1 {
			over()
			overlapped.Add(1)
			l.sbc.reply(req, tx, 500, nil, gosip.NewHeader("Retry-After", "1"))
			return
		}
		cancelled, paused := make(chan struct{}), make(chan struct{})
		// The stack answers 487 once this returns.
		tx.OnCancel(func(*gosip.Request) { over(); close(cancelled) })
		go func() { pause(req); close(paused) }()
		select {
		case <-paused:
		case <-cancelled:
			return
		}
		body := sdp
		if bytes.Contains(req.Body(), []byte("a=sendonly")) {
			body = bytes.Replace(sdp, []byte("a=sendrecv"), []byte("a=recvonly"), 1)
		}
		over()
		l.sbc.reply(req, tx, 200, body, hdrs...)
	})
	return func(t *testing.T) {
		t.Helper()
		if n := overlapped.Load(); n != 0 {
			t.Errorf("%d INVITE(s) of ours in the PSTN party's dialog while another was pending (RFC 3261 §14.1)", n)
		}
	}
}

// TestReferPerformedByServerRepointWaitsForReoffer: the client's re-INVITE
// (a hold), sent while the target rings, is relayed to the SBC, which has
// not answered it when the target answers. The client gets 491 (its leg
// is replaced), and the re-INVITE that re-points the PSTN party waits for
// the SBC's final response to the relayed one (RFC 3261 §14.1: no second
// INVITE of ours while one is pending in the dialog), then goes at once,
// after our ACK of it. It used to go at once, and the SBC's 500 to it
// (RFC 3261 §14.2) ended the call (transfer_failed) although the target
// had answered (r28-refer F1); then it waited for RFC 3261 §14.1's 2.1-4 s
// after that response, the PSTN party hearing nothing meanwhile (the lab
// makes that wait an hour).
func TestReferPerformedByServerRepointWaitsForReoffer(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newRepointLab(t, nil)
	release := l.ringingTarget(ctx)
	noOverlaps := l.strictSBC(func(req *gosip.Request) {
		if !bytes.Contains(req.Body(), []byte("a=sendonly")) {
			return
		}
		select { // the SBC answers the hold only after the target answered
		case <-release:
			time.Sleep(300 * time.Millisecond)
		case <-ctx.Done():
		}
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	l.sbc.wait(ctx, gosip.ACK, 1)
	ackTaken(ctx, t, oc)
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	l.edge.wait(ctx, gosip.INVITE, 1) // the target rings
	hold := clientHolds(ctx, t, oc)
	l.sbc.wait(ctx, gosip.INVITE, 2) // the relayed hold, pending at the SBC
	// From here the hold's end (a 487 to our CANCEL, or the SBC's 200)
	// is at most 300 ms away; the SBC counts an INVITE of ours that comes
	// before it (noOverlaps).
	ended := time.Now()
	close(release)
	target := next(ctx, t, l.targets, "transfer")
	if code := codeOf(ctx, t, hold, "the client's re-INVITE"); code != 491 {
		t.Errorf("the client's re-INVITE got %d, want 491 (its leg was replaced)", code)
	}
	repoint := l.repointOnEnd(ctx, t, 3, 0, ended.Add(300*time.Millisecond))
	if bytes.Contains(repoint.Body(), []byte("a=sendonly")) {
		t.Errorf("the PSTN party was re-pointed on hold: the transferor's hold ended with its leg")
	}
	noOverlaps(t)
	l.wentOn(ctx, t, target)
}

// TestReferPerformedByServerReferDuringRepoint: the target answers and at
// once transfers the call on (an auto-attendant, a call queue) while the
// SBC has not answered the re-INVITE that re-points the PSTN party. The
// transfer is not done until then: the REFER gets 491, as one during an
// offer does, and once the re-point is answered a REFER again is taken and
// the second transfer completes. The second transfer used to start, and
// its re-point to go while the first was pending (RFC 3261 §14.1); the
// SBC's 500 ended the call (r28-refer F1).
func TestReferPerformedByServerReferDuringRepoint(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	noOverlaps := l.strictSBC(func(*gosip.Request) { time.Sleep(300 * time.Millisecond) }) // a slow SBC
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	l.sbc.wait(ctx, gosip.ACK, 1)
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	first := next(ctx, t, l.targets, "first transfer")
	first.mustWaitAck(ctx)
	l.sbc.wait(ctx, gosip.INVITE, 2) // the re-point, pending at the SBC
	referTo := gosip.NewHeader("Refer-To", "<sip:+15550300@sfb.example.com;user=phone>")
	if res := first.do(ctx, first.inDialog(gosip.REFER, 2, nil, referTo)); res.StatusCode != 491 {
		t.Fatalf("the target's REFER during the re-point got %d, want 491", res.StatusCode)
	}
	l.repointed(ctx, 2) // the first transfer is done
	if res := first.do(ctx, first.inDialog(gosip.REFER, 3, nil, referTo)); res.StatusCode != 202 {
		t.Fatalf("the target's REFER after the re-point got %d, want 202", res.StatusCode)
	}
	second := next(ctx, t, l.targets, "second transfer")
	l.repointed(ctx, 3) // the second is done
	noOverlaps(t)
	if n := l.sbc.count(gosip.BYE); n != 0 {
		t.Fatal("the PSTN party got BYE")
	}
	l.targetHangsUp(ctx, t, second)
}

// TestReferPerformedByServerRepointWaitsForRefresh: we refresh the PSTN
// party's session by re-INVITE (the trunk's session_timer, the SBC allows
// no UPDATE), and the target answers while the SBC has not answered that
// refresh: the re-point waits for it (RFC 3261 §14.1), then goes at once,
// after our ACK of the refresh's 200, and the call goes on. It used to go
// at once, and the SBC's 500 ended the call (r28-refer F1); then it waited
// for RFC 3261 §14.1's 2.1-4 s after that 200 (the lab makes that wait an
// hour).
func TestReferPerformedByServerRepointWaitsForRefresh(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newRepointLab(t, func(c *mediation.Config) {
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 4 * time.Second, MinSE: time.Second}
	})
	release := make(chan struct{})
	var held atomic.Bool
	noOverlaps := l.strictSBC(func(*gosip.Request) {
		if held.CompareAndSwap(false, true) { // our refresh: answered once the target has answered
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
	}, gosip.NewHeader("Session-Expires", "4;refresher=uac"))
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	l.sbc.wait(ctx, gosip.ACK, 1)
	refresh := l.sbc.waitLast(ctx, gosip.INVITE, 2) // our session refresh, pending at the SBC
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	target.mustWaitAck(ctx)
	ended := time.Now()
	close(release)
	l.repointOnEnd(ctx, t, 3, refresh.CSeq().SeqNo, ended)
	noOverlaps(t)
	if n := l.sbc.count(gosip.BYE); n != 0 {
		t.Fatal("the PSTN party got BYE")
	}
	l.targetHangsUp(ctx, t, target)
}

// TestReferPerformedByServerRepointWaitsForAck: the SBC re-INVITEs (a
// hold), relayed to the client, which answers; our 200 to the SBC waits
// for its ACK when the client transfers the call and the target answers.
// The re-point waits for that ACK (RFC 3261 §14.1: the SBC's INVITE
// transaction is not over until then), and goes as soon as it comes; it
// used to wait for RFC 3261
// §14.1's 2.1-4 s after it (the lab makes that wait an hour). An SBC that
// never ACKs does not leave the call waiting: our 2xx gives up after
// 64*T1 (RFC 3261 §13.3.1.4) and the call ends, the target and the SBC
// getting BYE, as it would without the transfer.
func TestReferPerformedByServerRepointWaitsForAck(t *testing.T) {
	for _, acks := range []bool{true, false} {
		name := map[bool]string{true: "acked", false: "never acked"}[acks]
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newRepointLab(t, func(c *mediation.Config) {
				// 64*T1 = 2.56 s for our 2xx's ACK: time for the transfer.
				c.SIP.T1 = 40 * time.Millisecond
			})
			l.caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				l.caller.reply(req, tx, 200, bytes.Replace(fixtureBody(t, "sfb-bypass-offer.sdp"), []byte("a=sendrecv"), []byte("a=recvonly"), 1))
			})
			oc := upCall(ctx, t, l.caller, l.srv, "udp")
			ackTaken(ctx, t, oc) // no 2xx of ours waits for the client's ACK
			first := next(ctx, t, l.sbcCalls, "SBC's")
			l.sbc.wait(ctx, gosip.ACK, 1)
			seq := first.req.CSeq().SeqNo + 1
			if res := first.do(ctx, first.inDialog(gosip.INVITE, seq, fixtureBody(t, "hold-offer.sdp"))); res.StatusCode != 200 {
				t.Fatalf("the PSTN party's hold got %d", res.StatusCode)
			}
			// The SBC holds its ACK back.
			ackTaken(ctx, t, oc)
			referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
			target := next(ctx, t, l.targets, "transfer")
			target.mustWaitAck(ctx)
			if !acks {
				l.edge.wait(ctx, gosip.BYE, 1) // the call ends after 64*T1
				l.sbc.wait(ctx, gosip.BYE, 1)
				waitCalls(t, l.srv, 0)
				if recs := readRecords(t, l.records); len(recs) != 1 || recs[0].EndReason != "no ACK for our 2xx to a re-INVITE" {
					t.Errorf("records %+v, want one ended for want of the SBC's ACK", recs)
				}
				if n := l.sbc.count(gosip.INVITE); n != 1 {
					t.Errorf("the SBC got %d INVITEs, want its call's only: no re-point while our 2xx waited for its ACK", n)
				}
				return
			}
			if n := l.sbc.count(gosip.INVITE); n != 1 {
				t.Fatalf("the SBC got %d INVITEs before its ACK, want its call's only: the re-point crossed its INVITE transaction (RFC 3261 §14.1)", n)
			}
			ended := time.Now()
			_ = first.p.stack.Client("udp").WriteRequest(first.inDialog(gosip.ACK, seq, nil))
			l.repointOnEnd(ctx, t, 2, 0, ended)
			l.wentOn(ctx, t, target)
		})
	}
}

// TestReferPerformedByServerTransferorGoneReoffer: the transferor hangs up
// after its REFER's 202 while the target rings (RFC 5589 §6), and the PSTN
// party offers (a hold by re-INVITE, then by UPDATE): nothing reaches the
// transferor's ended dialog. Each offer gets 491, and the PSTN party's
// call goes on; a session refresh without SDP is answered here, as ever.
// Once the target has answered and the PSTN party is re-pointed, its offer
// again goes to the target. Such an offer used to be relayed to the
// transferor, whose 481 ended the PSTN party's call while the target rang
// (r28-refer F2).
func TestReferPerformedByServerTransferorGoneReoffer(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	release := l.ringingTarget(ctx)
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	first := next(ctx, t, l.sbcCalls, "SBC's")
	l.sbc.wait(ctx, gosip.ACK, 1)
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	l.edge.wait(ctx, gosip.INVITE, 1) // the target rings
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("client's BYE: %v", err)
	}
	// Its dialog is over: it answers anything in it 481 (RFC 3261 §12.2.2).
	for _, m := range []gosip.RequestMethod{gosip.INVITE, gosip.UPDATE} {
		l.caller.on(m, func(req *gosip.Request, tx gosip.ServerTransaction) { l.caller.reply(req, tx, 481, nil) })
	}
	hold, seq := fixtureBody(t, "hold-offer.sdp"), first.req.CSeq().SeqNo
	for _, m := range []gosip.RequestMethod{gosip.INVITE, gosip.UPDATE} {
		seq++
		if res := first.do(ctx, first.inDialog(m, seq, hold)); res.StatusCode != 491 {
			t.Errorf("the PSTN party's hold by %s while the target rings got %d, want 491", m, res.StatusCode)
		}
	}
	seq++
	if res := first.do(ctx, first.inDialog(gosip.UPDATE, seq, nil)); res.StatusCode != 200 {
		t.Errorf("the PSTN party's session refresh while the target rings got %d, want 200", res.StatusCode)
	}
	if n := l.caller.count(gosip.INVITE) + l.caller.count(gosip.UPDATE); n != 0 {
		t.Errorf("the transferor, gone, got %d request(s) in the dialog its BYE ended", n)
	}
	close(release)
	target := next(ctx, t, l.targets, "transfer")
	l.repointed(ctx, 2)
	seq++
	res := first.do(ctx, first.inDialog(gosip.INVITE, seq, hold))
	if res.StatusCode != 200 {
		t.Fatalf("the PSTN party's hold after the transfer got %d, want 200", res.StatusCode)
	}
	_ = first.p.stack.Client("udp").WriteRequest(first.inDialog(gosip.ACK, seq, nil))
	if reinv := l.edge.wait(ctx, gosip.INVITE, 2); reinv.CallID().Value() != target.req.CallID().Value() {
		t.Errorf("the PSTN party's hold went in Call-ID %s, want the target's", reinv.CallID().Value())
	}
	l.wentOn(ctx, t, target)
}

// TestReferPerformedByServerTransferorLeavesOfferPending: the transferor
// hangs up while the target rings with an offer pending across the call.
// The PSTN party's, relayed to the transferor, gets 491 (as a later one
// would: TestReferPerformedByServerTransferorGoneReoffer), and the
// transferor's 481 to it, for the dialog its BYE ended, changes nothing; it
// used to end the call. The transferor's own, relayed to the PSTN party,
// gets 487 (RFC 3261 §15.1.2), and the re-point waits for the SBC's answer
// to it (RFC 3261 §14.1). Either way the transfer completes.
func TestReferPerformedByServerTransferorLeavesOfferPending(t *testing.T) {
	for _, from := range []string{"PSTN party", "transferor"} {
		t.Run(from, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newTransferLab(t, nil)
			release, gone, refused := l.ringingTarget(ctx), make(chan struct{}), make(chan struct{}, 1)
			l.caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				select {
				case <-gone:
				case <-ctx.Done():
				}
				l.caller.reply(req, tx, 481, nil)
				refused <- struct{}{}
			})
			noOverlaps := l.strictSBC(func(req *gosip.Request) {
				if bytes.Contains(req.Body(), []byte("a=sendonly")) {
					select { // the SBC answers the transferor's hold once it left
					case <-gone:
					case <-ctx.Done():
					}
				}
			})
			oc := upCall(ctx, t, l.caller, l.srv, "udp")
			first := next(ctx, t, l.sbcCalls, "SBC's")
			l.sbc.wait(ctx, gosip.ACK, 1)
			ackTaken(ctx, t, oc)
			referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
			l.edge.wait(ctx, gosip.INVITE, 1) // the target rings
			var hold <-chan int
			want := 491
			if from == "PSTN party" {
				ch := make(chan int, 1)
				hold = ch
				go func() {
					ch <- first.do(ctx, first.inDialog(gosip.INVITE, first.req.CSeq().SeqNo+1, fixtureBody(t, "hold-offer.sdp"))).StatusCode
				}()
				l.caller.wait(ctx, gosip.INVITE, 1) // relayed to the transferor, which does not answer
			} else {
				want, hold = 487, clientHolds(ctx, t, oc)
				l.sbc.wait(ctx, gosip.INVITE, 2) // relayed to the SBC, which does not answer yet
			}
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatalf("client's BYE: %v", err)
			}
			if code := codeOf(ctx, t, hold, "the "+from+"'s hold"); code != want {
				t.Errorf("the %s's hold got %d when the transferor left, want %d", from, code, want)
			}
			close(gone)
			if from == "PSTN party" {
				<-refused // the transferor's 481 comes before the target's answer
			}
			close(release)
			target := next(ctx, t, l.targets, "transfer")
			if from == "PSTN party" {
				l.repointed(ctx, 2)
			} else {
				l.repointed(ctx, 3) // after the transferor's hold
			}
			noOverlaps(t)
			if n := l.sbc.count(gosip.BYE); n != 0 {
				t.Fatal("the PSTN party got BYE")
			}
			l.targetHangsUp(ctx, t, target)
		})
	}
}

// TestReferPerformedByServerUnsubscribe: with enable_refer_support off,
// the transferor's SUBSCRIBE ending its REFER's subscription (Expires: 0)
// while the target rings gets 200 with our Contact (RFC 6665 §7.1) and
// at once a final NOTIFY, Subscription-State: terminated;reason=timeout
// with the target's latest progress (RFC 6665 §4.1.2.3: "a successful
// unsubscription will also trigger a final NOTIFY"; §4.2.1.2); one
// shortening it (Expires: 1) gets that final NOTIFY when the time granted
// runs out (RFC 6665 §4.2.2), not the NOTIFYs' older, longer expires.
// Either way the transfer goes on (RFC 3515 ties no transfer to its
// subscription) and tells the transferor nothing more: the target's
// answer releases the transferor's leg with BYE and no NOTIFY; a
// SUBSCRIBE after it ended gets 481. The unsubscribe got 200 and nothing
// after it, and the shortened time was not kept. r29-review2 F4.
func TestReferPerformedByServerUnsubscribe(t *testing.T) {
	for _, expires := range []string{"0", "1"} {
		t.Run("expires "+expires, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newTransferLabOn(t, "127.0.89.2", nil)
			release := make(chan struct{})
			l.edge.invites(func(pi *peerInvite) {
				pi.respond(180, nil)
				select {
				case <-release:
					l.targets <- pi
					pi.respond(200, loopSDP(sockPort(l.targetMedia), "sendrecv", false, "PCMA"))
				case <-ctx.Done():
				}
			})
			oc := upCall(ctx, t, l.caller, l.srv, "udp")
			next(ctx, t, l.sbcCalls, "SBC's")
			refer := referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
			l.caller.wait(ctx, gosip.NOTIFY, 2) // 100 Trying, 180 Ringing
			event := fmt.Sprintf("refer;id=%d", refer.CSeq().SeqNo)
			subscribe := func(expires string) *gosip.Response {
				sub := gosip.NewRequest(gosip.SUBSCRIBE, oc.final.Contact().Address)
				sub.AppendHeader(gosip.NewHeader("Event", event))
				sub.AppendHeader(gosip.NewHeader("Expires", expires))
				return doIn(ctx, t, oc, sub)
			}
			if res := subscribe(expires); res.StatusCode != 200 || headerValue2(res, "Expires") != expires || res.Contact() == nil {
				t.Errorf("SUBSCRIBE with Expires %s got %d, Expires %q, Contact %v; want 200, Expires %s, our Contact", expires, res.StatusCode, headerValue2(res, "Expires"), res.Contact(), expires)
			}
			final := l.caller.wait(ctx, gosip.NOTIFY, 3)
			if state := headerValue(final, "Subscription-State"); state != "terminated;reason=timeout" || !strings.HasPrefix(string(final.Body()), "SIP/2.0 180") {
				t.Errorf("NOTIFY after the SUBSCRIBE: %q, %q; want terminated;reason=timeout with the 180", state, final.Body())
			}
			if res := subscribe("60"); res.StatusCode != 481 {
				t.Errorf("SUBSCRIBE after the subscription ended got %d, want 481", res.StatusCode)
			}
			close(release)
			target := next(ctx, t, l.targets, "target's")
			l.caller.wait(ctx, gosip.BYE, 1)
			if n := l.caller.count(gosip.NOTIFY); n != 3 {
				t.Errorf("the transferor got %d NOTIFYs, want 3 (none after the subscription ended)", n)
			}
			l.targetHangsUp(ctx, t, target)
		})
	}
}

// TestReferPerformedByServerSubscribeShortens: with enable_refer_support
// off, a transferor's refresh asking for less than is left of its REFER's
// subscription (Expires: 10) shortens it (RFC 6665 §4.2.1.2): the target's
// 180 that follows is notified as active;expires= at most 10, not the
// ring time the subscription began with, which the subscriber was no
// longer granted. r29-review2 F4.
func TestReferPerformedByServerSubscribeShortens(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLabOn(t, "127.0.89.3", nil)
	ring, release := make(chan struct{}), make(chan struct{})
	l.edge.invites(func(pi *peerInvite) {
		for _, step := range []chan struct{}{ring, release} {
			select {
			case <-step:
			case <-ctx.Done():
				return
			}
			if step == ring {
				pi.respond(180, nil)
			}
		}
		pi.respond(486, nil)
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	refer := referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	l.caller.wait(ctx, gosip.NOTIFY, 1) // 100 Trying
	sub := gosip.NewRequest(gosip.SUBSCRIBE, oc.final.Contact().Address)
	sub.AppendHeader(gosip.NewHeader("Event", fmt.Sprintf("refer;id=%d", refer.CSeq().SeqNo)))
	sub.AppendHeader(gosip.NewHeader("Expires", "10"))
	if res := doIn(ctx, t, oc, sub); res.StatusCode != 200 || headerValue2(res, "Expires") != "10" {
		t.Fatalf("SUBSCRIBE with Expires 10 got %d, Expires %q; want 200, 10", res.StatusCode, headerValue2(res, "Expires"))
	}
	close(ring)
	ringing := l.caller.wait(ctx, gosip.NOTIFY, 2)
	var left int
	if _, err := fmt.Sscanf(headerValue(ringing, "Subscription-State"), "active;expires=%d", &left); err != nil || left < 1 || left > 10 {
		t.Errorf("NOTIFY of the 180 after the refresh says %q; want active;expires= at most 10", headerValue(ringing, "Subscription-State"))
	}
	close(release)
	if notify := finalNotify(ctx, t, l.caller); !strings.HasPrefix(string(notify.Body()), "SIP/2.0 486") {
		t.Errorf("final NOTIFY %q, want 486", notify.Body())
	}
	_ = oc.d.Bye(ctx)
	l.sbc.wait(ctx, gosip.BYE, 1)
}

// TestReferPerformedByServerSubscribeRefresh: with enable_refer_support
// off, the transferor's in-dialog SUBSCRIBE refreshing its REFER's
// subscription while the target rings (RFC 6665 §4.1.2.2; Twinkle does,
// before the NOTIFYs' expires runs out) gets 200 from the server with an
// Expires no longer than asked nor than what is left of the subscription
// (RFC 6665 §4.2.1.2), and the transfer's final NOTIFY still comes; a
// SUBSCRIBE naming another REFER, or once the subscription is over, gets
// 481. It got 405, which RFC 6665 §4.1.2.2 makes end the subscription at
// the transferor. r29-twinkle #1.
func TestReferPerformedByServerSubscribeRefresh(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, nil)
	release := make(chan struct{})
	l.edge.invites(func(pi *peerInvite) {
		pi.respond(180, nil)
		select {
		case <-release:
			pi.respond(486, nil)
		case <-ctx.Done():
		}
	})
	oc := upCall(ctx, t, l.caller, l.srv, "udp")
	next(ctx, t, l.sbcCalls, "SBC's")
	refer := referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	ringing := l.caller.wait(ctx, gosip.NOTIFY, 2) // 100 Trying, 180 Ringing
	var left int
	if _, err := fmt.Sscanf(headerValue(ringing, "Subscription-State"), "active;expires=%d", &left); err != nil {
		t.Fatalf("NOTIFY Subscription-State %q: %v", headerValue(ringing, "Subscription-State"), err)
	}
	subscribe := func(event, expires string) *gosip.Response {
		sub := gosip.NewRequest(gosip.SUBSCRIBE, oc.final.Contact().Address)
		sub.AppendHeader(gosip.NewHeader("Event", event))
		sub.AppendHeader(gosip.NewHeader("Expires", expires))
		return doIn(ctx, t, oc, sub)
	}
	event := fmt.Sprintf("refer;id=%d", refer.CSeq().SeqNo)
	for _, asked := range []int{10, 3600} {
		res := subscribe(event, fmt.Sprint(asked))
		var got int
		if _, err := fmt.Sscanf(headerValue2(res, "Expires"), "%d", &got); res.StatusCode != 200 || err != nil || got < 1 || got > min(asked, left) {
			t.Errorf("refresh asking %d s got %d, Expires %q; want 200 with at most %d", asked, res.StatusCode, headerValue2(res, "Expires"), min(asked, left))
		}
	}
	if res := subscribe(fmt.Sprintf("refer;id=%d", refer.CSeq().SeqNo+1), "60"); res.StatusCode != 481 {
		t.Errorf("SUBSCRIBE naming no REFER got %d, want 481", res.StatusCode)
	}
	close(release)
	if notify := finalNotify(ctx, t, l.caller); !strings.HasPrefix(string(notify.Body()), "SIP/2.0 486") {
		t.Errorf("final NOTIFY %q, want 486", notify.Body())
	}
	if res := subscribe(event, "60"); res.StatusCode != 481 {
		t.Errorf("SUBSCRIBE after the final NOTIFY got %d, want 481", res.StatusCode)
	}
	if n := l.edge.count(gosip.SUBSCRIBE) + l.sbc.count(gosip.SUBSCRIBE); n != 0 {
		t.Errorf("%d SUBSCRIBEs sent on, want none", n)
	}
	_ = oc.d.Bye(ctx)
	l.sbc.wait(ctx, gosip.BYE, 1)
}
