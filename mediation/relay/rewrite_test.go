package relay

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestRewrite(t *testing.T) {
	const ssrc, firstSeq, firstTS = 0xCAFEBABE, 1000, 50000
	type in struct {
		ssrc   uint32
		seq    uint16
		ts     uint32
		marker bool
	}
	type out struct {
		seq uint16
		ts  uint32
	}
	tests := []struct {
		name     string
		firstSeq uint16
		firstTS  uint32
		in       []in
		want     []out
	}{
		{
			name:     "keeps deltas including a loss",
			firstSeq: firstSeq, firstTS: firstTS,
			in:   []in{{1, 7, 900, true}, {1, 8, 1060, false}, {1, 10, 1380, false}},
			want: []out{{1000, 50000}, {1001, 50160}, {1003, 50480}},
		},
		{
			name:     "input sequence wraps",
			firstSeq: firstSeq, firstTS: firstTS,
			in:   []in{{1, 65534, 0, false}, {1, 65535, 160, false}, {1, 0, 320, false}, {1, 1, 480, false}},
			want: []out{{1000, 50000}, {1001, 50160}, {1002, 50320}, {1003, 50480}},
		},
		{
			name:     "output sequence and timestamp wrap",
			firstSeq: 65535, firstTS: 0xFFFFFF60,
			in:   []in{{1, 100, 0, false}, {1, 101, 160, false}, {1, 102, 320, false}},
			want: []out{{65535, 0xFFFFFF60}, {0, 0}, {1, 160}},
		},
		{
			name:     "new input SSRC continues our stream",
			firstSeq: firstSeq, firstTS: firstTS,
			in:   []in{{1, 10, 0, false}, {1, 11, 160, false}, {2, 40000, 123456, true}, {2, 40001, 123616, false}},
			want: []out{{1000, 50000}, {1001, 50160}, {1002, 50320}, {1003, 50480}},
		},
		{
			name:     "re-base uses the learnt timestamp step",
			firstSeq: firstSeq, firstTS: firstTS,
			in:   []in{{1, 10, 0, false}, {1, 11, 240, false}, {2, 7, 9, false}},
			want: []out{{1000, 50000}, {1001, 50240}, {1002, 50480}},
		},
		{
			name:     "re-base after a single packet steps 160",
			firstSeq: firstSeq, firstTS: firstTS,
			in:   []in{{1, 10, 0, false}, {2, 7, 9, false}},
			want: []out{{1000, 50000}, {1001, 50160}},
		},
		{
			name:     "event packets sharing a timestamp do not teach a zero step",
			firstSeq: firstSeq, firstTS: firstTS,
			in:   []in{{1, 10, 0, false}, {1, 11, 160, false}, {1, 12, 320, true}, {1, 13, 320, false}, {2, 1, 1, false}},
			want: []out{{1000, 50000}, {1001, 50160}, {1002, 50320}, {1003, 50320}, {1004, 50480}},
		},
		{
			name:     "late packet keeps its place and does not move the re-base point",
			firstSeq: firstSeq, firstTS: firstTS,
			in:   []in{{1, 10, 0, false}, {1, 12, 320, false}, {1, 11, 160, false}, {2, 5, 5, false}},
			want: []out{{1000, 50000}, {1002, 50320}, {1001, 50160}, {1003, 50480}},
		},
		{
			name:     "returning to an earlier SSRC re-bases again",
			firstSeq: firstSeq, firstTS: firstTS,
			in:   []in{{1, 10, 0, false}, {2, 500, 7, false}, {1, 11, 160, false}},
			want: []out{{1000, 50000}, {1001, 50160}, {1002, 50320}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := newRewriter(ssrc, tt.firstSeq, tt.firstTS)
			var got rtp.Header
			for i, p := range tt.in {
				h := rtp.Header{
					Version: 2, SSRC: p.ssrc, SequenceNumber: p.seq, Timestamp: p.ts, Marker: p.marker,
					PayloadType: 0, CSRC: []uint32{1, 2},
				}
				rw.rewrite(&h, 8, 0, &got, 0)
				if got.SequenceNumber != tt.want[i].seq || got.Timestamp != tt.want[i].ts {
					t.Errorf("packet %d: seq/ts = %d/%d, want %d/%d",
						i, got.SequenceNumber, got.Timestamp, tt.want[i].seq, tt.want[i].ts)
				}
				// The first packet after our jump to a new input stream
				// is marked too (RFC 3551 §4.1).
				marker := p.marker || i > 0 && p.ssrc != tt.in[i-1].ssrc
				if got.SSRC != ssrc || got.PayloadType != 8 || got.Marker != marker || got.Version != 2 {
					t.Errorf("packet %d: header %+v, want SSRC %#x PT 8 marker %v", i, got, uint32(ssrc), marker)
				}
				if len(got.CSRC) != 0 || got.Extension || got.Padding {
					t.Errorf("packet %d: CSRC/extension/padding not dropped: %+v", i, got)
				}
			}
		})
	}
}

