package gateway

import (
	"errors"
	"net/netip"
	"testing"
)

func TestTable(t *testing.T) {
	a := Trunk{Name: "a", Addr: netip.MustParseAddrPort("127.0.0.1:5060"), Transport: "udp", EnableBypass: true}
	b := Trunk{Addr: netip.MustParseAddrPort("127.0.0.2:5080"), Transport: "TCP"}
	tab, err := NewTable([]Trunk{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tab.Route("+15550100"); got.Name != "a" {
		t.Fatalf("Route = %q, want the first trunk", got.Name)
	}
	tests := []struct {
		src  string
		want string
	}{
		{"127.0.0.1:5060", "a"},
		{"127.0.0.2:40000", "127.0.0.2:5080"},
		{"127.0.0.9:5060", "a"},
	}
	for _, tt := range tests {
		if got := tab.FromSource(netip.MustParseAddrPort(tt.src)); got.Name != tt.want {
			t.Errorf("FromSource(%s) = %q, want %q", tt.src, got.Name, tt.want)
		}
	}
}

func TestNewTableRejects(t *testing.T) {
	tests := []struct {
		name   string
		trunks []Trunk
	}{
		{"none", nil},
		{"no port", []Trunk{{Addr: netip.MustParseAddrPort("127.0.0.1:0"), Transport: "udp"}}},
		{"bad transport", []Trunk{{Addr: netip.MustParseAddrPort("127.0.0.1:5060"), Transport: "sctp"}}},
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
