package relay

import (
	"math"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestReceiverSequenceAndLoss(t *testing.T) {
	type pkt struct {
		ssrc uint32
		seq  uint16
	}
	tests := []struct {
		name        string
		in          []pkt
		wantLost    int64  // the current source's, as its report block says (clamped at 0)
		wantTotal   int64  // all sources', as Stats and the call record say
		wantHighest uint32 // extended highest sequence number
		wantFrac    uint8  // fraction lost of the first report
	}{
		{"in order", []pkt{{1, 10}, {1, 11}, {1, 12}}, 0, 0, 12, 0},
		{"losses", []pkt{{1, 1}, {1, 2}, {1, 4}, {1, 7}}, 3, 3, 7, 3 * 256 / 7},
		{"wrap with a loss", []pkt{{1, 65534}, {1, 65535}, {1, 0}, {1, 2}}, 1, 1, 1<<16 + 2, 256 / 5},
		// A duplicate makes RFC 3550's cumulative loss negative; reports
		// and totals clamp it at 0.
		{"duplicate is no loss", []pkt{{1, 1}, {1, 2}, {1, 2}, {1, 3}}, 0, 0, 3, 0},
		{"reordered is not lost", []pkt{{1, 1}, {1, 3}, {1, 2}, {1, 4}}, 0, 0, 4, 0},
		// The block is about the new source; the total keeps the old
		// source's 3 lost.
		{"new SSRC restarts the block, not the total", []pkt{{1, 1}, {1, 5}, {2, 900}, {2, 901}}, 0, 3, 901, 0},
		{"one stray jump is ignored", []pkt{{1, 1}, {1, 2}, {1, 20000}, {1, 3}}, 0, 0, 3, 0},
		// RFC 3550 A.1 restarts at the second packet: 20001 is the new base.
		{"two in a row restart the sequence", []pkt{{1, 1}, {1, 2}, {1, 20000}, {1, 20001}, {1, 20003}}, 1, 1, 20003, 256 / 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r receiver
			for i, p := range tt.in {
				r.update(&rtp.Header{SSRC: p.ssrc, SequenceNumber: p.seq, Timestamp: uint32(i) * 160}, time.Duration(i)*20*time.Millisecond, true)
			}
			if got := r.snapshot().lost; got != tt.wantTotal {
				t.Errorf("lost = %d, want %d", got, tt.wantTotal)
			}
			rr, ok := r.report(time.Second)
			if !ok {
				t.Fatal("no report block")
			}
			wantTotal := uint32(tt.wantLost)
			if rr.SSRC != tt.in[len(tt.in)-1].ssrc || rr.LastSequenceNumber != tt.wantHighest ||
				rr.TotalLost != wantTotal || rr.FractionLost != tt.wantFrac {
				t.Errorf("block %+v, want highest %d, total lost %d, fraction %d", rr, tt.wantHighest, wantTotal, tt.wantFrac)
			}
		})
	}
}

func TestReceiverFractionPerInterval(t *testing.T) {
	var r receiver
	if _, ok := r.report(0); ok {
		t.Fatal("report block before any packet")
	}
	seq := uint16(100)
	send := func(n, skip int) {
		for range n {
			r.update(&rtp.Header{SSRC: 5, SequenceNumber: seq}, 0, true)
			seq++
		}
		seq += uint16(skip)
	}
	send(8, 2) // 10 expected after the next packet
	send(1, 0)
	if s := r.snapshot(); math.Abs(s.fraction-2.0/11) > 1e-9 {
		t.Fatalf("live fraction %v, want 2/11", s.fraction)
	}
	first, _ := r.report(0)
	send(10, 0)
	second, _ := r.report(0)
	if first.FractionLost != 2*256/11 || second.FractionLost != 0 || second.TotalLost != 2 {
		t.Fatalf("fractions %d then %d (total %d), want %d then 0 (total 2)", first.FractionLost, second.FractionLost, second.TotalLost, 2*256/11)
	}
	if s := r.snapshot(); s.fraction != 0 || s.lost != 2 {
		t.Fatalf("after a clean interval: %+v", s)
	}
}

func TestReceiverJitter(t *testing.T) {
	tests := []struct {
		name   string
		gaps   []time.Duration // arrival gaps, cycled; timestamps step 160 (20 ms)
		audio  bool
		want   float64 // timestamp units
		within float64
	}{
		{"steady", []time.Duration{20 * time.Millisecond}, true, 0, 0.001},
		{"alternating 10/30 ms", []time.Duration{10 * time.Millisecond, 30 * time.Millisecond}, true, 80, 1},
		{"events do not count", []time.Duration{10 * time.Millisecond, 30 * time.Millisecond}, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r receiver
			var at time.Duration
			for i := range 500 {
				r.update(&rtp.Header{SSRC: 1, SequenceNumber: uint16(i), Timestamp: 0xFFFF0000 + uint32(i)*160}, at, tt.audio)
				at += tt.gaps[i%len(tt.gaps)]
			}
			units := float64(r.stats.Jitter()) * clockRate / float64(time.Second)
			if math.Abs(units-tt.want) > tt.within {
				t.Fatalf("jitter %.2f units, want %.0f", units, tt.want)
			}
			s := r.snapshot()
			if wantDur := time.Duration(tt.want / clockRate * float64(time.Second)); absDur(s.jitter-wantDur) > 200*time.Microsecond {
				t.Fatalf("jitter %v, want about %v", s.jitter, wantDur)
			}
		})
	}
}

func absDur(d time.Duration) time.Duration { return max(d, -d) }

func TestReceiverLastSenderReport(t *testing.T) {
	var r receiver
	r.update(&rtp.Header{SSRC: 3, SequenceNumber: 1}, 0, true)
	ntp := uint64(0x0123456789ABCDEF)
	r.senderReport(ntp, time.Second)
	rr, _ := r.report(1500 * time.Millisecond)
	if rr.LastSenderReport != 0x456789AB || rr.Delay != 1<<15 {
		t.Fatalf("LSR %#x DLSR %d, want 0x456789ab and 32768 (0.5 s)", rr.LastSenderReport, rr.Delay)
	}
}

func TestSenderInfo(t *testing.T) {
	var s sender
	if _, _, _, ok := s.info(0); ok {
		t.Fatal("sender info before sending")
	}
	for i := range 3 {
		s.sent(uint32(1000+160*i), 160, true, time.Duration(i)*20*time.Millisecond)
	}
	s.sent(1000, 4, false, 50*time.Millisecond) // an event started back at 1000
	packets, octets, ts, ok := s.info(60 * time.Millisecond)
	if !ok || packets != 4 || octets != 484 || ts != 1000+320+160 {
		t.Fatalf("info = %d packets, %d octets, ts %d, want 4, 484, %d", packets, octets, ts, 1000+480)
	}
}

func TestNTP(t *testing.T) {
	tests := []struct {
		t    time.Time
		want uint64
	}{
		{time.Unix(0, 0), ntpEpochOffset << 32},
		{time.Unix(1, int64(time.Second/2)), (ntpEpochOffset+1)<<32 | 1<<31},
	}
	for _, tt := range tests {
		if got := ntpTime(tt.t); got != tt.want {
			t.Errorf("ntpTime(%v) = %#x, want %#x", tt.t, got, tt.want)
		}
	}
	if got := shortNTP(3 << 15); got != 1500*time.Millisecond {
		t.Errorf("shortNTP(1.5 s) = %v", got)
	}
}
