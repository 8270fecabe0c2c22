package reception

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// frameInterval is 20 ms of G.711.
const frameInterval = 20 * time.Millisecond

func TestReceptionLoss(t *testing.T) {
	type in struct {
		ssrc uint32
		seq  uint16
		skip bool // not of the stream measured (Skipped): comfort noise
	}
	seqs := func(ssrc uint32, s ...uint16) []in {
		out := make([]in, len(s))
		for i, v := range s {
			out[i] = in{ssrc: ssrc, seq: v}
		}
		return out
	}
	skipped := func(ssrc uint32, s ...uint16) []in {
		out := seqs(ssrc, s...)
		for i := range out {
			out[i].skip = true
		}
		return out
	}
	tests := []struct {
		name               string
		pkts               []in
		wantExpected, lost int
	}{
		{"nothing", nil, 0, 0},
		{"in order", seqs(1, 10, 11, 12, 13), 4, 0},
		{"one skipped", seqs(1, 10, 11, 13, 14), 5, 1},
		{"several skipped", seqs(1, 1, 3, 6), 6, 3},
		{"wraparound", seqs(1, 65534, 65535, 0, 1), 4, 0},
		{"loss across the wrap", seqs(1, 65534, 1), 4, 2},
		{"many wraps", append(append(seqs(1, 65535), seqs(1, wrapRun(0, 3*65536)...)...), seqs(1, 0)...), 3*65536 + 2, 0},
		{"reordered", seqs(1, 1, 3, 2, 4), 4, 0},
		{"duplicate", seqs(1, 1, 2, 2, 3), 3, 0},
		{"late after a loss", seqs(1, 1, 2, 4, 5, 3), 5, 0},
		{"lost at the end is unseen", seqs(1, 1, 2, 3), 3, 0},
		{"stray jump ignored", seqs(1, 1, 2, 10000, 3, 4), 4, 0},
		{"sequence restart", seqs(1, 1, 2, 40000, 40001, 40003), 2 + 3, 1},
		{"new SSRC keeps earlier loss", append(seqs(1, 1, 2, 4), seqs(2, 100, 101, 103)...), 4 + 4, 1 + 1},
		// RFC 3550 A.1 probation: one packet of another SSRC is no source.
		{"stray SSRC ignored", append(append(seqs(1, 1, 2, 3), seqs(9, 500)...), seqs(1, 5, 6)...), 6, 1},
		{"strays of several SSRCs ignored", slices.Concat(seqs(1, 1, 2), seqs(9, 500), seqs(8, 501), seqs(9, 502), seqs(1, 3)), 3, 0},
		// A new source's loss counts once it passed probation, from its
		// first packet in sequence.
		{"new SSRC after a false start", append(seqs(1, 1, 2), seqs(2, 100, 102, 103, 105)...), 2 + 4, 0 + 1},
		{"new SSRC across the wrap", append(seqs(1, 1, 2), seqs(2, 65535, 0, 2)...), 2 + 4, 0 + 1},
		// Comfort noise (a payload type not negotiated) has the source's
		// sequence numbers: not lost, though not measured.
		{"skipped packets are not lost", slices.Concat(seqs(1, 1, 2), skipped(1, 3, 4), seqs(1, 5)), 5, 0},
		{"skipped and lost", slices.Concat(seqs(1, 1, 2), skipped(1, 4), seqs(1, 6)), 6, 2},
		{"skipped before the first packet start nothing", slices.Concat(skipped(1, 1), seqs(1, 2, 3)), 2, 0},
		{"skipped of another SSRC ignored", slices.Concat(seqs(1, 1, 2), skipped(9, 500, 501), seqs(1, 3)), 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Stats
			for i, p := range tt.pkts {
				h := &rtp.Header{SSRC: p.ssrc, SequenceNumber: p.seq, Timestamp: uint32(i) * 160}
				if p.skip {
					r.Skipped(h)
					continue
				}
				r.Update(h, time.Duration(i)*frameInterval, true)
			}
			if int(r.TotalExpected()) != tt.wantExpected || int(r.TotalLost()) != tt.lost ||
				(len(tt.pkts) > 0 && r.SSRC() != tt.pkts[len(tt.pkts)-1].ssrc) {
				t.Errorf("expected %d, lost %d, source %d; want %d, %d, %d", r.TotalExpected(), r.TotalLost(), r.SSRC(),
					tt.wantExpected, tt.lost, tt.pkts[len(tt.pkts)-1].ssrc)
			}
		})
	}
}

// wrapRun is n consecutive sequence numbers from first, wrapping.
func wrapRun(first uint16, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = first + uint16(i)
	}
	return out
}

