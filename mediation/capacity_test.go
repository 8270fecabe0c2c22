package mediation_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestRateLimitPerSource: with rate_limit set, a source that starts calls
// faster than its bucket allows gets 503 with Retry-After for the calls
// beyond it, counted as rate_limited, while another source's calls go
// through.
func TestRateLimitPerSource(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{Reject: 486},
		Configure: func(c *mediation.Config) { c.RateLimit = mediation.RateLimitConfig{PerSecond: 0.01, Burst: 3} }})
	busy := startClient(t, ctx, "")
	var codes []int
	for range 6 {
		rep, _ := busy.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr()})
		codes = append(codes, rep.Code)
	}
	want := []int{486, 486, 486, 503, 503, 503}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("calls from one source ended %v, want %v", codes, want)
		}
	}
	res, err := sipClient(t).Do(ctx, request(gosip.INVITE, lab.Server.EdgeAddr().String(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp")))
	if err != nil {
		t.Fatal(err)
	}
	if ra := res.GetHeader("Retry-After"); res.StatusCode != 503 || ra == nil || ra.Value() != "1" {
		t.Fatalf("one more INVITE from the source got %d %s (Retry-After %v), want 503 with Retry-After: 1", res.StatusCode, res.Reason, ra)
	}
	other, err := endpoint.StartClient(ctx, endpoint.ClientConfig{Listen: "127.0.0.2:0", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if rep, _ := other.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr()}); rep.Code != 486 {
		t.Fatalf("a call from another source ended %d, want the SBC's 486", rep.Code)
	}
	mediationtest.WaitMetric(t, lab.Server, 4, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "rate_limited")
	mediationtest.WaitMetric(t, lab.Server, 4, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "486")
}

// TestRefusedCallsFreeTheirSlot: a refused call gives back its max_calls
// slot and its relay ports when its final response is sent, not when its
// INVITE transaction ends 32 s later: with max_calls 2, ten calls in a row that the SBC
// refuses each get the SBC's 486, never 503, over UDP and TCP.
func TestRefusedCallsFreeTheirSlot(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{Reject: 486},
				Configure: func(c *mediation.Config) { c.MaxCalls = 2 }})
			client := startClient(t, ctx, "")
			for i := range 10 {
				rep, _ := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Transport: tr})
				if rep.Code != 486 {
					t.Fatalf("call %d ended %d, want the SBC's 486", i, rep.Code)
				}
				// Its relay ports too (the client offers no bypass ID: anchored),
				// well before its transaction's 32 s are over.
				mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_gateway_side_port_pairs_open")
			}
			mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "overload")
			// Two pairs a call, each quarantined (30 s by default, longer
			// than this test may take); the range is large, so none was
			// needed early.
			mediationtest.WaitMetric(t, lab.Server, 20, "mediationserver_media_port_pairs_quarantined")
			mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_media_port_pairs_early_reuses_total")
		})
	}
}

// TestShutdownWithCallersGone: calls ringing when the server stops, whose
// callers have gone away (they will never ACK our 503), do not hold the
// shutdown for the drain timeout: the SBC gets its CANCELs, every call is
// recorded, and the server returns well within drain time, so that a
// restart can bind the same ports at once.
func TestShutdownWithCallersGone(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: "127.0.0.1:0", MediaIP: loopback, NoAnswer: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer sbc.Close()
	records := t.TempDir() + "/calls.jsonl"
	srv, stop, stopped := stoppableServer(ctx, t, sbc, records)
	const calls = 5
	for range calls {
		caller, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		body := fixtureBody(t, "sbc-offer-pcma-pcmu.sdp")
		me := caller.LocalAddr().String()
		inv := "INVITE sip:+15550100@" + srv.EdgeAddr().String() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + me + ";branch=" + gosip.GenerateBranch() + "\r\n" +
			"Max-Forwards: 70\r\n" +
			"From: <sip:gone@" + me + ">;tag=" + gosip.GenerateTagN(10) + "\r\n" +
			"To: <sip:+15550100@" + srv.EdgeAddr().String() + ">\r\n" +
			"Call-ID: " + gosip.GenerateTagN(20) + "\r\n" +
			"CSeq: 1 INVITE\r\n" +
			"Contact: <sip:gone@" + me + ">\r\n" +
			"Content-Type: application/sdp\r\n" +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
		if _, err := caller.WriteToUDPAddrPort([]byte(inv), srv.EdgeAddr()); err != nil {
			t.Fatal(err)
		}
		caller.Close() // gone: nobody will read our 100, 183 or 503, nor ACK
	}
	mediationtest.WaitMetric(t, srv, calls, "mediationserver_calls_current", "direction", "outbound")
	began := time.Now()
	stop()
	if err := stopped(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("shutdown took %v with %d ringing calls whose callers are gone; the drain timeout is 10 s", took, calls)
	}
	if recs := readRecords(t, records); len(recs) != calls {
		t.Fatalf("%d records after shutdown, want %d", len(recs), calls)
	}
	// The ports are free again at once.
	for _, addr := range []string{srv.EdgeAddr().String(), srv.GatewayAddr().String()} {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("%s still bound after shutdown: %v", addr, err)
		}
		c.Close()
	}
}
