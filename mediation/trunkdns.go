package mediation

import (
	"context"

	"github.com/mediation-emulator/mediation/gateway"
)

// Trunks configured by host name follow their DNS answers while the
// server runs (gateway/resolve.go): routing and the OPTIONS probes read
// the table's current addresses, and the gateway side's trust list is
// renewed here whenever they change.

// startResolve keeps the trunks' host names resolved until the returned
// stop is called (which waits for the lookups to end).
func (s *Server) startResolve() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.gateways.Resolve(ctx, s.cfg.GatewayDNS.resolver(), s.log, func(gateway.Trunk) {
			s.gwTrust.Set(s.gateways.Trusted())
		})
	}()
	return func() {
		cancel()
		<-done
	}
}