// TestReceptionJitter feeds arrival schedules whose RFC 3550 jitter is
// known in closed form.
func TestReceptionJitter(t *testing.T) {
	const n = 200
	// Every other packet arrives 2 ms (16 timestamp units) late: |D| is 16
	// for every packet after the first, so J = 16 (1 - (15/16)^(n-1)).
	alternating := 16 * (1 - math.Pow(15.0/16, n-1))
	tests := []struct {
		name    string
		arrival func(i int) time.Duration
		ts      func(i int) uint32
		audio   func(i int) bool
		want    float64 // timestamp units
	}{
		{"steady", func(i int) time.Duration { return time.Duration(i) * frameInterval }, step(160), always, 0},
		{"constant delay", func(i int) time.Duration { return time.Second + time.Duration(i)*frameInterval }, step(160), always, 0},
		{"alternating 2 ms", func(i int) time.Duration {
			return time.Duration(i)*frameInterval + time.Duration(i%2)*2*time.Millisecond
		}, step(160), always, alternating},
		{"timestamps wrap", func(i int) time.Duration {
			return time.Duration(i)*frameInterval + time.Duration(i%2)*2*time.Millisecond
		},
			func(i int) uint32 { return math.MaxUint32 - 160*50 + uint32(i)*160 }, always, alternating},
		{"events do not count", func(i int) time.Duration { return time.Duration(i) * frameInterval },
			func(i int) uint32 { return uint32(i/10) * 1600 }, // every 10 packets share a timestamp
			func(i int) bool { return i%10 == 0 }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Stats
			for i := range n {
				r.Update(&rtp.Header{SSRC: 7, SequenceNumber: uint16(i), Timestamp: tt.ts(i)}, tt.arrival(i), tt.audio(i))
			}
			if math.Abs(r.jitter-tt.want) > 1e-9 {
				t.Errorf("jitter %.6f units, want %.6f", r.jitter, tt.want)
			}
			wantDur := time.Duration(tt.want * float64(time.Second) / ClockRate)
			if d := r.Jitter() - wantDur; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("jitter %v, want %v", r.Jitter(), wantDur)
			}
			if r.TotalLost() != 0 || r.TotalExpected() != n {
				t.Errorf("expected %d lost %d, want %d and 0", r.TotalExpected(), r.TotalLost(), n)
			}
		})
	}
	t.Run("one late packet", func(t *testing.T) {
		// A single packet 10 ms late: D = 80 then -80, so J = 80/16, then
		// 5 + (80-5)/16.
		var r Stats
		arrivals := []time.Duration{0, 20 * time.Millisecond, 50 * time.Millisecond, 60 * time.Millisecond}
		for i, a := range arrivals {
			r.Update(&rtp.Header{SSRC: 1, SequenceNumber: uint16(i), Timestamp: uint32(i) * 160}, a, true)
		}
		want := 5 + (80-5)/16.0
		if math.Abs(r.jitter-want) > 1e-9 {
			t.Errorf("jitter %.4f units, want %.4f", r.jitter, want)
		}
	})
	t.Run("new SSRC starts over", func(t *testing.T) {
		var r Stats
		for i := range 20 {
			r.Update(&rtp.Header{SSRC: 1, SequenceNumber: uint16(i), Timestamp: uint32(i) * 160},
				time.Duration(i)*frameInterval+time.Duration(i%2)*5*time.Millisecond, true)
		}
		if r.jitter == 0 {
			t.Fatal("no jitter from a jittery source")
		}
		// One packet of SSRC 2 is on probation (RFC 3550 A.1): nothing
		// changes; the second in sequence makes it the source.
		before := r.jitter
		r.Update(&rtp.Header{SSRC: 2, SequenceNumber: 500, Timestamp: 9}, time.Second, true)
		if r.jitter != before || r.SSRC() != 1 {
			t.Errorf("jitter %.3f, source %d after one packet of SSRC 2, want %.3f and 1", r.jitter, r.SSRC(), before)
		}
		r.Update(&rtp.Header{SSRC: 2, SequenceNumber: 501, Timestamp: 169}, time.Second+frameInterval, true)
		if r.jitter != 0 || r.SSRC() != 2 || r.Received() != 2 {
			t.Errorf("jitter %.3f, source %d, %d received after two packets of SSRC 2, want 0, 2, 2", r.jitter, r.SSRC(), r.Received())
		}
	})
}

func step(units uint32) func(int) uint32 { return func(i int) uint32 { return uint32(i) * units } }

func always(int) bool { return true }
