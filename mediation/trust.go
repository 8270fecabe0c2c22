package mediation

import (
	"net/netip"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediation-emulator/mediation/sip"
)

// Trust on both sides: the gateway side takes requests only from the
// trunks (their addresses' IPs and trust subnets), the edge side only from
// edge.trust and the edge peer. Everything else is refused by the side
// itself (sip/trust.go) before any call state exists.

// edgeTrust is the edge side's trust list.
func (s *Server) edgeTrust() *sip.Trust {
	prefixes := subnets(s.cfg.Edge.Trust)
	ip := s.edgePeer.Addr().Unmap()
	prefixes = append(prefixes, netip.PrefixFrom(ip, ip.BitLen()))
	return s.untrustedAction(sip.NewTrust(prefixes))
}

// gatewayTrust is the gateway side's trust list.
func (s *Server) gatewayTrust() *sip.Trust {
	s.gwTrust = s.untrustedAction(sip.NewTrust(s.gateways.Trusted()))
	return s.gwTrust
}

func (s *Server) untrustedAction(t *sip.Trust) *sip.Trust {
	t.RejectUDP = s.cfg.Untrusted.UDP == UntrustedReject
	t.RejectTCP = s.cfg.Untrusted.TCP == UntrustedReject
	return t
}

// registerTrustMetrics exports each side's count of untrusted requests as
// mediationserver_untrusted_requests_total{side}.
func (s *Server) registerTrustMetrics() {
	for _, side := range []*sip.Side{s.edge, s.gw} {
		stats := side.Stats()
		s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "mediationserver_untrusted_requests_total",
			Help:        "Requests from sources the side does not trust (edge.trust, the trunks), dropped or refused with 403 before any call state.",
			ConstLabels: prometheus.Labels{"side": side.Name},
		}, func() float64 { return float64(stats.Untrusted.Load()) }))
		s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "mediationserver_untrusted_responses_total",
			Help:        "Responses from sources the side does not trust, dropped (a trunk's former address after its host name moved, with no call left there; or forged).",
			ConstLabels: prometheus.Labels{"side": side.Name},
		}, func() float64 { return float64(stats.UntrustedResponses.Load()) }))
		conns := side.ConnStats()
		for reason, n := range map[string]*atomic.Uint64{"refused": &conns.Refused, "idle": &conns.Idle, "slow": &conns.Slow, "untrusted": &conns.Untrusted, "write_timeout": &conns.WriteTimeouts} {
			s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "mediationserver_tcp_connections_closed_total",
				Help:        "TCP and TLS connections the side closed under sip.tcp: refused (over max_connections_per_ip, max_connections or max_untrusted_connections), idle (idle_timeout, untrusted_idle_timeout), slow (message_timeout), untrusted (from an untrusted source, closed at accept under untrusted.tcp: drop), write_timeout (a write, to any of the side's connections, not done within write_timeout: the peer reads nothing).",
				ConstLabels: prometheus.Labels{"side": side.Name, "reason": reason},
			}, func() float64 { return float64(n.Load()) }))
		}
	}
}
