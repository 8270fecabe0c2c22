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
	"time"
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
	// last is when a packet from addr last passed, on the session's clock.
	last atomic.Int64
}

// RelatchAfter is how long a latched source must have been silent before
// another port of the peer's own IPs may take its place: a NAT that
// rebinds the peer's flow to a new port mid-call (rtpengine re-latches
// likewise unless strict), which would otherwise leave the peer's audio
// dropped as foreign until the media timeout ended the call. A stranger's
// IP never latches.
const RelatchAfter = time.Second

// addr returns the address latched for p, if any.
func (l *latch) addr(p *peer) (netip.AddrPort, bool) {
	c := l.cur.Load()
	if c == nil || c.peer != p {
		return netip.AddrPort{}, false
	}
	return c.addr, true
}

// accepts reports whether a packet of p's leg from src, received at now
// (the session's clock), is relayed. Before the leg is latched: a source
// on the signalled (SDP) address's IP or on one of the peer's other IPs
// (Leg.Sources), any port; afterwards the latched address and the
// signalled one, so a peer that stops going through a NAT, or an early
// packet from an old address after a re-INVITE, cannot lock the signalled
// address out; and, once the latched address has been silent for
// RelatchAfter, any port of the peer's own IPs (a NAT rebinding).
func (l *latch) accepts(p *peer, signalled, src netip.AddrPort, now time.Duration) bool {
	c := l.cur.Load()
	if c == nil || c.peer != p {
		return ownIP(p, signalled, src)
	}
	if src == c.addr || src == signalled { // every packet of a latched leg: no scan
		return true
	}
	return now-time.Duration(c.last.Load()) >= RelatchAfter && (src.Addr() == c.addr.Addr() || ownIP(p, signalled, src))
}

// ownIP reports a source on one of the peer's own IPs: the signalled
// (SDP) address's or one of Leg.Sources.
func ownIP(p *peer, signalled, src netip.AddrPort) bool {
	return src.Addr() == signalled.Addr() || slices.Contains(p.sources, src.Addr())
}

// commit latches p's leg to src, the source of a packet that passed
// authentication and parsing and carries a negotiated payload type (so
// garbage cannot steer our media), received at now. It allocates only when
// the latched address changes; moved reports a latch that changed from
// one address to another (not the first).
func (l *latch) commit(p *peer, src netip.AddrPort, now time.Duration) (from netip.AddrPort, moved bool) {
	c := l.cur.Load()
	if c != nil && c.peer == p && c.addr == src {
		c.last.Store(int64(now))
		return src, false
	}
	n := &latched{peer: p, addr: src}
	n.last.Store(int64(now))
	l.cur.Store(n)
	if c != nil && c.peer == p {
		return c.addr, true
	}
	return netip.AddrPort{}, false
}

// carry moves a latch from prev to next when SetLeg replaced the peer
// without changing the address: a re-INVITE (hold, codec change) keeps the
// NAT binding the peer's media already uses.
func (l *latch) carry(prev, next *peer) {
	if c := l.cur.Load(); c != nil && c.peer == prev {
		n := &latched{peer: next, addr: c.addr}
		n.last.Store(c.last.Load())
		l.cur.Store(n)
	}
}

// relatched logs a latch of side x's stream (rtp or rtcp) that moved from
// old to src: a NAT rebinding, or the peer moving without a re-offer.
func (s *Session) relatched(x Side, stream string, old, src netip.AddrPort) {
	s.logger().Info().Stringer("side", x).Str("stream", stream).Stringer("from", old).Stringer("to", src).
		Msg("peer's media moved to a new source: re-latched")
}
