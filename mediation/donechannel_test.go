package mediation_test

import (
	"context"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// TestCallsQueryMakesNoDoneChannel: listing the calls in progress (GET
// /calls, the web UI's pages and their refresh) queries each call, and
// that must not make the channel closed at its end, which a call keeps for
// its whole life once made (README "Performance"). It did: the query
// waited on it as well.
func TestCallsQueryMakesNoDoneChannel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, sbc, srv, oc, records := anchoredCall(ctx, t, func(n int, req *gosip.Request) (int, []byte) {
		return 200, fixtureBody(t, "sbc-answer-pcma.sdp")
	})
	for range 3 {
		if calls := srv.Calls(); len(calls) != 1 {
			t.Fatalf("calls in progress %+v, want one", calls)
		}
	}
	if n := srv.DoneChannels(); n != 0 {
		t.Fatalf("%d calls made their done channel for a query", n)
	}
	hangUpAndCheck(ctx, t, sbc, srv, oc, records)
}