// TestRewriteRebaseKeepsWallTime: a new input SSRC after a silence gets a
// timestamp advanced by the wall time since the last packet we sent, in
// whole packets of the learnt step; back to back it is one step, as before.
func TestRewriteRebaseKeepsWallTime(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name   string
		step   uint32
		gap    time.Duration
		wantTS uint32 // of the new source's first packet, after the last one's
	}{
		{"back to back", 160, 20 * ms, 160},
		{"early", 160, 3 * ms, 160},
		{"jittery", 160, 27 * ms, 160},
		{"3 s of silence", 160, 3020 * ms, 24160},
		{"30 ms packets, 1 s", 240, 1000 * ms, 7920},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := newRewriter(1, 100, 5000)
			var got rtp.Header
			for i := range 5 {
				rw.rewrite(&rtp.Header{SSRC: 0xC1, SequenceNumber: uint16(i), Timestamp: uint32(i) * tt.step}, 0, 0, &got, time.Duration(i)*20*ms)
			}
			last := got.Timestamp
			rw.rewrite(&rtp.Header{SSRC: 0xD2, SequenceNumber: 9999, Timestamp: 77}, 0, 0, &got, 4*20*ms+tt.gap)
			if got.SequenceNumber != 105 || got.Timestamp-last != tt.wantTS {
				t.Fatalf("new source at seq %d, ts +%d; want seq 105, ts +%d", got.SequenceNumber, got.Timestamp-last, tt.wantTS)
			}
		})
	}
}

// TestRewriteRebaseAfterEvent: a new input SSRC right after an RFC 4733
// event (all its packets on the event's start timestamp, RFC 4733 §2.3)
// is stamped after the event's end (start + duration), not inside its
// tone; and the audio after an event teaches no packetisation (its step
// is the event's length). Before, the new source came 160 after the
// event's start, 640 units inside an 800-unit digit.
func TestRewriteRebaseAfterEvent(t *testing.T) {
	const ms = time.Millisecond
	rw := newRewriter(1, 100, 5000)
	var got rtp.Header
	at := func(i int) time.Duration { return time.Duration(i) * 20 * ms }
	for i := range 5 {
		rw.rewrite(&rtp.Header{SSRC: 0xC1, SequenceNumber: uint16(i), Timestamp: uint32(i) * 160}, 0, 0, &got, at(i))
	}
	start := got.Timestamp + 160
	for i, d := range []uint32{160, 320, 480, 640, 800, 800, 800, 800} {
		rw.rewrite(&rtp.Header{SSRC: 0xC1, SequenceNumber: uint16(5 + i), Timestamp: 800}, 101, d, &got, at(5+min(i, 4)))
	}
	if got.Timestamp != start {
		t.Fatalf("event stamped %d, want %d", got.Timestamp, start)
	}
	rw.rewrite(&rtp.Header{SSRC: 0xD2, SequenceNumber: 9000, Timestamp: 77}, 0, 0, &got, at(9))
	if d := got.Timestamp - start; d != 800+160 {
		t.Fatalf("new source %d after the event's start, want 960: one packet after the event's 800", d)
	}
	// Same stream, audio after an event: the step of 960 is not learnt.
	rw = newRewriter(1, 100, 5000)
	rw.rewrite(&rtp.Header{SSRC: 0xC1, SequenceNumber: 1, Timestamp: 0}, 101, 800, &got, 0)
	rw.rewrite(&rtp.Header{SSRC: 0xC1, SequenceNumber: 2, Timestamp: 960}, 0, 0, &got, 20*ms)
	if rw.tsDelta != defaultTSDelta {
		t.Fatalf("learnt a step of %d from an event to audio", rw.tsDelta)
	}
}

