package relay

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestNewAllocatorRejectsBadRanges(t *testing.T) {
	tests := []struct {
		name      string
		ip        netip.Addr
		low, high int
	}{
		{"invalid IP", netip.Addr{}, 20000, 20009},
		{"low above high", loopback, 20010, 20000},
		{"low zero", loopback, 0, 10},
		{"high above 65535", loopback, 65534, 65536},
		{"single port", loopback, 20000, 20000},
		{"odd low leaves no pair", loopback, 20001, 20002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, err := NewAllocator(tt.ip, tt.low, tt.high); err == nil {
				t.Fatalf("NewAllocator(%v, %d, %d) = %v, want error", tt.ip, tt.low, tt.high, a)
			}
		})
	}
}

func TestAllocatorHandsOutDistinctEvenPairsInRange(t *testing.T) {
	tests := []struct {
		name       string
		lowShift   int // added to a free even base
		highShift  int
		wantPairs  int
		wantFirstP int // first RTP port relative to base
	}{
		{"even bounds", 0, 9, 5, 0},
		{"odd low starts at next even", 1, 7, 3, 2},
		{"odd size ignores trailing port", 0, 6, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, _ := freeRange(t, 5)
			low, high := base+tt.lowShift, base+tt.highShift
			a, err := NewAllocator(loopback, low, high)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[uint16]bool{}
			var pairs []*PortPair
			defer func() {
				for _, p := range pairs {
					_ = p.Close()
				}
			}()
			for i := range tt.wantPairs {
				p, err := a.Allocate()
				if err != nil {
					t.Fatalf("Allocate #%d: %v", i, err)
				}
				pairs = append(pairs, p)
				port := p.Addr().Port()
				if i == 0 && int(port) != base+tt.wantFirstP {
					t.Errorf("first RTP port = %d, want %d", port, base+tt.wantFirstP)
				}
				if port%2 != 0 || int(port) < low || int(port)+1 > high {
					t.Errorf("RTP port %d odd or outside [%d, %d]", port, low, high)
				}
				if seen[port] {
					t.Errorf("RTP port %d handed out twice", port)
				}
				seen[port] = true
				if got := localAddr(p.RTP); got != p.Addr() {
					t.Errorf("RTP socket bound to %s, Addr() = %s", got, p.Addr())
				}
				if got := localAddr(p.RTCP); got.Port() != port+1 || got != p.RTCPAddr() {
					t.Errorf("RTCP socket bound to %s, want port %d", got, port+1)
				}
				if got := a.InUse(); got != i+1 {
					t.Errorf("InUse = %d, want %d", got, i+1)
				}
			}
			if _, err := a.Allocate(); !errors.Is(err, ErrExhausted) {
				t.Fatalf("Allocate beyond range: err = %v, want ErrExhausted", err)
			}
		})
	}
}

func TestAllocatorExhaustionAndInUse(t *testing.T) {
	a := newTestAllocator(t, 2)
	p1, err := a.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := a.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocate(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("third Allocate: err = %v, want ErrExhausted", err)
	}
	if got := a.InUse(); got != 2 {
		t.Fatalf("InUse = %d, want 2", got)
	}
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := a.InUse(); got != 1 {
		t.Fatalf("InUse after double Close = %d, want 1", got)
	}
	p3, err := a.Allocate()
	if err != nil {
		t.Fatalf("Allocate after release: %v", err)
	}
	if p3.Addr() != p1.Addr() {
		t.Fatalf("got %s, want the released %s", p3.Addr(), p1.Addr())
	}
	_ = p2.Close()
	_ = p3.Close()
	if got := a.InUse(); got != 0 {
		t.Fatalf("InUse after all Close = %d, want 0", got)
	}
}

func TestAllocatorReusesReleasedPortsLast(t *testing.T) {
	low, high := freeRange(t, 3)
	a, err := NewAllocator(loopback, low, high, WithQuarantine(0))
	if err != nil {
		t.Fatal(err)
	}
	want := []int{low + 2, low + 4, low} // low is released first, so comes back last
	first, err := a.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	var pairs []*PortPair
	defer func() {
		for _, p := range pairs {
			_ = p.Close()
		}
	}()
	for i, w := range want {
		p, err := a.Allocate()
		if err != nil {
			t.Fatalf("Allocate #%d: %v", i, err)
		}
		pairs = append(pairs, p)
		if got := int(p.Addr().Port()); got != w {
			t.Errorf("Allocate #%d = port %d, want %d", i, got, w)
		}
	}
}

