package sip

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestStackStartsAndServes(t *testing.T) {
	s, err := NewStack(StackConfig{Name: "t", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "t", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := s.Start(); err == nil {
		t.Error("a second Start did not fail")
	}
	if c := s.Contact("u", "tcp"); c.Address.Port != int(s.Addr().Port()) || !strings.Contains(c.Address.String(), "transport=tcp") {
		t.Errorf("Contact %s", c.Address.String())
	}
}

// TestStackStartReportsDeadListener: a listener that is not serving makes
// Start fail instead of only warning.
func TestStackStartReportsDeadListener(t *testing.T) {
	s, err := NewStack(StackConfig{Name: "t", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "t", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.udpConn.Close() // the socket dies before sipgo can serve it
	if err := s.Start(); err == nil {
		t.Fatal("Start succeeded on a closed socket")
	}
}

func TestStackRefusesWildcard(t *testing.T) {
	if _, err := NewStack(StackConfig{Name: "t", Listen: netip.MustParseAddrPort("0.0.0.0:0")}); err == nil {
		t.Fatal("a wildcard listen address was accepted: it would go into Via and Contact")
	}
}
