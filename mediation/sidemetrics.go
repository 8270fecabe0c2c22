package mediation

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediation-emulator/mediation/sip"
)

// registerSideCounters exports counters of each side's sip.Stats as the
// series name{side,<label>}, one per value of label that pick names.
func (s *Server) registerSideCounters(name, help, label string, pick func(*sip.Stats) map[string]*atomic.Uint64) {
	for _, side := range []*sip.Side{s.edge, s.gw} {
		for value, n := range pick(side.Stats()) {
			s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: name, Help: help, ConstLabels: prometheus.Labels{"side": side.Name, label: value},
			}, func() float64 { return float64(n.Load()) }))
		}
	}
}

// registerSizeMetrics exports each side's count of messages too large for
// UDP (sip/size.go) as mediationserver_sip_too_large_total{side,kind}:
// kind "response" (a final one was replaced by 513 Message Too Large) or
// "request" (not sent; the call failed with 513 or failed over).
func (s *Server) registerSizeMetrics() {
	s.registerSideCounters("mediationserver_sip_too_large_total",
		"SIP messages larger than a UDP datagram takes (sip.UDPLimit) that were to go over UDP: a final response is replaced by 513 Message Too Large, a provisional one or a request is not sent.",
		"kind", func(st *sip.Stats) map[string]*atomic.Uint64 {
			return map[string]*atomic.Uint64{"response": &st.ResponsesTooLarge, "request": &st.RequestsTooLarge}
		})
}

// registerDialBackMetrics exports each side's connections opened back to
// a peer whose TCP or TLS request's connection closed before its response
// (sip/reply.go, RFC 3261 §18.2.2) as
// mediationserver_sip_dial_backs_total{side,result}: result "opened", or
// "failed" (refused, unreachable, beyond the connection limits or the
// dial timeout: the response was lost).
func (s *Server) registerDialBackMetrics() {
	s.registerSideCounters("mediationserver_sip_dial_backs_total",
		"Connections the side opened to a peer's Via address because the TCP or TLS connection its request came on closed before the response: opened, or failed (the response was lost).",
		"result", func(st *sip.Stats) map[string]*atomic.Uint64 {
			return map[string]*atomic.Uint64{"opened": &st.DialBacks, "failed": &st.DialBackFailures}
		})
}
