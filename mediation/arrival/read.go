package arrival

import (
	"net"
	"net/netip"
	"time"
)

// MaxAge bounds a plausible age of a stamp: the kernel's stamp and ours
// are wall-clock readings, and a step of the clock between the two makes
// the age negative or huge; neither is a packet's wait (one that really
// waited this long was stale anyway).
const MaxAge = 10 * time.Second

// ReadFrom reads one datagram from c into buf, with its control messages
// into oob when oob is not nil (a socket Enable took: see Age); without
// oob, a plain read.
func ReadFrom(c *net.UDPConn, buf, oob []byte) (n, oobn int, src netip.AddrPort, err error) {
	if oob == nil {
		n, src, err = c.ReadFromUDPAddrPort(buf)
		return n, 0, src, err
	}
	n, oobn, _, src, err = c.ReadMsgUDPAddrPort(buf, oob)
	return n, oobn, src, err
}

// Age is how long before now the kernel stamped the datagram whose control
// messages are oob; ok is false when there is no stamp, or its age is not
// plausible (below 0 or MaxAge and above).
func Age(oob []byte, now time.Time) (time.Duration, bool) {
	if len(oob) == 0 {
		return 0, false
	}
	at, ok := Time(oob)
	if !ok {
		return 0, false
	}
	d := now.Round(0).Sub(at)
	return d, d >= 0 && d < MaxAge
}
