package relay

// This file keeps the reception statistics of the stream a peer sends us
// (RFC 3550 appendix A.1, A.3 and A.8): sequence tracking, loss and
// interarrival jitter, and the peer's last sender report, from which our
// reports' reception blocks are built.

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const (
	// clockRate is the RTP clock of every codec the relay handles (G.722's
	// is 8000 too, RFC 3551 §4.5.2).
	clockRate = 8000
	// maxDropout and maxMisorder are RFC 3550 A.1's limits: a jump of
	// fewer than maxDropout is a loss, one within maxMisorder behind is a
	// late packet, anything else a possible restart.
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16
	// maxReportedLoss is the largest cumulative loss the 24-bit signed RTCP
	// field holds.
	maxReportedLoss = 1<<23 - 1
)

// receiver holds the reception state of one leg. The leg's RTP reader
// updates it per packet, its RTCP reader records sender reports, and the
// reporter and Stats read it, hence the mutex (uncontended per packet).
type receiver struct {
	mu sync.Mutex

	started  bool
	ssrc     uint32
	maxSeq   uint16
	cycles   uint32 // sequence number wraps, times 2^16
	baseSeq  uint32
	badSeq   uint32
	received uint64

	expectedPrior, receivedPrior uint64

	haveTransit bool
	transit     uint32  // arrival - RTP timestamp of the last audio packet, in timestamp units
	jitter      float64 // RFC 3550 A.8 estimate, in timestamp units

	haveSR bool
	lastSR uint32        // middle 32 bits of the NTP time of the peer's last SR
	srAt   time.Duration // when it arrived (session clock)
}

// update accounts one packet that arrived at now (session clock). audio
// says whether it is of the leg's audio codec: only those feed the jitter
// estimate, since the packets of one RFC 4733 event share a timestamp.
func (r *receiver) update(h *rtp.Header, now time.Duration, audio bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started || h.SSRC != r.ssrc {
		r.restart(h.SSRC, h.SequenceNumber)
	} else if !r.updateSeq(h.SequenceNumber) {
		return
	}
	r.received++
	if audio {
		r.updateJitter(h.Timestamp, now)
	}
}

// restart begins a new source at seq (RFC 3550 A.1 init_seq).
func (r *receiver) restart(ssrc uint32, seq uint16) {
	r.started, r.ssrc = true, ssrc
	r.baseSeq, r.maxSeq = uint32(seq), seq
	r.badSeq = seqMod + 1
	r.cycles, r.received, r.expectedPrior, r.receivedPrior = 0, 0, 0, 0
	r.haveTransit, r.jitter = false, 0
}

// updateSeq is RFC 3550 A.1 update_seq without the probation of new
// sources (a leg's source is known from signalling): it reports whether the
// packet counts as received.
func (r *receiver) updateSeq(seq uint16) bool {
	udelta := seq - r.maxSeq
	switch {
	case udelta < maxDropout:
		if seq < r.maxSeq {
			r.cycles += seqMod
		}
		r.maxSeq = seq
	case int(udelta) <= seqMod-maxMisorder:
		// A large jump: twice in a row means the peer restarted its
		// sequence; once is a stray packet.
		if uint32(seq) != r.badSeq {
			r.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return false
		}
		r.restart(r.ssrc, seq)
	default:
		// A duplicate or late packet: counted, the maximum stays.
	}
	return true
}

// updateJitter is RFC 3550 A.8: J += (|D| - J) / 16 over the transit times.
func (r *receiver) updateJitter(ts uint32, now time.Duration) {
	// Modulo 2^32 like the timestamps, so a timestamp wrap is no jump.
	transit := uint32(int64(now)*clockRate/int64(time.Second)) - ts
	if r.haveTransit {
		d := int64(int32(transit - r.transit))
		if d < 0 {
			d = -d
		}
		r.jitter += (float64(d) - r.jitter) / 16
	}
	r.transit, r.haveTransit = transit, true
}

// senderReport records the NTP time of a sender report from the peer,
// which arrived at now, for the LSR and DLSR of our next report.
func (r *receiver) senderReport(ntp uint64, now time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.haveSR, r.lastSR, r.srAt = true, ntpMiddle(ntp), now
}

// expected is RFC 3550 A.3's expected packet count. r.mu must be held.
func (r *receiver) expected() uint64 {
	return uint64(r.cycles) + uint64(r.maxSeq) - uint64(r.baseSeq) + 1
}

// interval returns the loss since the previous report: the RFC 3550 A.3
// fraction lost as a ratio. r.mu must be held.
func (r *receiver) interval() (expected, lost uint64) {
	expected = r.expected() - r.expectedPrior
	received := r.received - r.receivedPrior
	if received >= expected {
		return expected, 0
	}
	return expected, expected - received
}

// report builds the reception report block about the peer's stream for a
// report sent at now, and starts a new loss interval. ok is false before
// any packet arrived.
func (r *receiver) report(now time.Duration) (rtcp.ReceptionReport, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return rtcp.ReceptionReport{}, false
	}
	expected, lost := r.interval()
	var fraction uint8
	if expected > 0 && lost > 0 {
		fraction = uint8(min(lost*256/expected, 255))
	}
	r.expectedPrior, r.receivedPrior = r.expected(), r.received
	rr := rtcp.ReceptionReport{
		SSRC:               r.ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(min(max(r.lost(), 0), maxReportedLoss)),
		LastSequenceNumber: r.cycles + uint32(r.maxSeq),
		Jitter:             uint32(r.jitter),
	}
	if r.haveSR {
		rr.LastSenderReport = r.lastSR
		rr.Delay = uint32(int64(now-r.srAt) * (1 << 16) / int64(time.Second))
	}
	return rr, true
}

// lost is the cumulative loss; negative when duplicates outnumber losses.
// r.mu must be held.
func (r *receiver) lost() int64 {
	return int64(r.expected()) - int64(r.received)
}

// receptionStats is what Stats reports about a peer's stream.
type receptionStats struct {
	lost        int64
	fraction    float64
	jitter      time.Duration
	jitterUnits uint32
}

// snapshot returns the loss and jitter so far without starting a new
// interval: the fraction is over the packets since our last report.
func (r *receiver) snapshot() receptionStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return receptionStats{}
	}
	s := receptionStats{
		lost:        r.lost(),
		jitter:      time.Duration(r.jitter * float64(time.Second) / clockRate),
		jitterUnits: uint32(r.jitter),
	}
	if expected, lost := r.interval(); expected > 0 {
		s.fraction = float64(lost) / float64(expected)
	}
	return s
}
