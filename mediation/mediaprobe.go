package mediation

import (
	"errors"
	"net"
	"net/netip"

	"github.com/mediation-emulator/mediation/sip"
)

// probeMediaIP binds a UDP socket on ip (any port) and closes it: an
// address that is not on this host fails here, at start, rather than in
// every anchored call (503 no_media_ports) of a server that says it is
// ready.
func probeMediaIP(ip netip.Addr) error {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return err
	}
	return c.Close()
}

// logNoPorts logs, at warn and at most once every 10 s for the server, a
// call refused because no media port pair could be bound, with the last
// bind error: a range used up, or ports held by another program.
func logNoPorts(log *callLog, limit *sip.Limiter, err error) {
	if !errors.Is(err, errNoPorts) {
		return
	}
	if ok, suppressed := limit.Allow(); ok {
		log.Warn().Err(err).Int("suppressed", suppressed).Msg("no media port pair could be bound: anchored call refused with 503")
	}
}
