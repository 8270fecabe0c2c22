//go:build !linux

package sip

import "net"

// udpBuffers cannot read the sizes back here: it reports none.
func udpBuffers(*net.UDPConn) (UDPBuffers, error) { return UDPBuffers{}, nil }

// forceUDPBuffers has no way past the system's cap here.
func forceUDPBuffers(*net.UDPConn, int) {}
