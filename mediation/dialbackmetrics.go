package mediation

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediation-emulator/mediation/sip"
)

// registerDialBackMetrics exports each side's connections opened back to
// a peer whose TCP or TLS request's connection closed before its response
// (sip/reply.go, RFC 3261 §18.2.2) as
// mediationserver_sip_dial_backs_total{side,result}: result "opened", or
// "failed" (refused, unreachable, beyond the connection limits or the
// dial timeout: the response was lost).
func (s *Server) registerDialBackMetrics() {
	for _, side := range []*sip.Side{s.edge, s.gw} {
		stats := side.Stats()
		for result, n := range map[string]*atomic.Uint64{"opened": &stats.DialBacks, "failed": &stats.DialBackFailures} {
			s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "mediationserver_sip_dial_backs_total",
				Help:        "Connections the side opened to a peer's Via address because the TCP or TLS connection its request came on closed before the response: opened, or failed (the response was lost).",
				ConstLabels: prometheus.Labels{"side": side.Name, "result": result},
			}, func() float64 { return float64(n.Load()) }))
		}
	}
}
