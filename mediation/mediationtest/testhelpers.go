package mediationtest

import (
	"net"
	"net/netip"
	"runtime"
)

// FreeAddr is a loopback address whose port is free for UDP and TCP at the
// moment: where a simulated SBC can listen before the server that points
// at it starts. (Another process may still take it in between; tests that
// bind it retry.)
func FreeAddr(t TB) netip.AddrPort {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().(*net.TCPAddr).AddrPort()
		u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return addr
		}
	}
	t.Fatal("mediationtest: no loopback port free for both UDP and TCP")
	return netip.AddrPort{}
}

// HeapInUse is the live heap after two garbage collections: the figure
// leak checks compare before and after a run.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
