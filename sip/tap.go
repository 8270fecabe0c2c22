package sip

import (
	"bytes"
	"net"
	"net/netip"
	"sync"

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

// WriteTap sees one message a stack is about to write: its bytes (valid
// only during the call) and the message itself. transport is "UDP", "TCP"
// or "TLS".
type WriteTap func(transport string, local, remote net.Addr, data []byte, msg gosip.Message)

// tapConnection is a sipgo connection whose messages are tapped.
type tapConnection struct {
	gosip.Connection
	tap       WriteTap
	transport string // "UDP", "TCP" or "TLS"
}

// tapBuffers serialise tapped messages: the bytes are only lent to the tap.
var tapBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (c tapConnection) WriteMsg(msg gosip.Message) error {
	var remote net.Addr
	if r, ok := c.Connection.(interface{ RemoteAddr() net.Addr }); ok && r.RemoteAddr() != nil {
		remote = r.RemoteAddr()
	} else if ap, err := netip.ParseAddrPort(msg.Destination()); err == nil {
		// The UDP listener is not connected: the message says where it goes.
		remote = net.UDPAddrFromAddrPort(ap)
	}
	buf := tapBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	msg.StringWrite(buf)
	c.tap(c.transport, c.Connection.LocalAddr(), remote, buf.Bytes(), msg)
	tapBuffers.Put(buf)
	return c.Connection.WriteMsg(msg)
}
