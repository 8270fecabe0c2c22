package sip

import (
	"net/netip"
	"testing"
)

// TestTrustPin: a pinned IP is trusted until as many Unpins as Pins,
// whatever Set says meanwhile; IPv4-mapped IPv6 is the same IP.
func TestTrustPin(t *testing.T) {
	trunk, old := netip.MustParseAddr("127.0.0.5"), netip.MustParseAddr("127.0.0.6")
	tr := NewTrust([]netip.Prefix{netip.PrefixFrom(old, 32)})
	tr.Pin(old)
	tr.Pin(netip.MustParseAddr("::ffff:127.0.0.6"))
	tr.Set([]netip.Prefix{netip.PrefixFrom(trunk, 32)}) // the name moved
	if !tr.Allows(old) || !tr.Allows(trunk) {
		t.Fatalf("after the move: old %v, new %v; want both trusted", tr.Allows(old), tr.Allows(trunk))
	}
	tr.Unpin(old)
	if !tr.Allows(old) {
		t.Fatal("one of two pins released: old address no longer trusted")
	}
	tr.Unpin(old)
	if tr.Allows(old) {
		t.Fatal("every pin released: old address still trusted")
	}
	tr.Unpin(old) // one too many: harmless
	if tr.Allows(netip.MustParseAddr("127.0.0.7")) || !tr.Allows(trunk) {
		t.Fatal("a stranger trusted, or the trunk not")
	}
}
