package relay

// This file is the live state of one side of a session: the peer in force,
// its latches, what we heard from it and sent to it. The readers, the
// reporter and the API calls share it, so every field is an atomic or
// guards itself.

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// legState is one side of a session: shared by both RTP readers, its RTCP
// reader, the reporter and the API.
type legState struct {
	peer atomic.Pointer[peer]
	// rtpLatch and rtcpLatch are where the peer's RTP and RTCP come from.
	rtpLatch, rtcpLatch latch
	// heard is when (session clock) the peer's last RTP or RTCP arrived,
	// or when the media timeout was last restarted.
	heard atomic.Int64
	// rtt is the last round-trip time measured from the peer's reports.
	rtt atomic.Int64
	// recv is the peer's stream; send is ours towards the peer.
	recv receiver
	send sender
	// warned has bit r set once a drop for reason r was logged.
	warned atomic.Uint32
	counters
}

// setPeer publishes next, keeping the latches when the addresses stay.
// An RFC 2543 hold (c=0.0.0.0) keeps the RTCP latch too: the held peer
// goes on sending RTCP from where it did (RFC 3264 §8.4), which keeps the
// call's media timeout at bay; no RTP goes to it.
func (l *legState) setPeer(next *peer) {
	prev := l.peer.Load()
	if prev != nil && prev.rtp == next.rtp {
		l.rtpLatch.carry(prev, next)
	}
	if prev != nil && (prev.rtcp == next.rtcp || next.rtcp.IsValid() && next.rtcp.Addr().IsUnspecified()) {
		l.rtcpLatch.carry(prev, next)
	}
	l.peer.Store(next)
}

// rtpDest is where RTP for p goes: the latched source, else the SDP address.
func (l *legState) rtpDest(p *peer, latching bool) netip.AddrPort {
	if latching {
		if a, ok := l.rtpLatch.addr(p); ok {
			return a
		}
	}
	return p.rtp
}

// rtcpDest is where RTCP for p goes: the latched RTCP source; else, when
// the RTP source's IP differs from the SDP's (a NAT), the port above the
// source, as a NAT usually maps RTP and RTCP alike; else the SDP's RTCP
// address (its a=rtcp, or its RTP port + 1). A source on the SDP's own IP
// but another port is no NAT, only a peer (an SBC) that sends from another
// socket than it receives on: the RTCP port it named is where it listens,
// and the port above its sending one may be another call's. ok is false
// when there is nowhere to send.
func (l *legState) rtcpDest(p *peer, latching bool) (netip.AddrPort, bool) {
	if latching {
		if a, ok := l.rtcpLatch.addr(p); ok {
			return a, true
		}
		if a, ok := l.rtpLatch.addr(p); ok && a.Addr() != p.rtp.Addr() && a.Port() < maxPort {
			return netip.AddrPortFrom(a.Addr(), a.Port()+1), true
		}
	}
	return p.rtcp, p.rtcpOK
}

// hear records a packet from the peer at now.
func (l *legState) hear(now time.Duration) {
	l.heard.Store(int64(now))
}

// snapshot returns the side's statistics.
func (l *legState) snapshot(latching bool) SideStats {
	st := l.counters.snapshot()
	rs := l.recv.snapshot()
	st.Lost, st.FractionLost, st.Jitter, st.JitterUnits = rs.lost, rs.fraction, rs.jitter, rs.jitterUnits
	st.RTT = time.Duration(l.rtt.Load())
	if p := l.peer.Load(); p != nil {
		st.Codec = p.codec.String()
		if latching {
			st.Latched, _ = l.rtpLatch.addr(p)
		}
	}
	return st
}
