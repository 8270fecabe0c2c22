package mediation_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sip"
)

// TestResponseTooLargeForUDP: a caller on UDP whose INVITE fits in a
// datagram, within a few bytes, but whose 200 would not (its own
// Record-Route headers, RFC 3261 §12.1.1, come back in it, with our
// Contact, Allow, Supported and SDP), to an SBC on TCP that answers with a
// 60 KB 200 OK (sipgo reads no message over 65,535 bytes) whose size stays
// its own: the caller gets 513 Message Too Large instead of silence, the
// SBC's dialog is ACKed and ended with BYE, and the call's slot and relay
// ports come back; the 513 is counted.
func TestResponseTooLargeForUDP(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	var huge strings.Builder
	huge.Write(fixtureBody(t, "sbc-answer-pcma.sdp"))
	for huge.Len() < 60<<10 {
		fmt.Fprintf(&huge, "a=x-filler:%s\r\n", strings.Repeat("f", 100))
	}
	sbc.invites(func(pi *peerInvite) { pi.respond(200, []byte(huge.String())) })
	srv := serveTo(t, sbc.addr(), "tcp", nil)
	edge := srv.EdgeAddr().String()

	conn, err := net.Dial("udp", edge)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := string(fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	invite := func(pad int) string {
		return rawInvite(conn.LocalAddr().String(), edge, func(l string) string {
			l = strings.ReplaceAll(l, "%T", "UDP")
			switch {
			case strings.HasPrefix(l, "Contact:"):
				var b strings.Builder
				b.WriteString(l)
				for i := range 50 {
					fmt.Fprintf(&b, "\r\nRecord-Route: <sip:proxy-%02d.example.net:5060;transport=udp;lr;x-hop=%s>", i, strings.Repeat("p", 100))
				}
				fmt.Fprintf(&b, "\r\nRecord-Route: <sip:last.example.net;lr;x-pad=%s>", strings.Repeat("q", pad))
				return b.String()
			case l == "Content-Length: 0":
				return fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d", len(body))
			}
			return l
		}) + body
	}
	msg := invite(1)
	msg = invite(1 + sip.UDPLimit() - 4 - len(msg)) // 4 bytes short of the limit
	if n := len(msg); n > sip.UDPLimit() || n < sip.UDPLimit()-10 {
		t.Fatalf("the INVITE is %d bytes, want just under %d", n, sip.UDPLimit())
	}
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	res := readResponse(t, conn, nil, "udp")
	for res.IsProvisional() {
		res = readResponse(t, conn, nil, "udp")
	}
	if res.StatusCode != 513 || len(res.Body()) != 0 {
		t.Fatalf("caller got %d with %d bytes of body, want 513 without one", res.StatusCode, len(res.Body()))
	}
	tag, _ := res.To().Params.Get("tag")
	ack := strings.Join([]string{
		"ACK sip:+15550100@" + edge + " SIP/2.0",
		"Via: " + res.Via().Value(),
		"Max-Forwards: 70",
		"From: " + res.From().Value(),
		"To: " + res.To().Value(),
		"Call-ID: " + res.CallID().Value(),
		"CSeq: 1 ACK",
		"Content-Length: 0",
	}, "\r\n") + "\r\n\r\n"
	if tag == "" {
		t.Errorf("513 without a To-tag")
	}
	if _, err := conn.Write([]byte(ack)); err != nil {
		t.Fatal(err)
	}
	sbc.wait(ctx, gosip.ACK, 1)
	sbc.wait(ctx, gosip.BYE, 1)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_side_port_pairs_open")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_sip_too_large_total", "side", "edge", "kind", "response")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "message_too_large")

	// The server still answers a call that fits.
	caller := startPeer(t, "caller")
	ok := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	if res := ok.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("a small call got %d after the large one", res.StatusCode)
	}
	if err := ok.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ok.d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
}

// longHistory is 200 History-Info headers: with forward_call_history they
// make our INVITE larger than a UDP datagram takes.
func longHistory() []gosip.Header {
	var hist []gosip.Header
	for i := range 200 {
		hist = append(hist, gosip.NewHeader("History-Info", fmt.Sprintf("<sip:+1555%07d@hop%d.example.net?Reason=SIP%%3Bcause%%3D302>;index=1.%d", i, i, i+1)))
	}
	return hist
}

