package relay

// This file keeps what our RTCP reports say of the stream a peer sends us:
// the RFC 3550 statistics (package reception), the loss interval between
// reports, and the peer's last sender report, from which our
// reports' reception blocks are built.

import (
	"sync"
	"time"

	"github.com/mediation-emulator/mediation/mediation/reception"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const (
	// clockRate is the RTP clock of every codec the relay handles.
	clockRate = reception.ClockRate
	// maxReportedLoss is the largest cumulative loss the 24-bit signed RTCP
	// field holds.
	maxReportedLoss = 1<<23 - 1
)

// receiver holds the reception state of one leg: the RFC 3550 statistics
// of the peer's stream, the loss interval of our reports, and the peer's
// last sender report. The leg's RTP reader updates it per packet, its RTCP
// reader records sender reports, and the reporter and Stats read it, hence
// the mutex (uncontended per packet).
type receiver struct {
	mu    sync.Mutex
	stats reception.Stats

	// The source and counts at our last report, for the fraction lost.
	priorSSRC                    uint32
	expectedPrior, receivedPrior int64

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
	r.stats.Update(h, now, audio)
}

// skipped accounts a packet of the peer's that is not of its negotiated
// stream (reception.Stats.Skipped): not lost, not measured.
func (r *receiver) skipped(h *rtp.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Skipped(h)
}

// senderReport records the NTP time of a sender report from the peer,
// which arrived at now, for the LSR and DLSR of our next report.
func (r *receiver) senderReport(ntp uint64, now time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.haveSR, r.lastSR, r.srAt = true, ntpMiddle(ntp), now
}

// interval returns the loss since the previous report: the RFC 3550 A.3
// fraction lost as a ratio. A new source (or a restarted sequence) since
// the last report starts the interval from zero. r.mu must be held.
func (r *receiver) interval() (expected, lost int64) {
	expectedPrior, receivedPrior := r.expectedPrior, r.receivedPrior
	if r.stats.SSRC() != r.priorSSRC || r.stats.Expected() < expectedPrior {
		expectedPrior, receivedPrior = 0, 0
	}
	expected = r.stats.Expected() - expectedPrior
	received := r.stats.Received() - receivedPrior
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
	if !r.stats.Started() {
		return rtcp.ReceptionReport{}, false
	}
	expected, lost := r.interval()
	var fraction uint8
	if expected > 0 && lost > 0 {
		fraction = uint8(min(lost*256/expected, 255))
	}
	r.priorSSRC, r.expectedPrior, r.receivedPrior = r.stats.SSRC(), r.stats.Expected(), r.stats.Received()
	rr := rtcp.ReceptionReport{
		SSRC:               r.stats.SSRC(),
		FractionLost:       fraction,
		TotalLost:          uint32(min(max(r.stats.Lost(), 0), maxReportedLoss)),
		LastSequenceNumber: r.stats.ExtendedHighest(),
		Jitter:             r.stats.JitterUnits(),
	}
	if r.haveSR {
		rr.LastSenderReport = r.lastSR
		rr.Delay = uint32(int64(now-r.srAt) * (1 << 16) / int64(time.Second))
	}
	return rr, true
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
	if !r.stats.Started() {
		return receptionStats{}
	}
	s := receptionStats{
		// All sources': an SSRC change (a transfer, a DSP restart) must
		// not wipe the loss before it from the call's record.
		lost:        r.stats.TotalLost(),
		jitter:      r.stats.Jitter(),
		jitterUnits: r.stats.JitterUnits(),
	}
	if expected, lost := r.interval(); expected > 0 {
		s.fraction = float64(lost) / float64(expected)
	}
	return s
}
