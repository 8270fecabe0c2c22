package soak_test

import (
	"context"
	"flag"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/bench"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// soakCalls is how many calls TestSoak places in each mode; CI keeps it
// small, `-soak-calls 5000` is a real soak.
var soakCalls = flag.Int("soak-calls", 150, "calls per mode in TestSoak")

// t1 is RFC 3261's T1 for this test binary, sipgo's and the server's:
// the transactions of ended calls are gone 64*T1 (6.4 s) later instead of
// 32 s, and a call survives a 6 s stall of a loaded machine (Timer B,
// Timer F of its BYE: at 50 ms, a 2-core machine running other test
// binaries failed half the calls' BYEs).
const t1 = 100 * time.Millisecond

func TestMain(m *testing.M) {
	gosip.SetTimers(t1, 4*t1, 5*t1)
	gosip.Timer_D = 64 * t1
	os.Exit(m.Run())
}

// TestSoak: calls in both modes, then calls the SBC never answers and
// whose callers give up, through one server; afterwards its goroutines,
// file descriptors, relay port pairs and heap are back where they were
// before (the process's, so the test's own endpoints are closed first).
func TestSoak(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*soakCalls)*200*time.Millisecond+2*time.Minute)
	defer cancel()
	sbcAddr := fixedFreeAddr(t)
	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen, cfg.GatewayListen, cfg.HTTPListen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Gateways[0].Address = sbcAddr.String()
	cfg.Media.Quarantine = 0
	cfg.MaxCalls = 0
	cfg.SIP.T1, cfg.SIP.T2 = t1, 4*t1
	srv := mediationtest.Serve(t, cfg, zerolog.Nop())

	// One warm-up call per mode: pools, buffers, lazily started goroutines.
	soakRun(ctx, t, srv, sbcAddr.String(), bench.ModeMixed, 4)
	goroutines, fds, heapBefore := settleTo(t, srv, 0, 10*time.Second)

	// Half-answered calls: the SBC rings for ever, each caller gives up
	// on the 18x (CANCEL).
	ringing, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: sbcAddr.String(), NoAnswer: true, Silent: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	client, err := endpoint.StartClient(ctx, endpoint.ClientConfig{Listen: "127.0.0.1:0", Silent: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range *soakCalls / 3 {
		rep, _ := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), CancelOnRinging: true})
		if rep.Code != 487 {
			t.Fatalf("half-answered call %d ended %d, want 487", i, rep.Code)
		}
	}
	_ = client.Close()
	_ = ringing.Close()

	for _, mode := range []string{bench.ModeBypass, bench.ModeAnchored} {
		soakRun(ctx, t, srv, sbcAddr.String(), mode, *soakCalls)
	}
	// Transactions live on after their calls for Timer D, J, L and the
	// like (TestMain shortens them): wait for them to end.
	g, f, heapAfter := settleTo(t, srv, goroutines+2, 60*time.Second)
	if n := srv.Transactions(); n != 0 {
		t.Errorf("%d SIP transactions left after the soak", n)
	}
	if g > goroutines+2 {
		t.Errorf("goroutines %d after the soak, %d before", g, goroutines)
	}
	if f > fds+2 {
		t.Errorf("open file descriptors %d after the soak, %d before", f, fds)
	}
	if grew := int64(heapAfter) - int64(heapBefore); grew > 8<<20 {
		t.Errorf("heap grew by %d bytes", grew)
	}
}

// soakRun places n calls of mode through srv with the bench, all as planned.
func soakRun(ctx context.Context, t *testing.T, srv *mediation.Server, sbc, mode string, n int) {
	t.Helper()
	rep, err := bench.Run(ctx, bench.Config{Edge: srv.EdgeAddr(), SBCListen: sbc, CPS: 50, Calls: n, Mode: mode,
		TranscodeShare: 0.5, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed > 0 {
		t.Fatalf("%s: %d of %d calls failed: %v", mode, rep.Failed, rep.Calls, rep.FailedBy)
	}
}

// settleTo waits until the server has no call and no relay port open, and
// the process's goroutines are down to want (0: until they stop falling),
// at most within; then it reads them, its descriptors and its heap.
func settleTo(t *testing.T, srv *mediation.Server, want int, within time.Duration) (goroutines, fds int, heapBytes uint64) {
	t.Helper()
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_side_port_pairs_open")
	prev := -1
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		n := runtime.NumGoroutine()
		if srv.Transactions() == 0 && ((want > 0 && n <= want) || (want == 0 && n == prev)) {
			break
		}
		prev = n
		time.Sleep(200 * time.Millisecond) // polling: ended transactions have no event to wait on
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("needs /proc: %v", err)
	}
	return runtime.NumGoroutine(), len(ents), mediationtest.HeapInUse()
}

// fixedFreeAddr is a loopback address free for UDP and TCP, its port below
// Linux's ephemeral range (32768-60999): the soak starts and stops SBCs
// there one after the other, and a port of that range, free between two
// of them, could be handed to another test's socket bound to port 0 (CI
// runs packages side by side): "address already in use". 24000-27999 is
// no test's media range (lab.yaml's is 20000-20999, fault_test's
// 30000-33999).
func fixedFreeAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	for range 50 {
		addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(24000+rand.IntN(4000)))
		l, err := net.Listen("tcp4", addr.String())
		if err != nil {
			continue
		}
		u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return addr
		}
	}
	t.Fatal("no port free for UDP and TCP in 24000-27999")
	return netip.AddrPort{}
}
