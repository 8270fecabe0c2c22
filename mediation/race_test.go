package mediation_test

import (
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// TestCallEndsOnce: calls whose ends race each other (the caller's BYE,
// the media timeout and a server shutdown, all at about the same moment)
// each end exactly once: one record per call, no call left, the server
// stops cleanly. The call's events are handled in order by its own
// goroutine, so whichever comes first ends it and the others find it
// ending.
func TestCallEndsOnce(t *testing.T) {
	const calls = 30
	ctx := testCtx(t, 60*time.Second)
	sbc := startPeer(t, "sbc")
	records := t.TempDir() + "/calls.jsonl"
	cfg := labConfig(sbc.addr(), "udp")
	cfg.Media.Timeout = 700 * time.Millisecond
	cfg.Records.Path = records
	srv, stop := runServer(t, cfg)
	caller := startPeer(t, "caller")
	var up []*outCall
	for range calls {
		// Anchored and silent: each call's media timeout is due 700 ms after its answer.
		oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
		if res := oc.answer(ctx, nil); res.StatusCode != 200 {
			t.Fatalf("got %d", res.StatusCode)
		}
		_ = oc.d.Ack(ctx)
		up = append(up, oc)
	}
	// As the first media timeout fires (the others are due within
	// moments), every caller hangs up and the server is stopped.
	caller.wait(ctx, gosip.BYE, 1)
	var wg sync.WaitGroup
	for _, oc := range up {
		wg.Go(func() { _ = oc.d.Bye(ctx) })
	}
	wg.Go(func() {
		if err := stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	wg.Wait()
	if n := srv.ActiveCalls(); n != 0 {
		t.Fatalf("%d calls left after shutdown", n)
	}
	recs := readRecords(t, records)
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.CallID]++
	}
	if len(recs) != calls || len(seen) != calls {
		t.Fatalf("%d records for %d distinct calls, want %d each", len(recs), len(seen), calls)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("call %s has %d records", id, n)
		}
	}
	// The SBC heard one end of each call at most once.
	if n := sbc.count(gosip.BYE); n > calls {
		t.Errorf("SBC got %d BYEs for %d calls", n, calls)
	}
}
