package sip

import (
	"net"
	"net/netip"

	gosip "github.com/emiago/sipgo/sip"
)

// The tap: every message a side writes to the network is shown to its
// WriteTap before it leaves, so that a trace is in wire order (a message
// traced after its write could come after the peer's answer to it, read on
// another goroutine; sipgo's own SIPDebugTracer is called after the write,
// and is process-wide). The connections a side writes on (the UDP
// listener's, dialed or accepted TCP and TLS ones) are wrapped where the
// side takes them from sipgo's pool and hands them to a transaction or
// writes on them, so every message sipgo writes for the side (100 Trying,
// retransmissions, the ACK of a non-2xx) passes here, as a message: the
// tracer needs no parse of what we built.

// WriteTap sees one message a stack is about to write. transport is
// "UDP", "TCP" or "TLS".
type WriteTap func(transport string, local, remote net.Addr, msg gosip.Message)

// tapConnection is a sipgo connection whose messages are tapped.
type tapConnection struct {
	gosip.Connection
	tap       WriteTap
	transport string // "UDP", "TCP" or "TLS"
}

func (c tapConnection) WriteMsg(msg gosip.Message) error {
	var remote net.Addr
	if r, ok := c.Connection.(interface{ RemoteAddr() net.Addr }); ok && r.RemoteAddr() != nil {
		remote = r.RemoteAddr()
	} else if ap, err := netip.ParseAddrPort(msg.Destination()); err == nil {
		// The UDP listener is not connected: the message says where it goes.
		remote = net.UDPAddrFromAddrPort(ap)
	}
	c.tap(c.transport, c.Connection.LocalAddr(), remote, msg)
	return c.Connection.WriteMsg(msg)
}
