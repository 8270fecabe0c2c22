package mediation_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
)

// brokenInvite is an INVITE from the client at from without a Contact,
// which the server refuses with 400 before any call begins.
func brokenInvite(to, from netip.AddrPort, callID string) string {
	return fmt.Sprintf("INVITE sip:+15550100@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:+15550111@%s>;tag=broken\r\n"+
		"To: <sip:+15550100@%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Content-Length: 0\r\n\r\n", to, from, callID, from.Addr(), to.Addr(), callID)
}

// TestRefusedInviteIsNoCallInProgress: an INVITE refused before a call
// began (400 Missing Contact) shows in the web page's call book as ended,
// with our 400 as its reason, once however often the client retransmits
// it; it was a call "in progress" for ever, one per copy. A flood of them
// does not push a real call out of the book.
func TestRefusedInviteIsNoCallInProgress(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", nil)
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	from := netip.MustParseAddrPort(conn.LocalAddr().String())
	buf := make([]byte, 4096)
	send := func(callID string) {
		t.Helper()
		if _, err := conn.WriteToUDPAddrPort([]byte(brokenInvite(srv.EdgeAddr(), from, callID)), srv.EdgeAddr()); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 400 ") {
			t.Fatalf("INVITE %s answered %q (%v), want 400", callID, buf[:n], err)
		}
	}
	for range 3 { // the first, and two retransmissions
		send("broken-1")
	}
	ends := srv.BookEnds()
	if len(ends) != 1 {
		t.Fatalf("the call book holds %v after one refused INVITE sent thrice, want one call", ends)
	}
	for id, end := range ends {
		if !strings.HasPrefix(end, "400 ") {
			t.Errorf("call %s in the book: %q, want ended with our 400", id, end)
		}
	}
	// One the side refuses by itself, before any transaction: a body
	// that is no SDP gets 415.
	textInvite := strings.Replace(brokenInvite(srv.EdgeAddr(), from, "text-1"), "Content-Length: 0\r\n",
		fmt.Sprintf("Contact: <sip:caller@%s>\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n", from), 1) + "hello"
	if _, err := conn.WriteToUDPAddrPort([]byte(textInvite), srv.EdgeAddr()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, err := conn.ReadFromUDPAddrPort(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 415 ") {
		t.Fatalf("text INVITE answered %q (%v), want 415", buf[:n], err)
	}
	// The book is written as the trace sees our 415, which may be just
	// after the 415 reached us: wait for it, then look.
	twoEnded := func() bool {
		ends := srv.BookEnds()
		if len(ends) != 2 {
			return false
		}
		for _, end := range ends {
			if !strings.HasPrefix(end, "400 ") && !strings.HasPrefix(end, "415 ") {
				return false
			}
		}
		return true
	}
	waitUntil(ctx, t, "the call book to hold the two refused INVITEs, ended with our 400 and 415", twoEnded)

	// A real call, then a flood of refused INVITEs: the call stays.
	client := startClient(t, ctx, "")
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: 50 * time.Millisecond})
	if err != nil || rep.Code != 200 {
		t.Fatalf("call: %v (%+v)", err, rep)
	}
	waitCalls(t, srv, 0)
	var real string
	for id, end := range srv.BookEnds() {
		if !strings.HasPrefix(end, "400 ") && !strings.HasPrefix(end, "415 ") {
			real = id
		}
	}
	if real == "" {
		t.Fatalf("the real call is not in the book: %v", srv.BookEnds())
	}
	for i := range 120 {
		send(fmt.Sprint("flood-", i))
	}
	if end, ok := srv.BookEnds()[real]; !ok {
		t.Errorf("120 refused INVITEs pushed the real call out of the book")
	} else if end == "in progress" || strings.HasPrefix(end, "400 ") {
		t.Errorf("the real call's end: %q", end)
	}
}
