package mediation_test

import (
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// failoverServer runs a server whose "+1" calls go to first, then to the
// backup peer; first is an address (a peer, a silent socket, a closed
// port). It returns the server and its records file.
func failoverServer(t *testing.T, first netip.AddrPort, firstTransport string, backup *peer) (*mediation.Server, string) {
	t.Helper()
	records := filepath.Join(t.TempDir(), "records.jsonl")
	srv := serveTo(t, backup.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{
			{Name: "first", Address: first.String(), Transport: firstTransport, Numbers: []string{"+1"}, Priority: 0},
			trunkConfig("backup", backup, 1, "+1"),
		}
		c.GatewayFailover.Timeout = 500 * time.Millisecond
		c.Records.Path = records
	})
	return srv, records
}

// placeCall calls +15550100 through srv's edge side and returns the code.
func placeCall(t *testing.T, srv *mediation.Server) int {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	client := startClient(t, ctx, "")
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	return rep.Code
}

// checkTried checks the last record's trunks.
func checkTried(t *testing.T, srv *mediation.Server, records string, want ...string) {
	t.Helper()
	waitCalls(t, srv, 0)
	recs := readRecords(t, records)
	if len(recs) == 0 {
		t.Fatal("no call record")
	}
	last := recs[len(recs)-1]
	if !reflect.DeepEqual(last.GatewaysTried, want) || last.Gateway != want[len(want)-1] {
		t.Errorf("record: gateway %q, tried %v; want %v", last.Gateway, last.GatewaysTried, want)
	}
}

// TestFailoverOn503: a 503 moves the call to the next trunk, unseen by
// the caller; its Retry-After keeps the trunk out of routing meanwhile.
func TestFailoverOn503(t *testing.T) {
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) { pi.respond(503, nil, gosip.NewHeader("Retry-After", "60")) })
	srv, records := failoverServer(t, first.addr(), "udp", backup)
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("caller got %d, want 200 from the backup trunk", code)
	}
	checkTried(t, srv, records, "first", "backup")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "first", "reason", "503")
	// Resting: the next call goes straight to the backup.
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("second call got %d", code)
	}
	checkTried(t, srv, records, "backup")
	if n := first.count(gosip.INVITE); n != 1 {
		t.Errorf("the resting trunk got %d INVITEs, want 1", n)
	}
	mediationtest.WaitMetric(t, srv, 2, "mediationserver_gateway_attempts_total", "gateway", "backup")
}

// TestFailoverOn500WithoutRest: a 5xx without Retry-After fails over but
// leaves the trunk in routing.
func TestFailoverOn500WithoutRest(t *testing.T) {
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) { pi.respond(500, nil) })
	srv, records := failoverServer(t, first.addr(), "udp", backup)
	for range 2 {
		if code := placeCall(t, srv); code != 200 {
			t.Fatalf("caller got %d, want 200", code)
		}
		checkTried(t, srv, records, "first", "backup")
	}
	if n := first.count(gosip.INVITE); n != 2 {
		t.Errorf("first trunk got %d INVITEs, want 2", n)
	}
}

// TestNoFailoverOn486: busy is the callee's answer, not the trunk's
// failure: final, and the backup never hears of the call.
func TestNoFailoverOn486(t *testing.T) {
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) { pi.respond(486, nil) })
	srv, records := failoverServer(t, first.addr(), "udp", backup)
	if code := placeCall(t, srv); code != 486 {
		t.Fatalf("caller got %d, want 486", code)
	}
	checkTried(t, srv, records, "first")
	if n := backup.count(gosip.INVITE); n != 0 {
		t.Errorf("backup got %d INVITEs after a 486", n)
	}
}

// TestFailoverNoProvisional: a trunk that says nothing at all (not even
// 100 Trying) for gateway_failover.timeout is given up for the next one;
// the caller gets the backup's answer.
func TestFailoverNoProvisional(t *testing.T) {
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var heard atomic.Int32
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := silent.ReadFromUDP(buf); err != nil {
				return
			}
			heard.Add(1)
		}
	}()
	backup := startPeer(t, "backup")
	srv, records := failoverServer(t, netip.MustParseAddrPort(silent.LocalAddr().String()), "udp", backup)
	start := time.Now()
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("caller got %d, want 200 from the backup trunk", code)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("answered after %v, before the failover timer", d)
	}
	if heard.Load() == 0 {
		t.Error("the silent trunk never got the INVITE")
	}
	checkTried(t, srv, records, "first", "backup")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "first", "reason", "no_provisional")
}

// TestFailoverClosedTCPPort: a TCP trunk whose port refuses connections
// fails over at once.
func TestFailoverClosedTCPPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	backup := startPeer(t, "backup")
	srv, records := failoverServer(t, closed, "tcp", backup)
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("caller got %d, want 200 from the backup trunk", code)
	}
	checkTried(t, srv, records, "first", "backup")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "first", "reason", "unreachable")
}

// TestFailoverAllFail: when every trunk fails the caller gets the last
// failure, once.
func TestFailoverAllFail(t *testing.T) {
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) { pi.respond(503, nil) })
	backup.invites(func(pi *peerInvite) { pi.respond(502, nil) })
	srv, records := failoverServer(t, first.addr(), "udp", backup)
	if code := placeCall(t, srv); code != 502 {
		t.Fatalf("caller got %d, want the last trunk's 502", code)
	}
	checkTried(t, srv, records, "first", "backup")
}
