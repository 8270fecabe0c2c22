package mediation_test

import (
	"bufio"
	"flag"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// A stranger: 127.0.0.3 is loopback (so the test never leaves the host)
// but neither a trunk's address nor in any trust list of these tests.
var stranger = netip.MustParseAddr("127.0.0.3")

// strangerInvite is an INVITE from a host at via (its Via and Contact).
func strangerInvite(target, via netip.AddrPort, transport string) string {
	return rawInvite(via.String(), target.String(), func(l string) string {
		return strings.Replace(l, "%T", strings.ToUpper(transport), 1)
	})
}

// strangerUDP is a UDP socket of the stranger.
func strangerUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(stranger, 0)))
	if err != nil {
		t.Skipf("cannot bind %s: %v", stranger, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// noCalls checks that nothing of a call came into being: no call in
// progress, no call counted, nothing sent to the trunk.
func noCalls(t *testing.T, srv *mediation.Server, sbc *peer) {
	t.Helper()
	if n := srv.ActiveCalls(); n != 0 {
		t.Errorf("%d calls in progress", n)
	}
	for _, dir := range []string{"inbound", "outbound"} {
		if v, _ := mediationtest.Metric(srv, "mediationserver_calls_total", "direction", dir); v != 0 {
			t.Errorf("%v %s calls counted", v, dir)
		}
	}
	if n := sbc.count(gosip.INVITE); n != 0 {
		t.Errorf("the trunk got %d INVITEs", n)
	}
}

// TestUntrustedGatewayUDPDropped: an INVITE from a source that is no
// trunk's is dropped (the default over UDP): no answer, no call, counted.
func TestUntrustedGatewayUDPDropped(t *testing.T) {
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", nil)
	conn := strangerUDP(t)
	from := netip.MustParseAddrPort(conn.LocalAddr().String())
	if _, err := conn.WriteToUDPAddrPort([]byte(strangerInvite(srv.GatewayAddr(), from, "udp")), srv.GatewayAddr()); err != nil {
		t.Fatal(err)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_untrusted_requests_total", "side", "gateway")
	// Counted means handled: an answer would be on its way by now.
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4096)
	if n, _, err := conn.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("the stranger got an answer:\n%s", buf[:n])
	}
	if v, _ := mediationtest.Metric(srv, "mediationserver_untrusted_requests_total", "side", "edge"); v != 0 {
		t.Errorf("edge side counted %v untrusted requests", v)
	}
	noCalls(t, srv, sbc)
}

// TestUntrustedFlood403: with untrusted.udp 403, each of 10,000 INVITEs
// from a stranger gets 403 and leaves nothing behind: no call, and the
// heap stays flat (a transaction or dialog kept per INVITE would show).
func TestUntrustedFlood403(t *testing.T) {
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Untrusted.UDP = mediation.UntrustedReject })
	conn := strangerUDP(t)
	from := netip.MustParseAddrPort(conn.LocalAddr().String())
	buf := make([]byte, 4096)
	send := func(i int) {
		t.Helper()
		if _, err := conn.WriteToUDPAddrPort([]byte(strangerInvite(srv.GatewayAddr(), from, "udp")), srv.GatewayAddr()); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("INVITE %d: no answer: %v", i, err)
		}
		if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 403 ") {
			t.Fatalf("INVITE %d answered:\n%s", i, buf[:n])
		}
	}
	for i := range 500 { // warm up: buffers, pools
		send(i)
	}
	before := mediationtest.HeapInUse()
	const flood = 10000
	for i := range flood {
		send(500 + i)
	}
	after := mediationtest.HeapInUse()
	if grew := int64(after) - int64(before); grew > 4<<20 {
		t.Errorf("heap grew by %d bytes over %d untrusted INVITEs", grew, flood)
	}
	mediationtest.WaitMetric(t, srv, flood+500, "mediationserver_untrusted_requests_total", "side", "gateway")
	noCalls(t, srv, sbc)
	// Nor did they take the web page's call book from the trunks' calls.
	if n := srv.BookCalls(); n != 0 {
		t.Errorf("the call book holds %d calls after a flood of refused INVITEs", n)
	}
}

