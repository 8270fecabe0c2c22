package relay

import (
	"errors"
	"net"
	"net/netip"
	"slices"
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
		name      string
		lowShift  int // added to a free even base
		highShift int
		wantPorts []int // RTP ports relative to base, in any order
	}{
		{"even bounds", 0, 9, []int{0, 2, 4, 6, 8}},
		{"odd low starts at next even", 1, 7, []int{2, 4, 6}},
		{"odd size ignores trailing port", 0, 6, []int{0, 2, 4}},
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
			for i := range tt.wantPorts {
				p, err := a.Allocate()
				if err != nil {
					t.Fatalf("Allocate #%d: %v", i, err)
				}
				pairs = append(pairs, p)
				port := p.Addr().Port()
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
			for _, w := range tt.wantPorts {
				if !seen[uint16(base+w)] {
					t.Errorf("RTP port %d never handed out", base+w)
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

// TestAllocatorIsUnpredictable: the order in which a fresh allocator hands
// out its pairs is random (not 45000, 45002, ...), and differs between two
// allocators: the chance of ascending order by luck is 1 in 40!.
func TestAllocatorIsUnpredictable(t *testing.T) {
	const pairs = 40
	low, high := freeRange(t, pairs)
	order := func() []int {
		a, err := NewAllocator(loopback, low, high)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		var held []*PortPair
		for range pairs {
			p, err := a.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, p)
			got = append(got, int(p.Addr().Port()))
		}
		for _, p := range held {
			_ = p.Close()
		}
		return got
	}
	first, second := order(), order()
	if slices.IsSorted(first) {
		t.Errorf("pairs handed out in ascending order: %v", first)
	}
	if slices.Equal(first, second) {
		t.Errorf("two allocators handed out the same sequence: %v", first)
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

// TestAllocatorQuarantine: a released pair is not handed out while another
// pair is free, until its quarantine (default or configured) is over.
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
			const pairs = 6
			low, high := freeRange(t, pairs)
			a, err := NewAllocator(loopback, low, high, append(tt.opts, WithClock(clock.Now))...)
			if err != nil {
				t.Fatal(err)
			}
			p1, err := a.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			if err := p1.Close(); err != nil {
				t.Fatal(err)
			}
			if a.InUse() != 0 || a.Quarantined() != 1 {
				t.Fatalf("InUse %d, Quarantined %d after one release; want 0 and 1", a.InUse(), a.Quarantined())
			}
			clock.advance(tt.quarantine - time.Millisecond)
			// Every other pair goes first, in quarantine or (1 ms later) not.
			var held []*PortPair
			defer func() {
				for _, p := range held {
					_ = p.Close()
				}
			}()
			for i := range pairs - 1 {
				p, err := a.Allocate()
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, p)
				if p.Addr() == p1.Addr() {
					t.Fatalf("Allocate #%d handed out the quarantined %s while other pairs were free", i, p1.Addr())
				}
			}
			if a.Quarantined() != 1 {
				t.Fatalf("Quarantined = %d 1 ms before the end, want 1", a.Quarantined())
			}
			clock.advance(time.Millisecond)
			if a.Quarantined() != 0 {
				t.Fatalf("Quarantined = %d after the quarantine, want 0", a.Quarantined())
			}
			p, err := a.Allocate()
			if err != nil {
				t.Fatalf("Allocate after the quarantine: %v", err)
			}
			held = append(held, p)
			if p.Addr() != p1.Addr() || a.EarlyReuses() != 0 {
				t.Fatalf("got %s (early reuses %d), want the released %s, not early", p.Addr(), a.EarlyReuses(), p1.Addr())
			}
		})
	}
}

// TestAllocatorQuarantineYields: with no pair out of quarantine, the one
// released longest ago is handed out rather than refusing the call, and
// counted.
func TestAllocatorQuarantineYields(t *testing.T) {
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

	for i, want := range []*PortPair{pairs[2], pairs[0]} {
		p, err := a.Allocate()
		if err != nil {
			t.Fatalf("Allocate #%d with only quarantined pairs free: %v", i, err)
		}
		defer p.Close()
		if p.Addr() != want.Addr() {
			t.Fatalf("Allocate #%d = %s, want %s (released earliest)", i, p.Addr(), want.Addr())
		}
		if got := a.EarlyReuses(); got != uint64(i+1) {
			t.Fatalf("EarlyReuses = %d, want %d", got, i+1)
		}
	}
	if _, err := a.Allocate(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Allocate with every pair in use: err = %v, want ErrExhausted", err)
	}
}

// TestAllocatorSustainsCallRate: anchored calls (two pairs each) arriving
// at 200 per second and lasting 0.5 s, on a 1,000-port range (250 pairs)
// with the default 30 s quarantine: no call is ever refused a port (a hard
// quarantine refuses them after about 0.6 s), and the quarantine yields
// only as much as it must.
func TestAllocatorSustainsCallRate(t *testing.T) {
	const (
		rate     = 200 // calls per second
		seconds  = 5
		talk     = 500 * time.Millisecond
		rangeLen = 1000
	)
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	low, high := freeRange(t, rangeLen/2)
	a, err := NewAllocator(loopback, low, high, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		ends  time.Time
		pairs [2]*PortPair
	}
	var live []call
	defer func() {
		for _, c := range live {
			_ = c.pairs[0].Close()
			_ = c.pairs[1].Close()
		}
	}()
	step := time.Second / rate
	for i := range rate * seconds {
		now := clock.Now()
		for len(live) > 0 && !now.Before(live[0].ends) {
			_ = live[0].pairs[0].Close()
			_ = live[0].pairs[1].Close()
			live = live[1:]
		}
		c := call{ends: now.Add(talk)}
		for j := range c.pairs {
			p, err := a.Allocate()
			if err != nil {
				t.Fatalf("call %d at %v, %d calls up: %v", i, now.Sub(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)), len(live), err)
			}
			c.pairs[j] = p
		}
		live = append(live, c)
		clock.advance(step)
	}
	if a.EarlyReuses() == 0 {
		t.Errorf("no early reuse at %d calls/s on %d pairs: the test did not reach the quarantine", rate, rangeLen/2)
	}
}
