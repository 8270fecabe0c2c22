package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/bench"
)

// BenchmarkCall is one whole call (bypassed, or anchored on relay ports)
// through the B2BUA in-process over loopback UDP, signalling only: INVITE,
// 100, 183, 200, ACK, BYE, 200 on both legs, with the client, the SBC and
// the server all in this process (so allocations are all three's). Calls
// run one at a time: the time per call is its latency, not the server's
// throughput (see mediation bench for that). Time and allocations are per
// call: the timer runs from the first call to the end of the last, not
// while the daemon and endpoints start or stop. msgs/call is the SIP
// messages the daemon read and wrote per call, both sides, from its own
// counters (mediationserver_sip_requests_total and _responses_total,
// less OPTIONS: Daemon.SIPMessagesPerCall).
func BenchmarkCall(b *testing.B) {
	for _, mode := range []string{bench.ModeBypass, bench.ModeAnchored} {
		b.Run(mode, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			media := false
			b.ReportAllocs()
			rep, err := bench.Run(ctx, bench.Config{CPS: 1e6, Calls: b.N, Concurrent: 1, Mode: mode,
				Duration: time.Nanosecond, Media: &media, OnStart: b.ResetTimer, OnEnd: b.StopTimer})
			if err != nil {
				b.Fatal(err)
			}
			if rep.Failed > 0 {
				b.Fatalf("%d calls failed: %v", rep.Failed, rep.FailedBy)
			}
			if !rep.Daemon.Read || rep.Daemon.SIPMessages == 0 {
				b.Fatalf("no SIP message counts from the daemon: %+v", rep.Daemon)
			}
			b.ReportMetric(rep.Daemon.SIPMessagesPerCall, "msgs/call")
		})
	}
}
