package sip

import (
	"net"
	"syscall"
)

// udpBuffers reads conn's buffer sizes back (SO_RCVBUF, SO_SNDBUF).
func udpBuffers(conn *net.UDPConn) (UDPBuffers, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return UDPBuffers{}, err
	}
	var b UDPBuffers
	var serr error
	if err := rc.Control(func(fd uintptr) {
		if b.Read, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF); serr != nil {
			return
		}
		b.Write, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	}); err != nil {
		return UDPBuffers{}, err
	}
	return b, serr
}

// forceUDPBuffers sets the sizes past net.core.rmem_max / wmem_max where
// the process may (CAP_NET_ADMIN); elsewhere it changes nothing.
func forceUDPBuffers(conn *net.UDPConn, n int) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, n)
	})
}
