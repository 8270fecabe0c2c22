package sip

// A UDP socket's kernel receive buffer is where datagrams wait while the
// reading goroutine waits for a core (behind the calls' handlers or a
// garbage collection). Linux's default, net.core.rmem_default (208 KiB),
// holds some 45 SfB INVITEs: at 2,000 calls/s a 20 ms stall overflows it,
// the kernel drops what does not fit, and each drop costs a retransmission
// 500 ms later. StackConfig.UDPBuffer asks for more.

import (
	"fmt"
	"net"
)

// DefaultUDPBuffer is the buffer size, in bytes, the server's sides ask for
// by default (sip.udp_buffer_bytes in mediation/default.yaml) and the lab
// kit's endpoints ask for: a load generator that drops its own datagrams
// would report the server's loss.
const DefaultUDPBuffer = 4 << 20

// UDPBuffers are a UDP socket's kernel buffer sizes in bytes, as the
// kernel reports them: Linux doubles what it grants, for its bookkeeping,
// so a request for n was granted whole when n*2 is reported.
type UDPBuffers struct {
	Read, Write int
}

// short reports buffers known to be smaller than a request for n bytes got
// whole (zero sizes are unknown: not short).
func (b UDPBuffers) short(n int) bool {
	return (b.Read > 0 && b.Read < 2*n) || (b.Write > 0 && b.Write < 2*n)
}

// setUDPBuffers asks for n bytes of receive and send buffer on conn and
// returns what the kernel gave. Linux caps an ordinary request at
// net.core.rmem_max / wmem_max; a process with CAP_NET_ADMIN (root) may
// go beyond (SO_RCVBUFFORCE), which is tried when the cap got in the way.
func setUDPBuffers(conn *net.UDPConn, n int) (UDPBuffers, error) {
	if err := conn.SetReadBuffer(n); err != nil {
		return UDPBuffers{}, fmt.Errorf("udp receive buffer %d bytes: %w", n, err)
	}
	if err := conn.SetWriteBuffer(n); err != nil {
		return UDPBuffers{}, fmt.Errorf("udp send buffer %d bytes: %w", n, err)
	}
	got, err := udpBuffers(conn)
	if err != nil || !got.short(n) {
		return got, err
	}
	forceUDPBuffers(conn, n)
	return udpBuffers(conn)
}
