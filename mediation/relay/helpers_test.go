package relay

// Shared test helpers: free port ranges on loopback, fake RTP peers, and
// deadline-bound packet reads.

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rs/zerolog"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// testTimeout bounds every test; generous for a loaded 2-core race build.
const testTimeout = 20 * time.Second

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// freeRange finds pairs consecutive even/odd port pairs on loopback that are
// bindable right now. The range is picked below Linux's ephemeral range
// (32768+) so that other tests binding :0 do not race for it.
func freeRange(t testing.TB, pairs int) (low, high int) {
	t.Helper()
	for range 200 {
		low = 20000 + 2*rand.IntN(6000)
		high = low + 2*pairs - 1
		if bindable(low, high) {
			return low, high
		}
	}
	t.Fatalf("no free range of %d port pairs on %s", pairs, loopback)
	return 0, 0
}

func bindable(low, high int) bool {
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for p := low; p <= high; p++ {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(p))))
		if err != nil {
			return false
		}
		conns = append(conns, c)
	}
	return true
}

// newTestAllocator returns an allocator over pairs free pairs, without
// quarantine unless opts set one: tests reuse a small range quickly.
func newTestAllocator(t testing.TB, pairs int, opts ...AllocatorOption) *Allocator {
	t.Helper()
	low, high := freeRange(t, pairs)
	a, err := NewAllocator(loopback, low, high, append([]AllocatorOption{WithQuarantine(0)}, opts...)...)
	if err != nil {
		t.Fatalf("NewAllocator(%d, %d): %v", low, high, err)
	}
	return a
}

func listenLoopback(t testing.TB) *net.UDPConn {
	t.Helper()
	return listenOn(t, loopback)
}

// listenOn binds an ephemeral UDP port on ip, a loopback address (any of
// 127.0.0.0/8 plays another host).
func listenOn(t testing.TB, ip netip.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func localAddr(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// fakePeer stands in for an SfB client or an SBC: one RTP and one RTCP
// socket on loopback.
type fakePeer struct {
	rtp, rtcp *net.UDPConn
}

func newFakePeer(t testing.TB) *fakePeer {
	return &fakePeer{rtp: listenLoopback(t), rtcp: listenLoopback(t)}
}

func (f *fakePeer) leg(c Codec) Leg {
	return Leg{RTP: localAddr(f.rtp), RTCP: localAddr(f.rtcp), Codec: c}
}

// sendRTP sends one packet from the peer's RTP socket to the session.
func (f *fakePeer) sendRTP(t testing.TB, to netip.AddrPort, h rtp.Header, payload []byte) {
	t.Helper()
	h.Version = 2
	buf, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	sendRaw(t, f.rtp, to, buf)
}

func sendRaw(t testing.TB, c *net.UDPConn, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatalf("send to %s: %v", to, err)
	}
}

// readRaw reads one datagram, giving up at ctx's deadline.
func readRaw(ctx context.Context, c *net.UDPConn) ([]byte, netip.AddrPort, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil, netip.AddrPort{}, errors.New("readRaw needs a context with a deadline")
	}
	if err := c.SetReadDeadline(deadline); err != nil {
		return nil, netip.AddrPort{}, err
	}
	buf := make([]byte, maxPacket)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), nil
}

// readRTP reads and parses one RTP packet.
func readRTP(ctx context.Context, t testing.TB, c *net.UDPConn) (rtp.Packet, netip.AddrPort) {
	t.Helper()
	b, from, err := readRaw(ctx, c)
	if err != nil {
		t.Fatalf("read RTP on %s: %v", c.LocalAddr(), err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		t.Fatalf("received packet does not parse: %v", err)
	}
	return p, from
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// payload returns n bytes that cover many distinct byte values.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}
