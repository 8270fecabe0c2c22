package mediation

import (
	"context"

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
		s.gateways.Resolve(ctx, s.cfg.GatewayDNS.resolver(), s.log, func(tr gateway.Trunk) {
			s.gwTrust.Set(s.gateways.Trusted())
			// A trunk whose name resolved for the first time comes up.
			s.deps.trunkMetrics.setUp(tr.Name, s.gateways.Healthy(tr.Name))
		})
	}()
	return func() {
		cancel()
		<-done
	}
}
