package endpoint

// This file keeps the reception statistics of the RTP a stream receives,
// as RFC 3550 defines them: cumulative loss from sequence numbers (A.1,
// A.3) and interarrival jitter (A.8).

import (
	"math"
	"time"

	"github.com/pion/rtp"
)

// RFC 3550 A.1's limits: a forward jump of fewer than maxDropout is loss,
// one within maxMisorder behind is a late packet, anything else a stray
// packet or, twice in a row, a sender that restarted its sequence.
const (
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16
)

// reception is what one stream saw of the packets it received. Audio and
// telephone-event packets of a source share its sequence numbers, so both
// count for loss; only audio feeds the jitter, since the packets of one
// event share a timestamp. A new SSRC (or a restarted sequence) starts a new
// source: its jitter starts from zero, while the loss of earlier sources is
// kept in the totals. It is not safe for concurrent use.
type reception struct {
	started  bool
	ssrc     uint32
	baseSeq  uint32
	maxSeq   uint16
	cycles   uint32 // sequence number wraps, times 2^16
	badSeq   uint32
	received int64

	// earlier sources' expected and lost packets.
	priorExpected, priorLost int64

	// The last audio packet's arrival and timestamp.
	haveLast    bool
	lastArrival time.Duration
	lastTS      uint32
	jitter      float64 // RFC 3550 A.8 estimate, in timestamp units
}

// update accounts one packet that arrived at arrival (any monotonic clock
// with a fixed origin); audio says whether it carries audio.
func (r *reception) update(h *rtp.Header, arrival time.Duration, audio bool) {
	switch {
	case !r.started || h.SSRC != r.ssrc:
		r.restart(h.SSRC, h.SequenceNumber)
	case !r.updateSeq(h.SequenceNumber):
		return
	}
	r.received++
	if audio {
		r.updateJitter(h.Timestamp, arrival)
	}
}

// restart begins a new source at seq (A.1 init_seq), keeping the loss of
// the previous one.
func (r *reception) restart(ssrc uint32, seq uint16) {
	if r.started {
		r.priorExpected += r.expectedNow()
		r.priorLost += r.lostNow()
	}
	r.started, r.ssrc = true, ssrc
	r.baseSeq, r.maxSeq = uint32(seq), seq
	r.badSeq = seqMod + 1 // no sequence number is this
	r.cycles, r.received = 0, 0
	r.haveLast, r.jitter = false, 0
}

// updateSeq is A.1 update_seq without the probation of new sources (the
// source is known from signalling); it reports whether the packet counts.
func (r *reception) updateSeq(seq uint16) bool {
	udelta := seq - r.maxSeq
	switch {
	case udelta < maxDropout:
		if seq < r.maxSeq {
			r.cycles += seqMod
		}
		r.maxSeq = seq
	case int(udelta) <= seqMod-maxMisorder:
		if uint32(seq) != r.badSeq {
			r.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return false
		}
		r.restart(r.ssrc, seq)
	default:
		// Duplicate or late: counted, the highest stays.
	}
	return true
}

// updateJitter is A.8: J += (|D| - J) / 16, where D is the difference of
// the transit times of consecutive packets, (Rj - Ri) - (Sj - Si). Arrival
// times keep their nanoseconds rather than being rounded to timestamp units
// first, so sub-unit jitter on a quiet loopback still shows.
func (r *reception) updateJitter(ts uint32, arrival time.Duration) {
	if r.haveLast {
		elapsed := float64(arrival-r.lastArrival) * sampleRate / float64(time.Second)
		// int32: modulo 2^32 like the timestamps, so a wrap is no jump.
		d := math.Abs(elapsed - float64(int32(ts-r.lastTS)))
		r.jitter += (d - r.jitter) / 16
	}
	r.haveLast, r.lastArrival, r.lastTS = true, arrival, ts
}

// expectedNow is A.3's expected count of the current source.
func (r *reception) expectedNow() int64 {
	if !r.started {
		return 0
	}
	return int64(r.cycles) + int64(r.maxSeq) - int64(r.baseSeq) + 1
}

// lostNow is the current source's loss; duplicates can make A.3's
// difference negative, which is reported as none lost.
func (r *reception) lostNow() int64 {
	return max(0, r.expectedNow()-r.received)
}

// expected is the number of packets the sources sent, by their sequence
// numbers, from the first received to the highest received.
func (r *reception) expected() int { return int(r.priorExpected + r.expectedNow()) }

// lost is the cumulative number of packets lost.
func (r *reception) lost() int { return int(r.priorLost + r.lostNow()) }

// jitterDuration is the current source's interarrival jitter as a time.
func (r *reception) jitterDuration() time.Duration {
	return time.Duration(r.jitter * float64(time.Second) / sampleRate)
}
