package mediation

import (
	"net/netip"
	"testing"
	"time"
)

func TestSourceLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")

	off := newSourceLimiter(0, 0)
	for range 1000 {
		if !off.allow(a, now) {
			t.Fatal("a zero rate refused a call")
		}
	}

	l := newSourceLimiter(10, 20)
	for i := range 20 {
		if !l.allow(a, now) {
			t.Fatalf("call %d of a burst of 20 refused", i)
		}
	}
	if l.allow(a, now) {
		t.Fatal("call 21 of a burst of 20 allowed at the same instant")
	}
	if !l.allow(b, now) {
		t.Fatal("another source was refused because of the first")
	}
	if !l.allow(a, now.Add(100*time.Millisecond)) || l.allow(a, now.Add(100*time.Millisecond)) {
		t.Fatal("after 100 ms at 10/s, want exactly one more call")
	}

	// Full of sources: idle ones are forgotten, and a flood of new ones
	// shares one bucket rather than growing the map.
	l = newSourceLimiter(10, 1)
	for i := range maxLimitedSources {
		l.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	flood := 0
	for i := range 1000 {
		if l.allow(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), now) {
			flood++
		}
	}
	if flood != 1 || len(l.sources) != maxLimitedSources {
		t.Fatalf("%d of 1000 new sources allowed with the map full (%d entries); want 1 through the shared bucket", flood, len(l.sources))
	}
	if !l.allow(netip.MustParseAddr("198.51.100.1"), now.Add(time.Second)) {
		t.Fatal("a new source refused once the idle ones could be forgotten")
	}
	if len(l.sources) != 1 {
		t.Fatalf("%d sources kept after the idle ones were forgotten, want 1", len(l.sources))
	}
}
