package sip

import (
	"net"
	"net/netip"
	"testing"
)

func TestListenPair(t *testing.T) {
	udp, tcp, err := ListenPair(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	defer tcp.Close()
	u, c := udp.LocalAddr().(*net.UDPAddr).Port, tcp.Addr().(*net.TCPAddr).Port
	if u == 0 || u != c {
		t.Fatalf("UDP port %d, TCP port %d: want one port for both", u, c)
	}
	// The same address again is taken on both transports.
	if _, _, err := ListenPair(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(u))); err == nil {
		t.Fatal("a taken address was bound twice")
	}
}
