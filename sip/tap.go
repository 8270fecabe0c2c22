package sip

import (
	"bytes"
	"net"

	gosip "github.com/emiago/sipgo/sip"
)

// The tap: every message a side writes to the network is shown to its
// WriteTap before it leaves, so that a trace is in wire order (a message
// traced after its write could come after the peer's answer to it, read on
// another goroutine; sipgo's own SIPDebugTracer is called after the write,
// and is process-wide). The UDP socket is wrapped before sipgo serves it;
// TCP connections are wrapped where the side takes them from sipgo's pool.

// WriteTap sees the bytes of one message a stack is about to write.
// transport is "UDP", "TCP" or "TLS". data is only valid during the call.
type WriteTap func(transport string, local, remote net.Addr, data []byte)

// tapPacketConn is a UDP socket whose writes are tapped.
type tapPacketConn struct {
	net.PacketConn
	tap WriteTap
}

func (c tapPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.tap("UDP", c.PacketConn.LocalAddr(), addr, b)
	return c.PacketConn.WriteTo(b, addr)
}

// tapConnection is a sipgo TCP connection whose messages are tapped: the
// connections a side writes on (dialed or accepted) are wrapped when the
// side hands them to a transaction or writes on them, so every message
// sipgo writes for the side (100 Trying, retransmissions, the ACK of a
// non-2xx) passes here.
type tapConnection struct {
	gosip.Connection
	tap       WriteTap
	transport string // "TCP" or "TLS"
}

func (c tapConnection) WriteMsg(msg gosip.Message) error {
	var remote net.Addr
	if r, ok := c.Connection.(interface{ RemoteAddr() net.Addr }); ok {
		remote = r.RemoteAddr()
	}
	var buf bytes.Buffer
	msg.StringWrite(&buf)
	c.tap(c.transport, c.Connection.LocalAddr(), remote, buf.Bytes())
	return c.Connection.WriteMsg(msg)
}
