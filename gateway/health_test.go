package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// flakyPinger answers the probes of the trunks named in ok, and counts
// the probes of each trunk.
type flakyPinger struct {
	mu    sync.Mutex
	dead  map[string]bool
	count map[string]int
}

func (p *flakyPinger) Ping(ctx context.Context, tr Trunk) error {
	p.mu.Lock()
	p.count[tr.Name]++
	dead := p.dead[tr.Name]
	p.mu.Unlock()
	if dead {
		<-ctx.Done() // no reply: the probe times out
		return errors.New("no reply")
	}
	return nil
}

func (p *flakyPinger) set(name string, dead bool) {
	p.mu.Lock()
	p.dead[name] = dead
	p.mu.Unlock()
}

func (p *flakyPinger) probes(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count[name]
}

// waitChange waits for the next change of a trunk's state and checks it.
func waitChange(ctx context.Context, t *testing.T, changes <-chan string, want string) {
	t.Helper()
	select {
	case got := <-changes:
		if got != want {
			t.Fatalf("change %q, want %q", got, want)
		}
	case <-ctx.Done():
		t.Fatalf("no change %q", want)
	}
}

func TestHealthDownAndUp(t *testing.T) {
	tab, err := NewTable([]Trunk{trunk("a", 5060, 0), trunk("b", 5061, 0)})
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyPinger{dead: map[string]bool{"a": true}, count: map[string]int{}}
	changes := make(chan string, 10)
	var ups atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	cfg := HealthConfig{Interval: 5 * time.Millisecond, DownInterval: 20 * time.Millisecond, MaxFails: 5, Timeout: 5 * time.Millisecond}
	if st := tab.Status(); !st[0].Addresses[0].Healthy || st[0].Addresses[0].Answered {
		t.Fatalf("before any probe: %+v, want up and not answered", st[0].Addresses)
	}
	go func() {
		defer close(done)
		tab.Check(ctx, p, cfg, zerolog.Nop(), func(tr Trunk, up bool) {
			if up {
				ups.Add(1)
				changes <- tr.Name + " up"
			} else {
				changes <- tr.Name + " down"
			}
		})
	}()
	wait := func(want string) {
		t.Helper()
		waitChange(ctx, t, changes, want)
	}
	wait("a down")
	if n := p.probes("a"); n < 5 {
		t.Fatalf("a went down after %d probes, want 5", n)
	}
	if tab.Healthy("a") || !tab.Healthy("b") {
		t.Fatalf("Healthy(a) = %v, Healthy(b) = %v", tab.Healthy("a"), tab.Healthy("b"))
	}
	for range 4 {
		if got, _ := tab.Route("+1"); !reflect.DeepEqual(names(got), []string{"b"}) {
			t.Fatalf("Route = %v while a is down, want [b]", names(got))
		}
	}
	if st := tab.Status(); st[0].Healthy || !st[1].Healthy {
		t.Fatalf("Status = %+v", st)
	}
	if st := tab.Status(); st[0].Addresses[0].Answered {
		t.Fatalf("a never answered, status %+v", st[0].Addresses)
	}
	p.set("a", false)
	wait("a up")
	if st := tab.Status(); !st[0].Addresses[0].Answered {
		t.Fatalf("a answered a probe, status %+v", st[0].Addresses)
	}
	if got, _ := tab.Route("+1"); len(got) != 2 {
		t.Fatalf("Route = %v once a is back, want both", names(got))
	}
	cancel()
	<-done
	if ups.Load() != 1 {
		t.Fatalf("%d up changes, want 1 (b never went down)", ups.Load())
	}
}

// TestHealthDownInterval: a trunk that is down is probed at DownInterval,
// not Interval.
func TestHealthDownInterval(t *testing.T) {
	tab, err := NewTable([]Trunk{trunk("a", 5060, 0)})
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyPinger{dead: map[string]bool{"a": true}, count: map[string]int{}}
	down := make(chan struct{}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := HealthConfig{Interval: time.Millisecond, DownInterval: time.Hour, MaxFails: 2, Timeout: time.Millisecond}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tab.Check(ctx, p, cfg, zerolog.Nop(), func(Trunk, bool) { down <- struct{}{} })
	}()
	select {
	case <-down:
	case <-ctx.Done():
		t.Fatal("never down")
	}
	n := p.probes("a")
	// Had the interval stayed 1 ms, dozens of probes would follow; a
	// probe already running when the state changed may still finish.
	// Something not happening can only be watched for a while.
	time.Sleep(100 * time.Millisecond)
	if got := p.probes("a"); got > n+1 {
		t.Fatalf("%d probes after going down, want none until DownInterval", got-n)
	}
	cancel()
	<-done
}

