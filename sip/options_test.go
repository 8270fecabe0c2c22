package sip

import (
	"context"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// TestPingNeverMissesItsAnswer: over TCP an answered OPTIONS transaction
// ends as soon as the answer arrives, so Ping sees the answer and the end
// together; it must always report the answer (a trunk's health probe
// that was answered must never count as missed).
func TestPingNeverMissesItsAnswer(t *testing.T) {
	answering := func() Handler {
		rec := newRecorder()
		rec.answer = func(in *Incoming) { _ = in.Reply(200, "OK", "") }
		return rec
	}
	peer, us := startSide(t, answering()), startSide(t, answering())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 60 {
		res, err := us.Ping(ctx, peer.Addr(), "tcp")
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("ping %d over TCP: %v, %v", i, res, err)
		}
	}
}

// TestPingSinkPrefersTheAnswer: when the answer and the transaction's end
// are both ready (an answered transaction over TCP ends at once), the
// answer is what Ping reports, every time.
func TestPingSinkPrefersTheAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 200 {
		p := newPingSink()
		p.OnResponse(nil, gosip.NewResponse(200, "OK"))
		p.OnDone(nil, nil)
		if res, err := p.wait(ctx); err != nil || res.StatusCode != 200 {
			t.Fatalf("try %d: %v, %v; want the 200", i, res, err)
		}
	}
}
