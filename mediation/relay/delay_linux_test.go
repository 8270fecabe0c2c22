//go:build linux

package relay

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestSessionObservesDelay: with a delay observer, every relayed packet is
// observed once, with the side it came from and a delay from its arrival
// in the kernel (after the moment it was sent) to its relayed copy's send
// (before the observation, which comes after it).
func TestSessionObservesDelay(t *testing.T) {
	a := newTestAllocator(t, 4)
	var (
		mu     sync.Mutex
		delays = map[Side][]time.Duration{}
	)
	c := newCall(t, a, WithDelayObserver(func(from Side, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		delays[from] = append(delays[from], d)
	}))
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	const n = 20
	for _, from := range []Side{Edge, Gateway} {
		src, dst, toSession, _ := c.ends(from)
		pt := uint8(0)
		if from == Gateway {
			pt = 8
		}
		for i := range n {
			sent := time.Now()
			src.sendRTP(t, toSession, rtp.Header{PayloadType: pt, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 7}, payload(160, byte(i)))
			readRTP(c.ctx, t, dst.rtp)
			waitFor(c.ctx, t, "the observation", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(delays[from]) == i+1
			})
			bound := time.Since(sent)
			mu.Lock()
			d := delays[from][i]
			mu.Unlock()
			if d <= 0 || d > bound {
				t.Fatalf("%s packet %d: delay %v, want above 0 and at most the %v between its send and its observation", from, i, d, bound)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delays[Edge]) != n || len(delays[Gateway]) != n {
		t.Fatalf("observed %d edge and %d gateway packets, want %d each", len(delays[Edge]), len(delays[Gateway]), n)
	}
}
