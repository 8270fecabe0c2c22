// Package reception keeps the RFC 3550 reception statistics of the RTP a
// receiver gets from one sender: extended sequence numbers and loss (A.1,
// A.3) and interarrival jitter (A.8). The relay builds its RTCP reports from
// it and the simulated endpoints their call reports.
package reception

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

// ClockRate is the RTP clock of every codec here (G.711, and G.722 whose
// RTP clock is 8000 too, RFC 3551 §4.5.2).
const ClockRate = 8000

// Stats is what a receiver saw of one sender. The first packet's SSRC is
// the source at once (it is known from signalling); another SSRC becomes
// the source only once two of its packets came in sequence (RFC 3550 A.1
// probation), so that one stray packet (a late one of an old source, a
// probe) neither counts nor restarts anything. A new source (or a
// restarted sequence) starts its counts and jitter afresh, while the
// totals keep the loss of earlier sources. Audio and telephone-event
// packets share a source's sequence numbers, so both count for loss; only
// audio feeds the jitter, since the packets of one event share a timestamp.
// The zero value is ready; it is not safe for concurrent use.
type Stats struct {
	started  bool
	ssrc     uint32
	baseSeq  uint32
	maxSeq   uint16
	cycles   uint32 // sequence number wraps, times 2^16
	badSeq   uint32
	received int64

	priorExpected, priorLost int64 // earlier sources

	// A packet of another SSRC on probation: its SSRC and sequence number.
	probing  bool
	probSSRC uint32
	probSeq  uint16

	haveLast    bool
	lastArrival time.Duration
	lastTS      uint32
	jitter      float64 // in timestamp units
}

// Update accounts one packet that arrived at arrival (any monotonic clock
// with a fixed origin); audio says whether it carries audio.
func (s *Stats) Update(h *rtp.Header, arrival time.Duration, audio bool) {
	switch {
	case !s.started:
		s.restart(h.SSRC, h.SequenceNumber)
	case h.SSRC != s.ssrc:
		if !s.probe(h.SSRC, h.SequenceNumber) {
			return
		}
	case !s.updateSeq(h.SequenceNumber):
		return
	}
	s.received++
	if audio {
		s.updateJitter(h.Timestamp, arrival)
	}
}

// Skipped accounts a packet of the source's that is not part of the
// stream measured (comfort noise, a codec not negotiated): its sequence
// number is the sender's, so it arrived as far as loss is concerned
// (counted in Received, or every one would count lost), but it feeds no
// jitter, and a packet of another SSRC, or before the first packet, is
// ignored: it neither starts nor restarts anything.
func (s *Stats) Skipped(h *rtp.Header) {
	if s.started && h.SSRC == s.ssrc && s.updateSeq(h.SequenceNumber) {
		s.received++
	}
}

// probe accounts a packet of an SSRC other than the source's: the second
// of that SSRC in sequence makes it the source, from the first one on
// (which is counted then), and reports true; any other is held on
// probation and reports false.
func (s *Stats) probe(ssrc uint32, seq uint16) bool {
	if !s.probing || ssrc != s.probSSRC || seq != s.probSeq+1 {
		s.probing, s.probSSRC, s.probSeq = true, ssrc, seq
		return false
	}
	s.restart(ssrc, s.probSeq)
	s.received = 1
	return s.updateSeq(seq)
}

// restart begins a new source at seq (A.1 init_seq).
func (s *Stats) restart(ssrc uint32, seq uint16) {
	if s.started {
		s.priorExpected += s.Expected()
		s.priorLost += max(0, s.Lost())
	}
	s.started, s.ssrc = true, ssrc
	s.baseSeq, s.maxSeq = uint32(seq), seq
	s.badSeq = seqMod + 1 // no sequence number is this
	s.cycles, s.received = 0, 0
	s.haveLast, s.jitter = false, 0
	s.probing = false
}

// updateSeq is A.1 update_seq of the source's packets (a new SSRC's
// probation is probe's); it reports whether the packet counts.
func (s *Stats) updateSeq(seq uint16) bool {
	udelta := seq - s.maxSeq
	switch {
	case udelta < maxDropout:
		if seq < s.maxSeq {
			s.cycles += seqMod
		}
		s.maxSeq = seq
	case int(udelta) <= seqMod-maxMisorder:
		if uint32(seq) != s.badSeq {
			s.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return false
		}
		s.restart(s.ssrc, seq)
	default:
		// Duplicate or late: counted, the highest stays.
	}
	return true
}

// updateJitter is A.8: J += (|D| - J) / 16, where D is the difference of
// the transit times of consecutive packets, (Rj - Ri) - (Sj - Si). Arrival
// times keep their nanoseconds rather than being rounded to timestamp units
// first, so sub-unit jitter on a quiet loopback still shows.
func (s *Stats) updateJitter(ts uint32, arrival time.Duration) {
	if s.haveLast {
		elapsed := float64(arrival-s.lastArrival) * ClockRate / float64(time.Second)
		// int32: modulo 2^32 like the timestamps, so a wrap is no jump.
		d := math.Abs(elapsed - float64(int32(ts-s.lastTS)))
		s.jitter += (d - s.jitter) / 16
	}
	s.haveLast, s.lastArrival, s.lastTS = true, arrival, ts
}

// Started reports whether any packet was accounted.
func (s *Stats) Started() bool { return s.started }

// SSRC is the current source.
func (s *Stats) SSRC() uint32 { return s.ssrc }

// ExtendedHighest is the current source's highest sequence number with its
// wrap count, as RTCP reports it.
func (s *Stats) ExtendedHighest() uint32 { return s.cycles + uint32(s.maxSeq) }

// Received is the number of packets of the current source.
func (s *Stats) Received() int64 { return s.received }

// Expected is A.3's expected count of the current source.
func (s *Stats) Expected() int64 {
	if !s.started {
		return 0
	}
	return int64(s.cycles) + int64(s.maxSeq) - int64(s.baseSeq) + 1
}

// Lost is the current source's cumulative loss as RTCP reports it:
// negative when duplicates outnumber losses.
func (s *Stats) Lost() int64 { return s.Expected() - s.received }

// TotalExpected is the number of packets all sources sent, by their
// sequence numbers, from the first received to the highest received.
func (s *Stats) TotalExpected() int64 { return s.priorExpected + s.Expected() }

// TotalLost is the loss of all sources, never negative.
func (s *Stats) TotalLost() int64 { return s.priorLost + max(0, s.Lost()) }

// JitterUnits is the current source's interarrival jitter in timestamp
// units, as RTCP reports it.
func (s *Stats) JitterUnits() uint32 { return uint32(s.jitter) }

// Jitter is the current source's interarrival jitter as a time.
func (s *Stats) Jitter() time.Duration {
	return time.Duration(s.jitter * float64(time.Second) / ClockRate)
}