// TestRequestTooLargeForUDP: a caller on TCP whose History-Info (forwarded
// by the trunk's forward_call_history) makes our INVITE to a UDP trunk
// larger than a datagram: the INVITE is not sent, the caller gets 513 with
// a Warning at once (not a timeout), the slot and ports come back, and
// the request is counted.
func TestRequestTooLargeForUDP(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Gateways[0].ForwardCallHistory = true })
	hist := longHistory()
	caller := startPeer(t, "caller")
	start := time.Now()
	oc := caller.call(ctx, srv.EdgeAddr(), "tcp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), hist...)
	res := oc.answer(ctx, nil)
	if res.StatusCode != 513 {
		t.Fatalf("caller got %d, want 513", res.StatusCode)
	}
	if w := res.GetHeader("Warning"); w == nil || !strings.Contains(w.Value(), "too large") {
		t.Errorf("513 without a Warning saying why: %v", w)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the 513 took %v", took)
	}
	if n := sbc.count(gosip.INVITE); n != 0 {
		t.Errorf("the SBC got %d INVITEs", n)
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_side_port_pairs_open")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_sip_too_large_total", "side", "gateway", "kind", "request")
}

// TestRequestTooLargeFailsOverToTCP: the same too-large INVITE, with a
// second trunk for the number on TCP and failover on: the call is not
// refused but goes to the TCP trunk, which answers it; the UDP trunk gets
// nothing, and the failover is counted with its reason.
func TestRequestTooLargeFailsOverToTCP(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	udpSBC, tcpSBC := startPeer(t, "udp-sbc"), startPeer(t, "tcp-sbc")
	answer := fixtureBody(t, "sbc-answer-pcma.sdp")
	tcpSBC.invites(func(pi *peerInvite) { pi.respond(200, answer) })
	srv := serveTo(t, udpSBC.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{
			{Name: "udp", Address: udpSBC.addr().String(), Transport: "udp", Numbers: []string{"+1"}, Priority: 0, HeaderPolicy: mediation.HeaderPolicy{ForwardCallHistory: true}},
			{Name: "tcp", Address: tcpSBC.addr().String(), Transport: "tcp", Numbers: []string{"+1"}, Priority: 1, HeaderPolicy: mediation.HeaderPolicy{ForwardCallHistory: true}},
		}
	})
	hist := longHistory()
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "tcp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), hist...)
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("caller got %d, want 200 from the TCP trunk", res.StatusCode)
	}
	inv := tcpSBC.wait(ctx, gosip.INVITE, 1)
	if n := len(inv.GetHeaders("History-Info")); n != 200 {
		t.Errorf("the TCP trunk's INVITE carries %d History-Info headers, want 200", n)
	}
	if n := udpSBC.count(gosip.INVITE); n != 0 {
		t.Errorf("the UDP trunk got %d INVITEs", n)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "udp", "reason", "message_too_large")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_sip_too_large_total", "side", "gateway", "kind", "request")
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
}

