package mediation

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/mediation-emulator/mediation/gateway"
)

// Trunks configured by host name follow their DNS answers while the
// server runs (gateway/resolve.go): routing and the OPTIONS probes read
// the table's current addresses, and the gateway side's trust list is
// renewed here whenever they change. A trunk whose name does not resolve
// at start has no address (it takes no calls, /readyz and
// mediationserver_gateway_up say so) until a lookup succeeds.

// startResolve keeps the trunks' host names resolved until the returned
// stop is called (which waits for the lookups to end).
func (s *Server) startResolve() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.gateways.Resolve(ctx, s.resolver, s.log, func(tr gateway.Trunk) {
			s.gwTrust.Set(s.gateways.Trusted())
			s.cfg.warnSelfTrunk(tr, s.log)
			// A trunk whose name resolved for the first time comes up.
			s.deps.trunkMetrics.setUp(tr.Name, s.gateways.Healthy(tr.Name))
		})
	}()
	return func() {
		cancel()
		<-done
	}
}

// pinPeer keeps ip, an address of the DNS-named trunk t that the call
// sends to or came from, trusted by the gateway side until the call has
// ended, though the name may resolve elsewhere meanwhile: calls in
// progress stay where they are, and their peer's responses and requests
// must still come in. Trunks with a literal address never move.
func (c *call) pinPeer(t gateway.Trunk, ip netip.Addr) {
	if t.Host == "" || !ip.IsValid() || slices.Contains(c.pins, ip) {
		return
	}
	c.deps.gwTrust.Pin(ip)
	c.pins = append(c.pins, ip)
}

// unpinPeers releases the call's pins 64*T1 after its end: the
// transactions it leaves behind (a CANCELled INVITE's 487, a late 2xx
// retransmission) may still hear from the old address until then.
func (c *call) unpinPeers() {
	if len(c.pins) == 0 {
		return
	}
	pins, trust := c.pins, c.deps.gwTrust
	c.pins = nil
	time.AfterFunc(c.deps.sip.Timeout(), func() {
		for _, ip := range pins {
			trust.Unpin(ip)
		}
	})
}
