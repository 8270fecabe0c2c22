package endpoint

import (
	"fmt"
	"net"
	"net/netip"

	// Its init also raises sipgo's UDP size limit for SfB-sized INVITEs.
	mediationsip "github.com/mediation-emulator/mediation/sip"
)

// bindAttempts bounds the search for a free RTP/RTCP pair; on loopback a
// handful of attempts always suffices.
const bindAttempts = 64

// bindSIP binds UDP and TCP on the same address. With port 0 it retries until
// the kernel's UDP port is also free for TCP, so the endpoint has one SIP
// address for both transports.
func bindSIP(listen string) (*net.UDPConn, *net.TCPListener, netip.AddrPort, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	want, err := netip.ParseAddrPort(listen)
	if err != nil {
		return nil, nil, netip.AddrPort{}, fmt.Errorf("listen address %q: %w", listen, err)
	}
	if want.Addr().IsUnspecified() {
		// The address goes into Via, Contact and SDP; a wildcard there is useless.
		return nil, nil, netip.AddrPort{}, fmt.Errorf("listen address %q: need a concrete IP", listen)
	}
	udp, tcp, err := mediationsip.ListenPair(want)
	if err != nil {
		return nil, nil, netip.AddrPort{}, err
	}
	return udp, tcp, netip.AddrPortFrom(want.Addr(), udp.LocalAddr().(*net.UDPAddr).AddrPort().Port()), nil
}

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
