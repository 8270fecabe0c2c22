package mediation_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// kamailioBinary finds kamailio; CI installs it (Debian package
// kamailio), so only a developer may go without.
func kamailioBinary(t *testing.T) string { return toolBinary(t, "kamailio", "kamailio") }

// freeUDPPort is a loopback UDP port free a moment ago: Kamailio cannot
// listen on port 0.
func freeUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return netip.MustParseAddrPort(c.LocalAddr().String())
}

// startKamailio runs Kamailio with testdata/kamailio/pool.cfg in front of
// the edge addresses and waits until it answers OPTIONS.
func startKamailio(t *testing.T, ctx context.Context, edges []netip.AddrPort) netip.AddrPort {
	t.Helper()
	bin := kamailioBinary(t)
	dir := t.TempDir()
	var list strings.Builder
	for _, e := range edges {
		fmt.Fprintf(&list, "1 sip:%s\n", e)
	}
	dsList := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(dsList, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile(filepath.Join("..", "testdata", "kamailio", "pool.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	addr := freeUDPPort(t)
	cfg := strings.NewReplacer("listen=udp:LISTEN", "listen=udp:"+addr.String(), "DISPATCHER_LIST", dsList).Replace(string(tmpl))
	cfgFile := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "kamailio.log"))
	if err != nil {
		t.Fatal(err)
	}
	kctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(kctx, bin, "-f", cfgFile, "-DD", "-E", "-Y", run, "-w", dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logFile.Name())
			t.Logf("kamailio log:\n%s", out)
		}
	})
	// Kamailio is up once it answers an OPTIONS of ours.
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	buf := make([]byte, 4096)
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			t.Fatal("kamailio never answered OPTIONS")
		}
		probe := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-up-%d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:test@127.0.0.1>;tag=up%d\r\nTo: <sip:%s>\r\nCall-ID: up-%d@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			addr, local, i, i, addr, i)
		if _, err := conn.WriteToUDPAddrPort([]byte(probe), addr); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := conn.ReadFromUDP(buf); err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			return addr
		}
	}
}

// TestKamailioPool: two mediation servers behind Kamailio's dispatcher.
// Calls are spread over both; one server is stopped while a call is up on
// the other: Kamailio takes the stopped one out (its OPTIONS answered 503
// while draining, then not at all; an INVITE that gets 503 or nothing
// fails over), new calls all reach the survivor, and the survivor's call
// carries on to its normal end.
func TestKamailioPool(t *testing.T) {
	kamailioBinary(t)
	ctx := testCtx(t, 120*time.Second)
	sbc, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: "127.0.0.1:0", Ring: 10 * time.Millisecond, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sbc.Close() })
	var servers []*mediation.Server
	var stops []func() error
	var edges []netip.AddrPort
	for range 2 {
		srv, stop := runServer(t, labConfig(sbc.Addr(), "udp"))
		servers, stops, edges = append(servers, srv), append(stops, stop), append(edges, srv.EdgeAddr())
	}
	proxy := startKamailio(t, ctx, edges)
	client := startClient(t, ctx, "")
	call := func(c *endpoint.Client, d time.Duration) endpoint.CallReport {
		t.Helper()
		rep, err := c.Call(ctx, endpoint.CallOptions{Target: proxy, To: "+15550100", From: "+15550111", Duration: d})
		if err != nil {
			t.Fatalf("call through kamailio: %v", err)
		}
		return rep
	}
	total := func(srv *mediation.Server) float64 {
		v, _ := mediationtest.Metric(srv, "mediationserver_calls_total", "direction", "outbound")
		return v
	}
	for i := range 4 {
		if rep := call(client, 20*time.Millisecond); rep.Code != 200 {
			t.Fatalf("call %d through the pool got %d", i, rep.Code)
		}
	}
	if a, b := total(servers[0]), total(servers[1]); a == 0 || b == 0 || a+b != 4 {
		t.Fatalf("calls per server %v and %v, want 4 spread over both", a, b)
	}

	// A long call; the server that does not hold it is stopped.
	long := startClient(t, ctx, "")
	longDone := make(chan endpoint.CallReport, 1)
	go func() {
		rep, err := long.Call(ctx, endpoint.CallOptions{Target: proxy, To: "+15550100", From: "+15550112", Duration: 3 * time.Second})
		if err != nil {
			rep.Err = err
		}
		longDone <- rep
	}()
	survivor := -1
	for survivor < 0 {
		for i, srv := range servers {
			if srv.ActiveCalls() == 1 {
				survivor = i
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the long call never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := 1 - survivor
	if err := stops[stopped](); err != nil {
		t.Fatalf("stopping a pool member: %v", err)
	}
	before := total(servers[survivor])
	for i := range 4 {
		if rep := call(client, 20*time.Millisecond); rep.Code != 200 {
			t.Fatalf("call %d after a pool member stopped got %d", i, rep.Code)
		}
	}
	if got := total(servers[survivor]) - before; got != 4 {
		t.Errorf("survivor took %v of 4 calls after the other stopped", got)
	}
	rep := <-longDone
	if rep.Err != nil || rep.Code != 200 || rep.EndedBy != endpoint.EndedLocalBye {
		t.Errorf("long call on the survivor: code %d, ended by %q, err %v", rep.Code, rep.EndedBy, rep.Err)
	}
}

// TestKamailioPoolSBC503: the SBC refuses one call with a plain 503 (all
// circuits busy). The server relays it without Retry-After, and the
// proxy's failure route takes a 503 for the server's own unavailability
// only with one: the call is not tried again on the other server (the SBC
// gets it once), and a call right after reaches a server (r28-pool F1:
// every server was marked inactive in turn, the SBC got the call once per
// server, and new callers got "503 No Mediation Server Available").
func TestKamailioPoolSBC503(t *testing.T) {
	kamailioBinary(t)
	ctx := testCtx(t, 60*time.Second)
	sbc := startPeer(t, "sbc")
	var refused atomic.Bool
	sbc.invites(func(pi *peerInvite) {
		if refused.CompareAndSwap(false, true) {
			pi.respond(503, nil)
			return
		}
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
	})
	var edges []netip.AddrPort
	for range 2 {
		srv, _ := runServer(t, labConfig(sbc.addr(), "udp"))
		edges = append(edges, srv.EdgeAddr())
	}
	proxy := startKamailio(t, ctx, edges)
	client := startClient(t, ctx, "")
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: proxy, To: "+15550100", From: "+15550111", Duration: 20 * time.Millisecond})
	if err != nil || rep.Code == 200 {
		t.Fatalf("the call the SBC refused: code %d, %v; want a failure", rep.Code, err)
	}
	if n := sbc.count(gosip.INVITE); n != 1 {
		t.Errorf("the SBC got %d INVITEs for the call it refused, want 1 (the proxy placed it again through the other server)", n)
	}
	rep, err = client.Call(ctx, endpoint.CallOptions{Target: proxy, To: "+15550100", From: "+15550111", Duration: 20 * time.Millisecond})
	if err != nil || rep.Code != 200 {
		t.Errorf("a call right after the SBC's 503: code %d, %v; want 200 (both servers are up)", rep.Code, err)
	}
}