// TestReInviteAnswerTooLargeForUDP: a caller on UDP whose re-INVITE fits
// in a datagram, within a few bytes, but whose 2xx would not (its
// Record-Route headers come back in it). The SBC has taken the new offer
// already, so the two peers' media no longer agree: the caller gets 513
// at once and the call ends with BYE on both legs, not 64*T1 later.
func TestReInviteAnswerTooLargeForUDP(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	answer := fixtureBody(t, "sbc-answer-pcma.sdp")
	sbc.invites(func(pi *peerInvite) { pi.respond(200, answer) })
	// RFC 3261's T1: without the check, the call would end when the 2xx
	// that cannot be sent gave up, 64*T1 = 32 s later.
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.SIP.T1 = 500 * time.Millisecond })
	edge := srv.EdgeAddr().String()
	conn, err := net.Dial("udp", edge)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	body := string(fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	withBody := func(l string) string {
		l = strings.ReplaceAll(l, "%T", "UDP")
		if l == "Content-Length: 0" {
			return fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d", len(body))
		}
		return l
	}
	if _, err := conn.Write([]byte(rawInvite(local, edge, withBody) + body)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	ok := readResponse(t, conn, nil, "udp")
	for ok.IsProvisional() {
		ok = readResponse(t, conn, nil, "udp")
	}
	if ok.StatusCode != 200 || ok.Contact() == nil {
		t.Fatalf("call got %d", ok.StatusCode)
	}
	target := ok.Contact().Address.String()
	inDialog := func(method string, seq int, extra []string, body string) string {
		lines := []string{
			method + " " + target + " SIP/2.0",
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + gosip.GenerateBranchN(8),
			"Max-Forwards: 70",
			"From: " + ok.From().Value(),
			"To: " + ok.To().Value(),
			"Call-ID: " + ok.CallID().Value(),
			fmt.Sprintf("CSeq: %d %s", seq, method),
			"Contact: <sip:caller@" + local + ">",
		}
		lines = append(lines, extra...)
		if body != "" {
			lines = append(lines, "Content-Type: application/sdp")
		}
		lines = append(lines, fmt.Sprintf("Content-Length: %d", len(body)))
		return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
	}
	if _, err := conn.Write([]byte(inDialog("ACK", 1, nil, ""))); err != nil {
		t.Fatal(err)
	}
	sbc.wait(ctx, gosip.ACK, 1)
	reInvite := func(pad int) string {
		var rr []string
		for i := range 50 {
			rr = append(rr, fmt.Sprintf("Record-Route: <sip:proxy-%02d.example.net:5060;transport=udp;lr;x-hop=%s>", i, strings.Repeat("p", 100)))
		}
		rr = append(rr, fmt.Sprintf("Record-Route: <sip:last.example.net;lr;x-pad=%s>", strings.Repeat("q", pad)))
		// A new version of the caller's SDP: an offer to relay, not one
		// repeating its SDP, which the server answers itself.
		return inDialog("INVITE", 2, rr, bumpVersion(t, body))
	}
	msg := reInvite(1)
	msg = reInvite(1 + sip.UDPLimit() - 4 - len(msg)) // 4 bytes short of the limit
	if n := len(msg); n > sip.UDPLimit() || n < sip.UDPLimit()-10 {
		t.Fatalf("the re-INVITE is %d bytes, want just under %d", n, sip.UDPLimit())
	}
	start := time.Now()
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	res := readResponse(t, conn, nil, "udp")
	for res.IsProvisional() {
		res = readResponse(t, conn, nil, "udp")
	}
	if res.StatusCode != 513 {
		t.Fatalf("re-INVITE got %d, want 513", res.StatusCode)
	}
	if sbc.count(gosip.INVITE) != 2 {
		t.Errorf("the SBC got %d INVITEs, want the re-INVITE too", sbc.count(gosip.INVITE))
	}
	byeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sbc.wait(byeCtx, gosip.BYE, 1)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the SBC's BYE came %v after the re-INVITE", took)
	}
	// The caller gets its BYE too (after, perhaps, the 513 again: we send
	// it no ACK); its 200 ends the call.
	buf := make([]byte, 65535)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no BYE for the caller: %v", err)
		}
		if !strings.HasPrefix(string(buf[:n]), "BYE ") {
			continue
		}
		m, err := gosip.ParseMessage(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(gosip.NewResponseFromRequest(m.(*gosip.Request), 200, "OK", nil).String())); err != nil {
			t.Fatal(err)
		}
		break
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_sip_too_large_total", "side", "edge", "kind", "response")
}

