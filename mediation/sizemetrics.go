package mediation

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediation-emulator/mediation/sip"
)

// registerSizeMetrics exports each side's count of messages too large for
// UDP (sip/size.go) as mediationserver_sip_too_large_total{side,kind}:
// kind "response" (a final one was replaced by 513 Message Too Large) or
// "request" (not sent; the call failed with 513 or failed over).
func (s *Server) registerSizeMetrics() {
	for _, side := range []*sip.Side{s.edge, s.gw} {
		stats := side.Stats()
		for kind, n := range map[string]*atomic.Uint64{"response": &stats.ResponsesTooLarge, "request": &stats.RequestsTooLarge} {
			s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "mediationserver_sip_too_large_total",
				Help:        "SIP messages larger than a UDP datagram takes (sip.UDPLimit) that were to go over UDP: a final response is replaced by 513 Message Too Large, a provisional one or a request is not sent.",
				ConstLabels: prometheus.Labels{"side": side.Name, "kind": kind},
			}, func() float64 { return float64(n.Load()) }))
		}
	}
}
