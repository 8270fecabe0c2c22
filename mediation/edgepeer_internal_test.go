package mediation

import (
	"context"
	"errors"
	"net"
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
	_, err := resolveEdgePeer(noDNS, peer)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "edge.peer" || !strings.Contains(err.Error(), `cannot resolve "nosuchhost.invalid"`) ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("resolveEdgePeer(%q) = %v; want a one-line *ConfigError for edge.peer saying it cannot resolve", peer, err)
	}
	// An IP address needs no lookup.
	if ap, err := resolveEdgePeer(noDNS, "127.0.0.1:5061"); err != nil || ap.String() != "127.0.0.1:5061" {
		t.Fatalf("resolveEdgePeer(127.0.0.1:5061) = %v, %v", ap, err)
	}
}
