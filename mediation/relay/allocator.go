package relay

// This file hands out the local RTP/RTCP port pairs an anchored call
// terminates media on.

import (
	"errors"
	"fmt"
	"math/rand/v2"
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
// A pair is picked at random among the free ones, so that the ports of the
// next call cannot be guessed from the last (a stranger who guesses them can
// race the real peer's first packet). Released pairs are quarantined
// (WithQuarantine, DefaultQuarantine) so that late packets of an ended call
// do not reach a new one; but the quarantine yields to demand: when no pair
// out of quarantine is left, the one released longest ago is handed out
// rather than refusing a call (a busy server would otherwise starve its
// range: 200 anchored calls/s hold 400 pairs per second of quarantine).
type Allocator struct {
	ip      netip.Addr
	network string
	low     int
	high    int
	opts    allocatorOptions

	mu sync.Mutex
	// ready are the RTP ports of free pairs out of quarantine, unordered.
	ready []int
	// quarantine are released pairs in release order, oldest first.
	quarantine []freePair
	inUse      int
	// sideInUse counts the pairs in use that sessions hold on each side
	// (inUse counts them all, and the pairs Allocate hands out).
	sideInUse [2]int
	early     uint64 // pairs handed out before their quarantine ended
}

// freePair is a released pair, out of quarantine from readyAt on.
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
		a.ready = append(a.ready, p)
	}
	return a, nil
}

// Allocate binds a free pair: a random one out of quarantine, else the
// one released longest ago. A pair that fails to bind (held by another
// process) goes to the back of the quarantine line, so it is retried only
// after every other pair.
func (a *Allocator) Allocate() (*PortPair, error) {
	return a.allocate(noSide)
}

// noSide marks a pair handed out by Allocate, for no side.
const noSide Side = -1

// allocate is Allocate for a session's pair on side (noSide: none).
func (a *Allocator) allocate(side Side) (*PortPair, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.now()
	a.promote(now)
	var lastErr error
	for tries := len(a.ready) + len(a.quarantine); tries > 0; tries-- {
		port, early := a.take(now)
		pair, err := a.bind(port)
		if err != nil {
			a.quarantine = append(a.quarantine, freePair{port: port, readyAt: now})
			lastErr = err
			continue
		}
		if early {
			a.early++
		}
		a.inUse++
		if side.valid() {
			a.sideInUse[side]++
		}
		pair.side = side
		return pair, nil
	}
	err := fmt.Errorf("relay allocator %s [%d, %d]: %w (%d in use)", a.ip, a.low, a.high, ErrExhausted, a.inUse)
	if lastErr != nil {
		err = fmt.Errorf("%w (last bind error: %v)", err, lastErr)
	}
	return nil, err
}

// promote moves the pairs whose quarantine has ended to the ready set.
// a.mu must be held.
func (a *Allocator) promote(now time.Time) {
	n := 0
	for n < len(a.quarantine) && !now.Before(a.quarantine[n].readyAt) {
		a.ready = append(a.ready, a.quarantine[n].port)
		n++
	}
	a.quarantine = a.quarantine[n:]
}

// take removes the next pair to try from the free pairs: a random ready
// one, else the oldest in quarantine (early reports that). There must be
// one. a.mu must be held.
func (a *Allocator) take(now time.Time) (port int, early bool) {
	if n := len(a.ready); n > 0 {
		i := rand.IntN(n)
		port = a.ready[i]
		a.ready[i] = a.ready[n-1]
		a.ready = a.ready[:n-1]
		return port, false
	}
	f := a.quarantine[0]
	a.quarantine = a.quarantine[1:]
	return f.port, now.Before(f.readyAt)
}

// InUse reports how many pairs are held by sessions (quarantined pairs are
// not in use).
func (a *Allocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inUse
}

// InUseOn reports how many pairs sessions hold on side: one per session
// (CCE's "ports opened on the gateway side" counts the gateway side's).
func (a *Allocator) InUseOn(side Side) int {
	if !side.valid() {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sideInUse[side]
}

// Quarantined reports how many released pairs are still in quarantine.
func (a *Allocator) Quarantined() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.now()
	n := 0
	for _, f := range a.quarantine {
		if now.Before(f.readyAt) {
			n++
		}
	}
	return n
}

// EarlyReuses counts the pairs handed out before their quarantine ended
// because no other pair was free: a sign that the port range is too small
// for the call rate.
func (a *Allocator) EarlyReuses() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.early
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

// release puts a closed pair at the back of the quarantine line.
func (a *Allocator) release(port int, side Side) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.quarantine = append(a.quarantine, freePair{port: port, readyAt: a.opts.now().Add(a.opts.quarantine)})
	a.inUse--
	if side.valid() {
		a.sideInUse[side]--
	}
}

// PortPair is one bound RTP socket and its RTCP socket (RTP port + 1).
type PortPair struct {
	// RTP and RTCP are the bound sockets; they are closed by Close.
	RTP, RTCP *net.UDPConn

	port  int
	side  Side // the session side it serves; noSide from Allocate
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
		p.alloc.release(p.port, p.side)
		if p.err != nil {
			p.err = fmt.Errorf("relay close port pair %s: %w", p.Addr(), p.err)
		}
	})
	return p.err
}