func TestAllocatorSkipsPortsHeldElsewhere(t *testing.T) {
	tests := []struct {
		name    string
		blocked int // offset from low of the port another socket holds
	}{
		{"RTP port held", 0},
		{"RTCP port held", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			low, high := freeRange(t, 2)
			blocker, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(low+tt.blocked))))
			if err != nil {
				t.Fatal(err)
			}
			a, err := NewAllocator(loopback, low, high)
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer p.Close()
			if got := int(p.Addr().Port()); got != low+2 {
				t.Fatalf("got port %d, want %d (skipping the held pair)", got, low+2)
			}
			// The half of the skipped pair we could bind must have been
			// released again: bind it ourselves.
			other := low + 1 - tt.blocked
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(other))))
			if err != nil {
				t.Fatalf("port %d of the skipped pair is still held: %v", other, err)
			}
			_ = c.Close()
			if _, err := a.Allocate(); !errors.Is(err, ErrExhausted) {
				t.Fatalf("Allocate with the only other pair held: err = %v, want ErrExhausted", err)
			}
			if err := blocker.Close(); err != nil {
				t.Fatal(err)
			}
			q, err := a.Allocate()
			if err != nil {
				t.Fatalf("Allocate after blocker left: %v", err)
			}
			defer q.Close()
			if got := int(q.Addr().Port()); got != low {
				t.Fatalf("got port %d, want the formerly held pair %d", got, low)
			}
			if got := a.InUse(); got != 2 {
				t.Fatalf("InUse = %d, want 2", got)
			}
		})
	}
}

func TestAllocatorConcurrentAllocationsAreDistinct(t *testing.T) {
	const workers, each = 8, 4
	a := newTestAllocator(t, workers*each)
	var (
		mu    sync.Mutex
		pairs []*PortPair
		wg    sync.WaitGroup
		errs  = make(chan error, workers*each)
	)
	for range workers {
		wg.Go(func() {
			for range each {
				p, err := a.Allocate()
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				pairs = append(pairs, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Allocate: %v", err)
	}
	seen := map[netip.AddrPort]bool{}
	for _, p := range pairs {
		if seen[p.Addr()] {
			t.Errorf("%s handed out twice", p.Addr())
		}
		seen[p.Addr()] = true
		_ = p.Close()
	}
	if got := a.InUse(); got != 0 {
		t.Fatalf("InUse = %d after closing all, want 0", got)
	}
}

// fakeClock is a settable clock for the allocator's quarantine.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestAllocatorQuarantine(t *testing.T) {
	tests := []struct {
		name       string
		opts       []AllocatorOption
		quarantine time.Duration
	}{
		{"default 30 s", nil, DefaultQuarantine},
		{"configured 5 s", []AllocatorOption{WithQuarantine(5 * time.Second)}, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
			low, high := freeRange(t, 2)
			a, err := NewAllocator(loopback, low, high, append(tt.opts, WithClock(clock.Now))...)
			if err != nil {
				t.Fatal(err)
			}
			p1, err := a.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			p2, err := a.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer p2.Close()
			if err := p1.Close(); err != nil {
				t.Fatal(err)
			}
			if a.InUse() != 1 || a.Quarantined() != 1 {
				t.Fatalf("InUse %d, Quarantined %d after one release; want 1 and 1", a.InUse(), a.Quarantined())
			}
			// The released pair is free in the OS but not handed out.
			if _, err := a.Allocate(); !errors.Is(err, ErrExhausted) {
				t.Fatalf("Allocate during quarantine: err = %v, want ErrExhausted", err)
			}
			clock.advance(tt.quarantine - time.Millisecond)
			if _, err := a.Allocate(); !errors.Is(err, ErrExhausted) {
				t.Fatalf("Allocate 1 ms before the quarantine ends: err = %v, want ErrExhausted", err)
			}
			clock.advance(time.Millisecond)
			if a.Quarantined() != 0 {
				t.Fatalf("Quarantined = %d after the quarantine, want 0", a.Quarantined())
			}
			p3, err := a.Allocate()
			if err != nil {
				t.Fatalf("Allocate after the quarantine: %v", err)
			}
			defer p3.Close()
			if p3.Addr() != p1.Addr() || a.InUse() != 2 {
				t.Fatalf("got %s (InUse %d), want the released %s (InUse 2)", p3.Addr(), a.InUse(), p1.Addr())
			}
		})
	}
}

// TestAllocatorQuarantineKeepsFIFOOrder releases pairs at different times:
// each comes back when its own quarantine ends, oldest release first.
func TestAllocatorQuarantineKeepsFIFOOrder(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	low, high := freeRange(t, 3)
	a, err := NewAllocator(loopback, low, high, WithQuarantine(10*time.Second), WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	var pairs []*PortPair
	for range 3 {
		p, err := a.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, p)
	}
	// Release the last first, the first four seconds later.
	_ = pairs[2].Close()
	clock.advance(4 * time.Second)
	_ = pairs[0].Close()
	defer pairs[1].Close()

	clock.advance(6 * time.Second) // pairs[2] out, pairs[0] still in
	p, err := a.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if p.Addr() != pairs[2].Addr() {
		t.Fatalf("got %s, want %s (released earliest)", p.Addr(), pairs[2].Addr())
	}
	defer p.Close()
	if _, err := a.Allocate(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("pairs[0] handed out during its quarantine: err = %v", err)
	}
	clock.advance(4 * time.Second)
	q, err := a.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Addr() != pairs[0].Addr() {
		t.Fatalf("got %s, want %s", q.Addr(), pairs[0].Addr())
	}
}
