package mediation

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/gateway/dnstest"
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
// a 503 on every call (r23-sbc2 F2). The name is served by a loopback
// DNS zone of the test's own (gateway/dnstest), whatever /etc/hosts says.
func TestEdgePeerNameOfTheListenersFamily(t *testing.T) {
	z := dnstest.Start(t)
	z.Set("peer.test. 60 IN A 127.0.0.1")
	zone := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", z.Addr())
	}}
	if ap, err := resolveEdgePeer(zone, "peer.test:5061", netip.MustParseAddr("127.0.0.1")); err != nil || ap.String() != "127.0.0.1:5061" {
		t.Fatalf("resolveEdgePeer(peer.test, IPv4 listener) = %v, %v", ap, err)
	}
	_, err := resolveEdgePeer(zone, "peer.test:5061", netip.MustParseAddr("::1"))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "edge.peer" || !strings.Contains(err.Error(), "resolves to IPv4 addresses only") ||
		!strings.Contains(err.Error(), "the listener ::1 is IPv6") {
		t.Fatalf("resolveEdgePeer(peer.test, IPv6 listener) = %v; want a *ConfigError for edge.peer naming both families", err)
	}
}
