package gateway

import (
	"errors"
	"net/netip"
	"testing"
)

func TestFromSource(t *testing.T) {
	a := Trunk{Name: "a", Addr: netip.MustParseAddrPort("127.0.0.1:5060"), Transport: "udp", EnableBypass: true}
	b := Trunk{Addr: netip.MustParseAddrPort("127.0.0.2:5080"), Transport: "TCP",
		Trust: []netip.Prefix{netip.MustParsePrefix("127.0.1.9/24")}}
	c := Trunk{Name: "c", Addr: netip.MustParseAddrPort("127.0.0.1:5062"), Transport: "udp"}
	tab, err := NewTable([]Trunk{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src  string
		want string // "" = untrusted
	}{
		{"127.0.0.1:5060", "a"},
		{"127.0.0.1:5062", "c"},
		{"127.0.0.1:40000", "a"}, // same IP, ephemeral port: the first trunk on that IP
		{"127.0.0.2:40000", "127.0.0.2:5080"},
		{"127.0.1.200:5060", "127.0.0.2:5080"}, // its trust subnet
		{"[::ffff:127.0.0.2]:5080", "127.0.0.2:5080"},
		{"127.0.0.9:5060", ""},
		{"[::1]:5060", ""},
	}
	for _, tt := range tests {
		got, ok := tab.FromSource(netip.MustParseAddrPort(tt.src))
		if ok != (tt.want != "") || got.Name != tt.want {
			t.Errorf("FromSource(%s) = %q, %v; want %q", tt.src, got.Name, ok, tt.want)
		}
	}
	trusted := tab.Trusted()
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.1.5"} {
		if !containsAny(trusted, netip.MustParseAddr(ip)) {
			t.Errorf("Trusted() %v lacks %s", trusted, ip)
		}
	}
	if containsAny(trusted, netip.MustParseAddr("127.0.0.3")) {
		t.Errorf("Trusted() %v has 127.0.0.3", trusted)
	}
}

func containsAny(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func TestNewTableRejects(t *testing.T) {
	ok := netip.MustParseAddrPort("127.0.0.1:5060")
	tests := []struct {
		name   string
		trunks []Trunk
	}{
		{"none", nil},
		{"no port", []Trunk{{Addr: netip.MustParseAddrPort("127.0.0.1:0"), Transport: "udp"}}},
		{"bad transport", []Trunk{{Addr: ok, Transport: "sctp"}}},
		{"bad srtp", []Trunk{{Addr: ok, Transport: "udp", SRTP: "maybe"}}},
		{"bad pattern", []Trunk{{Addr: ok, Transport: "udp", Numbers: []string{"+44 20"}}}},
		{"bad regexp", []Trunk{{Addr: ok, Transport: "udp", Numbers: []string{"re:(+"}}}},
		{"negative priority", []Trunk{{Addr: ok, Transport: "udp", Priority: -1}}},
		{"same name", []Trunk{{Name: "x", Addr: ok, Transport: "udp"}, {Name: "x", Addr: ok, Transport: "udp"}}},
	}
	for _, tt := range tests {
		if _, err := NewTable(tt.trunks); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if _, err := NewTable(nil); !errors.Is(err, ErrNoTrunk) {
		t.Errorf("empty table error = %v, want ErrNoTrunk", err)
	}
}

func TestStatus(t *testing.T) {
	tab, err := NewTable([]Trunk{{Name: "a", Addr: netip.MustParseAddrPort("127.0.0.1:5060"), Transport: "udp"}})
	if err != nil {
		t.Fatal(err)
	}
	st := tab.Status()
	if len(st) != 1 || st[0].Name != "a" || st[0].Address != "127.0.0.1:5060" || !st[0].Healthy || !st[0].UnavailableUntil.IsZero() {
		t.Fatalf("Status() = %+v", st)
	}
}
