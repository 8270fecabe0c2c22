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

// Housekeeping runs on timers rather than on a goroutine of its own: a
// goroutine per anchored call, idle but for a few microseconds every
// second, kept its stack (2 to 8 KB) for the whole call. A timer's function
// runs on a goroutine of the runtime's for the moment it needs.

// checkEvery is how often the media timeout is checked.
func (s *Session) checkEvery() time.Duration {
	return min(max(s.opts.mediaTimeout/10, minCheckEvery), maxCheckEvery)
}

// startHousekeeping arms the report and media-check timers. s.mu is held.
func (s *Session) startHousekeeping() {
	s.reportTimer = time.AfterFunc(s.opts.rtcpInterval, func() {
		s.housekeep(&s.reportTimer, s.opts.rtcpInterval, s.sendReports)
	})
	if s.opts.mediaTimeout > 0 {
		every := s.checkEvery()
		s.checkTimer = time.AfterFunc(every, func() {
			s.housekeep(&s.checkTimer, every, func() { s.checkMedia(s.now()) })
		})
	}
}

// housekeep runs work for the timer *t and arms it again, unless the session
// has closed. Close waits for a run in progress (s.wg), and a timer armed
// again is armed before Close stops it (both under s.mu), so nothing of the
// session runs once Close returns.
func (s *Session) housekeep(t **time.Timer, every time.Duration, work func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	work()
	s.mu.Lock()
	if !s.closed {
		(*t).Reset(every)
	}
	s.mu.Unlock()
}

// stopHousekeeping stops the timers. s.mu is held and s.closed set.
func (s *Session) stopHousekeeping() {
	for _, t := range []*time.Timer{s.reportTimer, s.checkTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

// checkMedia fires the media timeout for the first set leg that has been
// silent for the timeout, unless the timeout is suspended or already fired.
func (s *Session) checkMedia(now time.Duration) {
	defer s.lastCheck.Store(int64(now))
	if s.timedOut.Load() || s.suspended.Load() {
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
	s.logger().Info().Stringer("side", side).Int64("silent_ms", silent.Milliseconds()).Msg("relay media timeout")
	go s.opts.onTimeout(side)
}