// TestUntrustedTCP403: over TCP (whose source cannot be spoofed) the
// default is 403.
func TestUntrustedTCP403(t *testing.T) {
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", nil)
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(stranger, 0)), Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", srv.GatewayAddr().String())
	if err != nil {
		t.Skipf("cannot connect from %s: %v", stranger, err)
	}
	defer conn.Close()
	from := netip.MustParseAddrPort(conn.LocalAddr().String())
	if _, err := conn.Write([]byte(strangerInvite(srv.GatewayAddr(), from, "tcp"))); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SIP/2.0 403 ") {
		t.Fatalf("answer %q, %v; want 403", line, err)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_untrusted_requests_total", "side", "gateway")
	noCalls(t, srv, sbc)
}

// TestUntrustedEdge: the edge side takes requests from edge.trust and the
// edge peer only.
func TestUntrustedEdge(t *testing.T) {
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Edge.Trust = []string{"127.0.0.1"}
		c.Untrusted.UDP = mediation.UntrustedReject
	})
	conn := strangerUDP(t)
	from := netip.MustParseAddrPort(conn.LocalAddr().String())
	if _, err := conn.WriteToUDPAddrPort([]byte(strangerInvite(srv.EdgeAddr(), from, "udp")), srv.EdgeAddr()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 403 ") {
		t.Fatalf("answer %q, %v; want 403", buf[:n], err)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_untrusted_requests_total", "side", "edge")
	noCalls(t, srv, sbc)
}

// floodFor is how long TestFloodWhileCallsComplete floods; CI keeps it
// short, `-flood 30s` runs the half minute.
var floodFor = flag.Duration("flood", 2*time.Second, "how long TestFloodWhileCallsComplete floods the gateway side")

// TestFloodWhileCallsComplete: a stranger floods the gateway side with
// about 10,000 INVITEs a second over UDP (dropped unanswered, the default) while a client places
// calls through the same side to the SBC: every call completes, nothing of
// the flood becomes a call, and the heap does not grow with it.
func TestFloodWhileCallsComplete(t *testing.T) {
	ctx := testCtx(t, *floodFor+60*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{})
	client := startClient(t, ctx, mediationtest.DefaultBypassID)
	conn := strangerUDP(t)
	from := netip.MustParseAddrPort(conn.LocalAddr().String())
	invite := []byte(strangerInvite(lab.Server.GatewayAddr(), from, "udp"))
	before := mediationtest.HeapInUse()

	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		// About 10,000 INVITEs a second: 100 every 10 ms.
		n := 0
		defer func() { sent <- n }()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range 100 {
				if _, err := conn.WriteToUDPAddrPort(invite, lab.Server.GatewayAddr()); err == nil {
					n++
				}
			}
		}
	}()
	start := time.Now()
	calls := 0
	for time.Since(start) < *floodFor || calls < 5 {
		rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 100 * time.Millisecond})
		if err != nil || rep.Code != 200 || !rep.BypassAnswered {
			close(stop)
			t.Fatalf("call %d during the flood: %d, bypass %v, %v", calls, rep.Code, rep.BypassAnswered, err)
		}
		calls++
	}
	close(stop)
	flood := <-sent
	elapsed := time.Since(start)
	t.Logf("%d calls completed while %d untrusted INVITEs were sent in %v (%.0f/s)", calls, flood, elapsed.Round(time.Millisecond), float64(flood)/elapsed.Seconds())
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
	if v, _ := mediationtest.Metric(lab.Server, "mediationserver_calls_total", "direction", "inbound"); v != 0 {
		t.Errorf("%v inbound calls counted from the flood", v)
	}
	if v, _ := mediationtest.Metric(lab.Server, "mediationserver_untrusted_requests_total", "side", "gateway"); v == 0 {
		t.Errorf("no untrusted request counted of %d sent", flood)
	}
	if grew := int64(mediationtest.HeapInUse()) - int64(before); grew > 16<<20 {
		t.Errorf("heap grew by %d bytes over a flood of %d INVITEs", grew, flood)
	}
}
