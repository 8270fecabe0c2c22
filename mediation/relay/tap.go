package relay

import "net/netip"

// PacketTap sees every RTP and RTCP datagram a session reads (in) or is
// about to send, with our socket's address and the peer's. data is only
// valid during the call. It runs on the packet path: it must not block.
type PacketTap func(in bool, local, remote netip.AddrPort, data []byte)

// WithPacketTap shows every datagram of the session to tap (a capture
// file). nil, the default, costs nothing.
func WithPacketTap(tap PacketTap) SessionOption {
	return func(o *sessionOptions) { o.tap = tap }
}

// tapped shows a datagram to the session's tap, if any.
func (s *Session) tapped(in bool, local, remote netip.AddrPort, data []byte) {
	if s.opts.tap != nil {
		s.opts.tap(in, local, remote, data)
	}
}