// TestRefreshAnswerTooLargeKeepsTimer: a caller on UDP sends an SDP-less
// re-INVITE (a session refresh) asking for a 2 s session timer that we
// refresh; the re-INVITE fits in a datagram but our 200 (with our SDP)
// would not, so the caller gets 513. Only a 2xx refreshes the session (RFC
// 4028): the leg keeps its timer (none), and no refresh of ours follows
// (r23-review3 #4: the refresh's timer was applied before the 200 was
// known to have gone). The same refresh small enough gets its 200, and our
// refresh follows within the interval.
func TestRefreshAnswerTooLargeKeepsTimer(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	answer := fixtureBody(t, "sbc-answer-pcma.sdp")
	sbc.invites(func(pi *peerInvite) { pi.respond(200, answer) })
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.SessionTimer.MinSE = time.Second })
	edge := srv.EdgeAddr().String()
	conn, err := net.Dial("udp", edge)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	body := string(fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	withBody := func(l string) string {
		l = strings.ReplaceAll(l, "%T", "UDP")
		if l == "Content-Length: 0" {
			return fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d", len(body))
		}
		return l
	}
	if _, err := conn.Write([]byte(rawInvite(local, edge, withBody) + body)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	ok := readResponse(t, conn, nil, "udp")
	for ok.IsProvisional() {
		ok = readResponse(t, conn, nil, "udp")
	}
	if ok.StatusCode != 200 || ok.Contact() == nil {
		t.Fatalf("call got %d", ok.StatusCode)
	}
	target := ok.Contact().Address.String()
	inDialog := func(method string, seq int, branch, to string, extra []string, body string) string {
		lines := []string{
			method + " " + target + " SIP/2.0",
			"Via: SIP/2.0/UDP " + local + ";branch=" + branch,
			"Max-Forwards: 70",
			"From: " + ok.From().Value(),
			"To: " + to,
			"Call-ID: " + ok.CallID().Value(),
			fmt.Sprintf("CSeq: %d %s", seq, method),
			"Contact: <sip:caller@" + local + ">",
		}
		lines = append(lines, extra...)
		if body != "" {
			lines = append(lines, "Content-Type: application/sdp")
		}
		lines = append(lines, fmt.Sprintf("Content-Length: %d", len(body)))
		return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
	}
	newBranch := func() string { return "z9hG4bK" + gosip.GenerateBranchN(8) }
	if _, err := conn.Write([]byte(inDialog("ACK", 1, newBranch(), ok.To().Value(), nil, ""))); err != nil {
		t.Fatal(err)
	}
	sbc.wait(ctx, gosip.ACK, 1)
	timer := []string{"Supported: timer", "Session-Expires: 2;refresher=uas"}
	refresh := func(seq int, branch string, pad int) string {
		extra := append([]string(nil), timer...)
		if pad > 0 {
			for i := range 50 {
				extra = append(extra, fmt.Sprintf("Record-Route: <sip:proxy-%02d.example.net:5060;transport=udp;lr;x-hop=%s>", i, strings.Repeat("p", 100)))
			}
			extra = append(extra, fmt.Sprintf("Record-Route: <sip:last.example.net;lr;x-pad=%s>", strings.Repeat("q", pad)))
		}
		return inDialog("INVITE", seq, branch, ok.To().Value(), extra, "")
	}
	// finalTo reads the final response to the re-INVITE with CSeq seq,
	// skipping anything else (retransmissions of earlier responses).
	finalTo := func(seq int) *gosip.Response {
		for {
			res := readResponse(t, conn, nil, "udp")
			if res.CSeq().SeqNo == uint32(seq) && !res.IsProvisional() {
				return res
			}
		}
	}
	// requestWithin is the first request the server sends the caller
	// within d (nil: none), responses skipped.
	requestWithin := func(d time.Duration) *gosip.Request {
		deadline := time.Now().Add(d)
		buf := make([]byte, 65535)
		for {
			_ = conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				return nil
			}
			if m, err := gosip.ParseMessage(buf[:n]); err == nil {
				if req, isReq := m.(*gosip.Request); isReq {
					return req
				}
			}
		}
	}

	br := newBranch()
	msg := refresh(2, br, 1)
	msg = refresh(2, br, 1+sip.UDPLimit()-4-len(msg)) // 4 bytes short of the limit
	if n := len(msg); n > sip.UDPLimit() || n < sip.UDPLimit()-10 {
		t.Fatalf("the re-INVITE is %d bytes, want just under %d", n, sip.UDPLimit())
	}
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res := finalTo(2)
	if res.StatusCode != 513 {
		t.Fatalf("refresh re-INVITE got %d, want 513", res.StatusCode)
	}
	// The ACK of a non-2xx is in the INVITE's transaction (its branch).
	if _, err := conn.Write([]byte(inDialog("ACK", 2, br, res.To().Value(), nil, ""))); err != nil {
		t.Fatal(err)
	}
	// A 2 s timer we refresh would have our refresh at 1 s: none within
	// three times that.
	if req := requestWithin(3 * time.Second); req != nil {
		t.Fatalf("after a refresh answered 513 the server sent the caller %s: the refused refresh's timer was applied", req.Method)
	}
	if srv.ActiveCalls() != 1 {
		t.Fatalf("%d calls in progress, want 1", srv.ActiveCalls())
	}

	// The same refresh, small: 200, and our refresh follows.
	br = newBranch()
	if _, err := conn.Write([]byte(refresh(3, br, 0))); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if res := finalTo(3); res.StatusCode != 200 {
		t.Fatalf("small refresh re-INVITE got %d, want 200", res.StatusCode)
	}
	if _, err := conn.Write([]byte(inDialog("ACK", 3, newBranch(), ok.To().Value(), nil, ""))); err != nil {
		t.Fatal(err)
	}
	if req := requestWithin(5 * time.Second); req == nil || (req.Method != gosip.INVITE && req.Method != gosip.UPDATE) {
		t.Fatalf("after a refresh answered 200 with a 2 s timer we refresh, the server sent the caller %v, want its refresh", req)
	}
}