// addrPinger answers the probes of every address but those in dead, and
// counts the probes of each address.
type addrPinger struct {
	mu    sync.Mutex
	dead  map[netip.AddrPort]bool
	count map[netip.AddrPort]int
}

func (p *addrPinger) Ping(ctx context.Context, tr Trunk) error {
	p.mu.Lock()
	p.count[tr.Addr]++
	dead := p.dead[tr.Addr]
	p.mu.Unlock()
	if len(tr.Alternates) != 0 {
		return errors.New("a probe is for one address")
	}
	if dead {
		<-ctx.Done()
		return errors.New("no reply")
	}
	return nil
}

func (p *addrPinger) set(a netip.AddrPort, dead bool) {
	p.mu.Lock()
	p.dead[a] = dead
	p.mu.Unlock()
}

func (p *addrPinger) probes(a netip.AddrPort) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count[a]
}

// addrUp is the probes' verdict on address a of the trunk called name.
func addrUp(t *testing.T, tab *Table, name string, a netip.AddrPort) bool {
	t.Helper()
	for _, st := range tab.Status() {
		if st.Name != name {
			continue
		}
		for _, as := range st.Addresses {
			if as.Addr == a {
				return as.Healthy
			}
		}
	}
	t.Fatalf("trunk %s has no address %s", name, a)
	return false
}

