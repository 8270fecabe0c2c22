package mediation

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediation-emulator/mediation/sip"
)

// Bad input the sides refuse before any call state exists, as counters:
// requests that cannot be acted on, reads that are not SIP, connections
// whose read failed, TLS handshakes that failed.

// registerInputMetrics exports the sides' counts of refused input.
func (s *Server) registerInputMetrics() {
	sides := []*sip.Side{s.edge, s.gw}
	// One series for both sides, as it always was.
	s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "mediationserver_sip_malformed_requests_total",
		Help: "Requests refused before any call state because they cannot be acted on: 400 (a mandatory header missing or invalid, Content-Length values that differ, a datagram shorter than its Content-Length), 415 (an INVITE, UPDATE or PRACK body without SDP we can read) or 505 (a SIP version other than SIP/2.0).",
	}, func() float64 {
		var n uint64
		for _, side := range sides {
			n += side.Stats().Malformed.Load()
		}
		return float64(n)
	}))
	s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "mediationserver_http_connections_refused_total",
		Help: "HTTP connections (web service, metrics, admin API) closed at once because their IP already had 32 open on that listener.",
	}, func() float64 { return float64(s.httpConns.Refused.Load()) }))
	s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "mediationserver_http_connections_evicted_total",
		Help: "HTTP connections (web service, metrics, admin API) without a request in a handler (a request header still incomplete, or idle between requests) closed to make room for a new connection when their listener had 256 open.",
	}, func() float64 { return float64(s.httpEvicted.Load()) }))
	for _, side := range sides {
		stats, conns := side.Stats(), side.ConnStats()
		s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "mediationserver_sip_unparseable_messages_total",
			Help:        "Reads that were not a SIP message sipgo could parse (over TCP and TLS the connection is closed), and responses without Call-ID, CSeq, From or To or in a version other than SIP/2.0: dropped, by side.",
			ConstLabels: prometheus.Labels{"side": side.Name},
		}, func() float64 { return float64(stats.Unparseable.Load()) }))
		s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "mediationserver_tcp_read_errors_total",
			Help:        "TCP and TLS connections whose read failed, mostly reset by the peer, and so closed; by side. Their log lines are sampled, one a second at most.",
			ConstLabels: prometheus.Labels{"side": side.Name},
		}, func() float64 { return float64(conns.ReadErrors.Load()) }))
		for reason, n := range conns.Handshakes.ByReason() {
			s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "mediationserver_tls_handshake_failures_total",
				Help:        "TLS handshakes on the side's listener that failed, the connection closed, by reason: timeout (not done within sip.tcp.message_timeout, counted as slow connections too, or cut at a stranger's untrusted_idle_timeout, counted as idle), no_certificate (mutual TLS, no client certificate), bad_certificate (expired, from another CA, without a TLS usage), not_trunk (the gateway side: a certificate naming no trunk at its source address), other (the peer refused our certificate, spoke no TLS or closed the connection).",
				ConstLabels: prometheus.Labels{"side": side.Name, "reason": reason},
			}, func() float64 { return float64(n.Load()) }))
		}
	}
}
