package mediation

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// TestEdgePeerUnresolvedIsConfigError: an edge.peer host name that does
// not resolve at start is a *ConfigError naming edge.peer, one line, so
// that serve prints it as `mediation: config: edge.peer: ...` and exits 2
// as for any bad value, not a JSON log line and exit 1 (r23 L4). The
// resolver dials no DNS server at all: the name fails without a packet.
func TestEdgePeerUnresolvedIsConfigError(t *testing.T) {
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}}
	const peer = "nosuchhost.invalid:5061"
	_, err := resolveEdgePeer(noDNS, peer, netip.Addr{})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "edge.peer" || !strings.Contains(err.Error(), `cannot resolve "nosuchhost.invalid"`) ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("resolveEdgePeer(%q) = %v; want a one-line *ConfigError for edge.peer saying it cannot resolve", peer, err)
	}
	// An IP address needs no lookup.
	if ap, err := resolveEdgePeer(noDNS, "127.0.0.1:5061", netip.MustParseAddr("127.0.0.1")); err != nil || ap.String() != "127.0.0.1:5061" {
		t.Fatalf("resolveEdgePeer(127.0.0.1:5061) = %v, %v", ap, err)
	}
}

// TestEdgePeerNameOfTheListenersFamily: an edge.peer host name is taken
// at an address of edge.listen's family, the only one the edge side can
// send to; a name with none is a *ConfigError naming both families, not
// a 503 on every call (r23-sbc2 F2). localhost is in /etc/hosts at
// 127.0.0.1: no DNS server is asked.
func TestEdgePeerNameOfTheListenersFamily(t *testing.T) {
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}}
	addrs, err := noDNS.LookupNetIP(context.Background(), "ip", "localhost")
	if err != nil || len(addrs) == 0 || !addrs[0].Unmap().Is4() {
		t.Skipf("localhost is not 127.0.0.1 first in /etc/hosts here: %v %v", addrs, err)
	}
	if ap, err := resolveEdgePeer(noDNS, "localhost:5061", netip.MustParseAddr("127.0.0.1")); err != nil || !ap.Addr().Unmap().Is4() {
		t.Fatalf("resolveEdgePeer(localhost, IPv4 listener) = %v, %v", ap, err)
	}
	for _, a := range addrs {
		if a.Is6() && !a.Is4In6() {
			t.Skipf("localhost has an IPv6 address here too: %v", addrs)
		}
	}
	_, err = resolveEdgePeer(noDNS, "localhost:5061", netip.MustParseAddr("::1"))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "edge.peer" || !strings.Contains(err.Error(), "resolves to IPv4 addresses only") ||
		!strings.Contains(err.Error(), "the listener ::1 is IPv6") {
		t.Fatalf("resolveEdgePeer(localhost, IPv6 listener) = %v; want a *ConfigError for edge.peer naming both families", err)
	}
}
