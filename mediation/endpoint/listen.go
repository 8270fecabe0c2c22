package endpoint

import (
	"fmt"
	"net"
	"net/netip"
)

// bindAttempts bounds the search for a free RTP/RTCP pair; on loopback a
// handful of attempts always suffices.
const bindAttempts = 64

// bindMediaPair binds an RTP socket and an RTCP socket on the next port, the
// pair SfB and plain RFC 3264 peers both assume. RTCP is never read: it only
// keeps the port ours so a peer's RTCP does not draw ICMP errors.
func bindMediaPair(ip netip.Addr) (rtp, rtcp *net.UDPConn, err error) {
	for range bindAttempts {
		rtp, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			return nil, nil, fmt.Errorf("bind rtp on %s: %w", ip, err)
		}
		port := rtp.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		if port < 65535 {
			rtcp, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, port+1)))
			if err == nil {
				return rtp, rtcp, nil
			}
		}
		_ = rtp.Close()
	}
	return nil, nil, fmt.Errorf("bind rtp/rtcp pair on %s: no adjacent ports free after %d attempts", ip, bindAttempts)
}
