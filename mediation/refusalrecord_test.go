package mediation_test

import (
	"context"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestCapacityRefusalsLeaveNoRecord: an INVITE refused with 503 for
// max_calls (overload) or the source's rate limit (rate_limited) starts no
// call, so it writes no call record (a record per refused INVITE would let
// a flood write to disk as fast as it sends), while it is counted in
// calls_total and failed_calls_total{reason}, as README's "Call quality
// records" says (r25-bench F3).
func TestCapacityRefusalsLeaveNoRecord(t *testing.T) {
	t.Run("overload", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		records := t.TempDir() + "/calls.jsonl"
		lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{NoAnswer: true},
			Configure: func(c *mediation.Config) { c.MaxCalls, c.Records.Path = 1, records }})
		first := startClient(t, ctx, "")
		ringing, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan endpoint.CallReport, 1)
		go func() {
			rep, _ := first.Call(ringing, endpoint.CallOptions{Target: lab.Server.EdgeAddr()})
			done <- rep
		}()
		mediationtest.WaitMetric(t, lab.Server, 1, "mediationserver_calls_current", "direction", "outbound")
		res, err := sipClient(t).Do(ctx, request(gosip.INVITE, lab.Server.EdgeAddr().String(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp")))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 503 {
			t.Fatalf("second call got %d, want 503", res.StatusCode)
		}
		stop() // the first call is CANCELled: it ends, with a record
		if rep := <-done; rep.Code != 487 {
			t.Fatalf("first call ended %d, want 487", rep.Code)
		}
		mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
		mediationtest.WaitMetric(t, lab.Server, 2, "mediationserver_calls_total", "direction", "outbound")
		mediationtest.WaitMetric(t, lab.Server, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "overload")
		if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "canceled" {
			t.Fatalf("records %+v; want the cancelled call's alone", recs)
		}
	})
	t.Run("rate_limited", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		records := t.TempDir() + "/calls.jsonl"
		lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{Reject: 486},
			Configure: func(c *mediation.Config) {
				c.RateLimit, c.Records.Path = mediation.RateLimitConfig{PerSecond: 0.01, Burst: 1}, records
			}})
		client := startClient(t, ctx, "")
		var codes []int
		for range 3 {
			rep, _ := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr()})
			codes = append(codes, rep.Code)
		}
		if codes[0] != 486 || codes[1] != 503 || codes[2] != 503 {
			t.Fatalf("calls ended %v, want 486, 503, 503", codes)
		}
		mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
		mediationtest.WaitMetric(t, lab.Server, 3, "mediationserver_calls_total", "direction", "outbound")
		mediationtest.WaitMetric(t, lab.Server, 2, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "rate_limited")
		if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "486" {
			t.Fatalf("records %+v; want the 486 call's alone", recs)
		}
	})
}