// TestHealthPerAddress: every address of a trunk with several is probed;
// one dead address leaves the trunk up and puts that address after the
// others in every call's order, whichever address it is (the first or
// the second of the DNS answer); only when all are dead is the trunk
// down (routing takes the backup), and one answer brings it back.
func TestHealthPerAddress(t *testing.T) {
	a, b := netip.MustParseAddrPort("127.0.0.2:5060"), netip.MustParseAddrPort("127.0.0.3:5060")
	tab, err := NewTable([]Trunk{
		{Name: "d", Host: "sbc.test", Transport: "udp", Targets: []Target{{Addr: a}, {Addr: b}}},
		trunk("g", 5070, 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &addrPinger{dead: map[netip.AddrPort]bool{a: true}, count: map[netip.AddrPort]int{}}
	changes := make(chan string, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	cfg := HealthConfig{Interval: 5 * time.Millisecond, DownInterval: 10 * time.Millisecond, MaxFails: 3, Timeout: 5 * time.Millisecond}
	go func() {
		defer close(done)
		tab.Check(ctx, p, cfg, zerolog.Nop(), func(tr Trunk, up bool) {
			changes <- fmt.Sprintf("%s up=%v", tr.Name, up)
		})
	}()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case c := <-changes:
				t.Fatalf("trunk change %q while waiting for %s", c, what)
			case <-ctx.Done():
				t.Fatalf("no %s", what)
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	wantChange := func(want string) {
		t.Helper()
		waitChange(ctx, t, changes, want)
	}
	routes := func(first string, order ...netip.AddrPort) {
		t.Helper()
		for range 20 {
			got, err := tab.Route("+1")
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Name != first {
				t.Fatalf("Route = %v, want %s first", names(got), first)
			}
			if order != nil {
				if have := append([]netip.AddrPort{got[0].Addr}, got[0].Alternates...); !reflect.DeepEqual(have, order) {
					t.Fatalf("addresses %v, want %v", have, order)
				}
			}
		}
	}

	// The first address dies: the trunk stays up, calls go to the second.
	waitFor("first address down", func() bool { return !addrUp(t, tab, "d", a) })
	if !tab.Healthy("d") || !addrUp(t, tab, "d", b) || p.probes(b) == 0 {
		t.Fatalf("Healthy(d) = %v, second address up %v after %d probes", tab.Healthy("d"), addrUp(t, tab, "d", b), p.probes(b))
	}
	routes("d", b, a)

	// Both die: the trunk is down and routing takes the backup.
	p.set(b, true)
	wantChange("d up=false")
	if addrUp(t, tab, "d", b) || tab.Status()[0].Healthy {
		t.Fatalf("status %+v", tab.Status()[0])
	}
	routes("g")

	// The first answers again: the trunk is up, the dead second address
	// is tried last.
	p.set(a, false)
	wantChange("d up=true")
	routes("d", a, b)
}

// TestRouteDownAddressesLast: addresses known down come after all the
// others, which keep RFC 3263's order (SRV priority, then weight); with
// every address down, the order is RFC 3263's.
func TestRouteDownAddressesLast(t *testing.T) {
	a, b, c := netip.MustParseAddrPort("127.0.0.2:5060"), netip.MustParseAddrPort("127.0.0.3:5060"), netip.MustParseAddrPort("127.0.0.4:5060")
	tab, err := NewTable([]Trunk{{Name: "d", Host: "sbc.test", Transport: "udp",
		Targets: []Target{{Addr: a, Weight: 1}, {Addr: b, Weight: 1}, {Addr: c, Priority: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	order := func() []netip.AddrPort {
		got, err := tab.Route("+1")
		if err != nil {
			t.Fatal(err)
		}
		return append([]netip.AddrPort{got[0].Addr}, got[0].Alternates...)
	}
	down := func(addrs ...netip.AddrPort) {
		tab.mu.Lock()
		defer tab.mu.Unlock()
		for _, ah := range tab.health[0].addrs {
			ah.up = true
		}
		for _, x := range addrs {
			tab.health[0].addrs[x].up = false
		}
		tab.health[0].refresh()
	}
	for _, tc := range []struct {
		down []netip.AddrPort
		want [][]netip.AddrPort // the orders that may come
	}{
		{[]netip.AddrPort{a}, [][]netip.AddrPort{{b, c, a}}},
		{[]netip.AddrPort{c}, [][]netip.AddrPort{{a, b, c}, {b, a, c}}},
		{[]netip.AddrPort{a, b}, [][]netip.AddrPort{{c, a, b}, {c, b, a}}},
		{[]netip.AddrPort{a, b, c}, [][]netip.AddrPort{{a, b, c}, {b, a, c}}},
	} {
		down(tc.down...)
		seen := map[string]bool{}
		for range 200 {
			got := order()
			ok := false
			for _, w := range tc.want {
				ok = ok || reflect.DeepEqual(got, w)
			}
			if !ok {
				t.Fatalf("down %v: order %v, want one of %v", tc.down, got, tc.want)
			}
			seen[fmt.Sprint(got)] = true
		}
		if len(seen) != len(tc.want) {
			t.Errorf("down %v: orders %v, want each of %v (the weights still draw)", tc.down, seen, tc.want)
		}
	}
}

// TestHealthFollowsTargets: a new DNS answer keeps the verdict on the
// addresses it still has, takes a new address as up until its probes
// fail, and forgets the old ones.
func TestHealthFollowsTargets(t *testing.T) {
	a, b, c := netip.MustParseAddrPort("127.0.0.2:5060"), netip.MustParseAddrPort("127.0.0.3:5060"), netip.MustParseAddrPort("127.0.0.4:5060")
	tab, err := NewTable([]Trunk{{Name: "d", Host: "sbc.test", Transport: "udp", Targets: []Target{{Addr: a}, {Addr: b}}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tab.probed(0, a, false, 3)
		tab.probed(0, b, false, 3)
	}
	if tab.Healthy("d") {
		t.Fatal("both addresses missed 3 probes, the trunk is still up")
	}
	tab.SetTargets("d", []Target{{Addr: b}, {Addr: c}})
	if !tab.Healthy("d") || addrUp(t, tab, "d", b) || !addrUp(t, tab, "d", c) {
		t.Fatalf("after the new answer: %+v; want b down, c up, the trunk up", tab.Status()[0])
	}
	if st := tab.Status()[0]; len(st.Addresses) != 2 {
		t.Fatalf("addresses %+v, want b and c", st.Addresses)
	}
	tab.SetTargets("d", []Target{{Addr: b}})
	if tab.Healthy("d") {
		t.Fatal("the trunk's one address is down, the trunk is up")
	}
}
