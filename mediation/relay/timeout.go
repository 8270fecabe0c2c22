package relay

// This file runs the session's periodic work: our RTCP reports and the
// media-timeout check. Packets only store their arrival time in an atomic
// (legState.heard); a ticker compares, so no timer is armed per packet.

import "time"

const (
	// The media-timeout check runs ten times per timeout, within bounds:
	// a 30 s timeout fires at most 1 s late.
	minCheckEvery = 10 * time.Millisecond
	maxCheckEvery = time.Second
)

// housekeep sends the RTCP reports and checks the media timeout until the
// session closes.
func (s *Session) housekeep() {
	defer s.wg.Done()
	reports := time.NewTicker(s.opts.rtcpInterval)
	defer reports.Stop()
	var check <-chan time.Time
	if s.opts.mediaTimeout > 0 {
		t := time.NewTicker(min(max(s.opts.mediaTimeout/10, minCheckEvery), maxCheckEvery))
		defer t.Stop()
		check = t.C
	}
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-reports.C:
			s.sendReports()
		case <-check:
			s.checkMedia(s.now())
		}
	}
}

// checkMedia fires the media timeout for the first set leg that has been
// silent for the timeout, unless the call is on hold or it already fired.
func (s *Session) checkMedia(now time.Duration) {
	defer s.lastCheck.Store(int64(now))
	if s.timedOut.Load() || s.onHold.Load() {
		return
	}
	for _, side := range []Side{Edge, Gateway} {
		l := &s.legs[side]
		if l.peer.Load() == nil {
			continue
		}
		silent := now - time.Duration(l.heard.Load())
		if silent >= s.opts.mediaTimeout {
			s.timedOut.Store(true)
			s.fireTimeout(side, silent)
			return
		}
	}
}

// fireTimeout starts the callback on a goroutine of its own, so that it may
// call Close (which waits for this goroutine) without deadlock, but never
// once Close has begun.
func (s *Session) fireTimeout(side Side, silent time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.log.Info().Stringer("side", side).Int64("silent_ms", silent.Milliseconds()).Msg("relay media timeout")
	go s.opts.onTimeout(side)
}
