package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/bench"
)

// BenchmarkCall is one whole bypassed call through the B2BUA in-process
// over loopback UDP, signalling only: INVITE, 100, 183, 200, ACK, BYE, 200
// on both legs, with the client, the SBC and the server all in this
// process (so allocations are all three's). Calls run one at a time: the
// time per call is its latency, not the server's throughput (see
// mediation bench for that).
func BenchmarkCall(b *testing.B) {
	for _, mode := range []string{bench.ModeBypass, bench.ModeAnchored} {
		b.Run(mode, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			media := false
			b.ReportAllocs()
			rep, err := bench.Run(ctx, bench.Config{CPS: 1e6, Calls: b.N, Concurrent: 1, Mode: mode,
				Duration: time.Nanosecond, Media: &media})
			if err != nil {
				b.Fatal(err)
			}
			if rep.Failed > 0 {
				b.Fatalf("%d calls failed: %v", rep.Failed, rep.FailedBy)
			}
		})
	}
}
