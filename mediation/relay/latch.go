package relay

// This file is the latching stage (symmetric RTP, RFC 4961 in spirit): a
// peer behind a NAT sends from an address its SDP cannot know, so once media
// arrives from a leg we send that leg's media back where it came from, and
// ignore any third address. Before that, only the peer's own IPs may latch
// (as rtpengine's strict-source): the SDP's, the SIP signalling source's and
// its ICE candidates'; anything else would let whoever sends first take
// the call's media.

import (
	"net/netip"
	"slices"
	"sync/atomic"
)

// latch is the source address one leg's RTP (or RTCP) was latched to. It is
// written by that leg's reader and read by the goroutines sending to the
// leg. A latch belongs to one peer value: a SetLeg that moves the peer to a
// new address publishes a new peer, which sees no latch until its own first
// packet.
type latch struct {
	cur atomic.Pointer[latched]
}

type latched struct {
	peer *peer
	addr netip.AddrPort
}

// addr returns the address latched for p, if any.
func (l *latch) addr(p *peer) (netip.AddrPort, bool) {
	c := l.cur.Load()
	if c == nil || c.peer != p {
		return netip.AddrPort{}, false
	}
	return c.addr, true
}

// accepts reports whether a packet of p's leg from src is relayed. Before
// the leg is latched: a source on the signalled (SDP) address's IP or on
// one of the peer's other IPs (Leg.Sources), any port; afterwards the
// latched address and the signalled one, so a peer that stops going
// through a NAT, or an early packet from an old address after a
// re-INVITE, cannot lock the signalled address out.
func (l *latch) accepts(p *peer, signalled, src netip.AddrPort) bool {
	if a, ok := l.addr(p); ok {
		return src == a || src == signalled
	}
	return src.Addr() == signalled.Addr() || slices.Contains(p.sources, src.Addr())
}

// commit latches p's leg to src, the source of a packet that passed
// authentication and parsing and carries a negotiated payload type (so
// garbage cannot steer our media). It allocates only when the latched
// address changes.
func (l *latch) commit(p *peer, src netip.AddrPort) {
	if a, ok := l.addr(p); ok && a == src {
		return
	}
	l.cur.Store(&latched{peer: p, addr: src})
}

// carry moves a latch from prev to next when SetLeg replaced the peer
// without changing the address: a re-INVITE (hold, codec change) keeps the
// NAT binding the peer's media already uses.
func (l *latch) carry(prev, next *peer) {
	if a, ok := l.addr(prev); ok {
		l.cur.Store(&latched{peer: next, addr: a})
	}
}
