package mediation

import (
	"context"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/sip"
)

// OPTIONS health of the gateway trunks: the gateway package keeps the
// state and the schedule (gateway/health.go), the gateway side sends the
// probes.

// trunkPinger probes trunks with OPTIONS from the gateway side.
type trunkPinger struct{ side *sip.Side }

// Ping implements gateway.Pinger.
func (p trunkPinger) Ping(ctx context.Context, tr gateway.Trunk) error {
	_, err := p.side.Ping(ctx, tr.Addr, tr.Transport)
	return err
}

// startHealth probes the trunks until the returned stop is called (which
// waits for the probes to end). Without gateway_health.enabled nothing is
// probed and every trunk stays up.
func (s *Server) startHealth() (stop func()) {
	if !s.cfg.GatewayHealth.Enabled {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.gateways.Check(ctx, trunkPinger{s.gw}, s.cfg.GatewayHealth.gateway(), s.log, func(tr gateway.Trunk, up bool) {
			s.deps.trunkMetrics.setUp(tr.Name, up)
		})
	}()
	return func() {
		cancel()
		<-done
	}
}
