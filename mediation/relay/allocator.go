package relay

// This file hands out the local RTP/RTCP port pairs an anchored call
// terminates media on.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ErrExhausted is returned (wrapped) by Allocator.Allocate when no port pair
// in the range could be bound.
var ErrExhausted = errors.New("no free RTP port pair")

// maxPort is the highest UDP port number.
const maxPort = 65535

// Allocator hands out RTP/RTCP port pairs (even RTP port, RTCP = RTP+1) from a
// fixed range on one IP address. It is safe for concurrent use.
//
// Released pairs are quarantined (WithQuarantine, DefaultQuarantine) and
// then go to the back of the free list, so late packets of an ended call
// never reach a new one and a port is reused as late as possible.
type Allocator struct {
	ip      netip.Addr
	network string
	low     int
	high    int
	opts    allocatorOptions

	mu    sync.Mutex
	free  []freePair // front is the next candidate (FIFO)
	inUse int
}

// freePair is a pair not held by a session, usable from readyAt on.
type freePair struct {
	port    int // the RTP port
	readyAt time.Time
}

// NewAllocator returns an Allocator for the port pairs that fit in
// [low, high] on ip. The first RTP port is the first even port >= low; the
// last pair must have its RTCP port <= high.
func NewAllocator(ip netip.Addr, low, high int, opts ...AllocatorOption) (*Allocator, error) {
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
	a := &Allocator{ip: ip, network: "udp6", low: low, high: high, opts: defaultAllocatorOptions()}
	for _, o := range opts {
		o(&a.opts)
	}
	if ip.Unmap().Is4() {
		a.ip = ip.Unmap()
		a.network = "udp4"
	}
	for p := first; p+1 <= high; p += 2 {
		a.free = append(a.free, freePair{port: p})
	}
	return a, nil
}

// Allocate binds the next free pair that is out of quarantine. Ports that
// fail to bind (held by another process) are skipped and moved to the back
// of the list, so they are retried only after every other port.
func (a *Allocator) Allocate() (*PortPair, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.now()
	var lastErr error
	quarantined := 0
	// One turn through the list; skipped entries go to the back, which
	// keeps their order.
	for n := len(a.free); n > 0; n-- {
		f := a.free[0]
		a.free = a.free[1:]
		if now.Before(f.readyAt) {
			a.free = append(a.free, f)
			quarantined++
			continue
		}
		pair, err := a.bind(f.port)
		if err != nil {
			a.free = append(a.free, f)
			lastErr = err
			continue
		}
		a.inUse++
		return pair, nil
	}
	err := fmt.Errorf("relay allocator %s [%d, %d]: %w (%d pairs in quarantine)",
		a.ip, a.low, a.high, ErrExhausted, quarantined)
	if lastErr != nil {
		err = fmt.Errorf("%w (last bind error: %v)", err, lastErr)
	}
	return nil, err
}

// InUse reports how many pairs are held by sessions (quarantined pairs are
// not in use).
func (a *Allocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inUse
}

// Quarantined reports how many released pairs are still in quarantine.
func (a *Allocator) Quarantined() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.now()
	n := 0
	for _, f := range a.free {
		if now.Before(f.readyAt) {
			n++
		}
	}
	return n
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

// release returns a closed pair's RTP port to the back of the free list,
// in quarantine.
func (a *Allocator) release(port int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.free = append(a.free, freePair{port: port, readyAt: a.opts.now().Add(a.opts.quarantine)})
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