// TestRewriteLateOldSource: after the peer's stream moves from SSRC A to
// B, a late packet of A (reordered across the switch, a delayed burst of
// them) is not relayed: it would re-base our stream back onto A, its stale
// audio the newest, and B's next packet forward again, a frame late for
// the rest of the call (r28-media F2, r28-review F3). A late packet is
// behind A's own timeline by more than a frame; A on time is back, at
// once (a sender resuming, or RFC 4733 events on an SSRC of their own,
// interleaved with the audio); A whose timestamps stopped while it was
// silent is back at its third packet in sequence; a stream that cut in for
// one packet holds nothing back ("returning to an earlier SSRC" in
// TestRewrite). Packets come 20 ms apart; ts 0 means seq*160.
func TestRewriteLateOldSource(t *testing.T) {
	type pkt struct {
		ssrc uint32
		seq  uint16
		ts   uint32
	}
	const a, b, e = 0xA, 0xB, 0xE
	tests := []struct {
		name    string
		in      []pkt
		dropped []int // indexes of the packets not relayed
	}{
		{"late packet of the old source", []pkt{{a, 1, 0}, {a, 2, 0}, {a, 3, 0}, {b, 70, 0}, {b, 71, 0}, {b, 72, 0}, {a, 3, 0}, {b, 73, 0}, {b, 74, 0}}, []int{6}},
		{"late pair of the old source in sequence", []pkt{{a, 1, 0}, {a, 2, 0}, {b, 70, 0}, {b, 71, 0}, {a, 3, 0}, {a, 4, 0}, {b, 72, 0}, {b, 73, 0}}, []int{4, 5}},
		{"two late packets out of sequence", []pkt{{a, 1, 0}, {a, 2, 0}, {b, 70, 0}, {b, 71, 0}, {a, 2, 0}, {a, 1, 0}, {b, 72, 0}}, []int{4, 5}},
		{"old source back on time", []pkt{{a, 1, 0}, {a, 2, 0}, {b, 70, 0}, {b, 71, 0}, {a, 6, 0}, {a, 7, 0}, {a, 8, 0}}, nil},
		{"old source back with its timestamps stopped", []pkt{{a, 1, 0}, {a, 2, 0}, {b, 70, 0}, {b, 71, 0}, {b, 72, 0}, {a, 3, 0}, {a, 4, 0}, {a, 5, 0}, {a, 6, 0}}, []int{5, 6}},
		{"events on an SSRC of their own", []pkt{{a, 1, 0}, {a, 2, 0}, {a, 3, 0}, {e, 100, 10000}, {e, 101, 10000}, {e, 102, 10000},
			{a, 4, 1120}, {a, 5, 1280}, {e, 103, 10800}, {e, 104, 10800}, {a, 6, 1760}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := newRewriter(1, 100, 5000)
			var got, prev rtp.Header
			var dropped []int
			var prevIn rtp.Header
			prevI := -1
			for i, p := range tt.in {
				ts := p.ts
				if ts == 0 {
					ts = uint32(p.seq) * 160
				}
				h := rtp.Header{SSRC: p.ssrc, SequenceNumber: p.seq, Timestamp: ts}
				now := time.Duration(i) * 20 * time.Millisecond
				if rw.stale(&h, now) {
					dropped = append(dropped, i)
					continue
				}
				rw.rewrite(&h, 0, 0, &got, now)
				// The same source keeps its own timing; a re-based one is
				// stamped by the wall time since the last one relayed.
				step := uint32(160 * (i - prevI))
				if p.ssrc == prevIn.SSRC {
					step = h.Timestamp - prevIn.Timestamp
				}
				if prevI >= 0 && (got.SequenceNumber != prev.SequenceNumber+1 || got.Timestamp-prev.Timestamp != step) {
					t.Errorf("packet %d (%#x/%d): seq/ts %d/%d after %d/%d, want the next sequence number, %d later",
						i, p.ssrc, p.seq, got.SequenceNumber, got.Timestamp, prev.SequenceNumber, prev.Timestamp, step)
				}
				if switched := prevI >= 0 && p.ssrc != prevIn.SSRC; got.Marker != switched {
					t.Errorf("packet %d (%#x/%d): marker %v, want %v (set only where our stream changes source)", i, p.ssrc, p.seq, got.Marker, switched)
				}
				prev, prevI, prevIn = got, i, h
			}
			if !slices.Equal(dropped, tt.dropped) {
				t.Errorf("packets not relayed %v, want %v", dropped, tt.dropped)
			}
		})
	}
}
