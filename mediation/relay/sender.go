package relay

// This file keeps the state of our own stream towards a peer, for the
// sender information of our RTCP sender reports.

import (
	"sync"
	"time"
)

// sender is the state of our stream towards one leg, for our sender
// reports: the leg's peer learns from them how much we sent and maps our
// RTP timestamps to wall-clock time.
type sender struct {
	mu      sync.Mutex
	packets uint32 // RFC 3550 counts modulo 2^32
	octets  uint32 // payload octets
	haveTS  bool
	lastTS  uint32
	lastAt  time.Duration
}

// sent accounts one packet of ours with timestamp ts and payloadLen bytes
// of payload, sent at now. Only audio packets anchor the timestamp clock:
// the packets of an RFC 4733 event carry the event's start.
func (s *sender) sent(ts uint32, payloadLen int, audio bool, now time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packets++
	s.octets += uint32(payloadLen)
	if audio || !s.haveTS {
		s.lastTS, s.lastAt, s.haveTS = ts, now, true
	}
}

// info returns the sender information of a report at now: our RTP
// timestamp extrapolated from the last packet sent. ok is false before we
// sent anything (a receiver report is due instead).
func (s *sender) info(now time.Duration) (packets, octets, ts uint32, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packets == 0 {
		return 0, 0, 0, false
	}
	ts = s.lastTS + uint32(int64(now-s.lastAt)*clockRate/int64(time.Second))
	return s.packets, s.octets, ts, true
}
