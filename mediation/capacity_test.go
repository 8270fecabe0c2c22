package mediation_test

import (
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
// slot when its final response is sent, not when its INVITE transaction
// ends 32 s later: with max_calls 2, ten calls in a row that the SBC
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
			}
			mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "overload")
		})
	}
}
