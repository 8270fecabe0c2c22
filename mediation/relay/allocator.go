package relay

// This file hands out the local RTP/RTCP port pairs an anchored call
// terminates media on.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// ErrExhausted is returned (wrapped) by Allocator.Allocate when no port pair
// in the range could be bound.
var ErrExhausted = errors.New("no free RTP port pair")

// maxPort is the highest UDP port number.
const maxPort = 65535

// Allocator hands out RTP/RTCP port pairs (even RTP port, RTCP = RTP+1) from a
// fixed range on one IP address. It is safe for concurrent use.
//
// Released pairs go to the back of the free list, so a port is reused as late
// as possible and late packets of an ended call are unlikely to reach a new
// one.
type Allocator struct {
	ip      netip.Addr
	network string
	low     int
	high    int

	mu    sync.Mutex
	free  []int // RTP ports, front is the next candidate (FIFO)
	inUse int
}

// NewAllocator returns an Allocator for the port pairs that fit in
// [low, high] on ip. The first RTP port is the first even port >= low; the
// last pair must have its RTCP port <= high.
func NewAllocator(ip netip.Addr, low, high int) (*Allocator, error) {
	if !ip.IsValid() {
		return nil, fmt.Errorf("relay allocator: invalid IP address")
	}
	if low < 1 || high > maxPort || low > high {
		return nil, fmt.Errorf("relay allocator: bad port range [%d, %d]", low, high)
	}
	first := low + low%2
	if first+1 > high {
		return nil, fmt.Errorf("relay allocator: port range [%d, %d] holds no even/odd pair", low, high)
	}
	a := &Allocator{ip: ip, network: "udp6", low: low, high: high}
	if ip.Unmap().Is4() {
		a.ip = ip.Unmap()
		a.network = "udp4"
	}
	for p := first; p+1 <= high; p += 2 {
		a.free = append(a.free, p)
	}
	return a, nil
}

// Allocate binds the next free pair. Ports that fail to bind (held by another
// process) are skipped and moved to the back of the list, so they are retried
// only after every other port.
func (a *Allocator) Allocate() (*PortPair, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var lastErr error
	for n := len(a.free); n > 0; n-- {
		port := a.free[0]
		a.free = a.free[1:]
		pair, err := a.bind(port)
		if err != nil {
			a.free = append(a.free, port)
			lastErr = err
			continue
		}
		a.inUse++
		return pair, nil
	}
	if lastErr != nil {
		return nil, fmt.Errorf("relay allocator %s [%d, %d]: %w (last bind error: %v)",
			a.ip, a.low, a.high, ErrExhausted, lastErr)
	}
	return nil, fmt.Errorf("relay allocator %s [%d, %d]: %w", a.ip, a.low, a.high, ErrExhausted)
}

// InUse reports how many pairs are currently allocated.
func (a *Allocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inUse
}

// bind opens the RTP and RTCP sockets of the pair starting at port.
func (a *Allocator) bind(port int) (*PortPair, error) {
	rtpConn, err := a.listen(port)
	if err != nil {
		return nil, err
	}
	rtcpConn, err := a.listen(port + 1)
	if err != nil {
		_ = rtpConn.Close()
		return nil, err
	}
	return &PortPair{RTP: rtpConn, RTCP: rtcpConn, port: port, alloc: a}, nil
}

func (a *Allocator) listen(port int) (*net.UDPConn, error) {
	addr := netip.AddrPortFrom(a.ip, uint16(port))
	conn, err := net.ListenUDP(a.network, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	return conn, nil
}

// release returns a closed pair's RTP port to the back of the free list.
func (a *Allocator) release(port int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.free = append(a.free, port)
	a.inUse--
}

// PortPair is one bound RTP socket and its RTCP socket (RTP port + 1).
type PortPair struct {
	// RTP and RTCP are the bound sockets; they are closed by Close.
	RTP, RTCP *net.UDPConn

	port  int
	alloc *Allocator
	once  sync.Once
	err   error
}

// Addr is the local RTP address of the pair.
func (p *PortPair) Addr() netip.AddrPort {
	return netip.AddrPortFrom(p.alloc.ip, uint16(p.port))
}

// RTCPAddr is the local RTCP address of the pair.
func (p *PortPair) RTCPAddr() netip.AddrPort {
	return netip.AddrPortFrom(p.alloc.ip, uint16(p.port+1))
}

// Close closes both sockets and returns the pair to its allocator. It is
// idempotent: later calls return the first call's result.
func (p *PortPair) Close() error {
	p.once.Do(func() {
		p.err = errors.Join(p.RTP.Close(), p.RTCP.Close())
		p.alloc.release(p.port)
		if p.err != nil {
			p.err = fmt.Errorf("relay close port pair %s: %w", p.Addr(), p.err)
		}
	})
	return p.err
}
