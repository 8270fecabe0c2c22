package mediation

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediation-emulator/mediation/gateway"
)

// trunkMetrics are the per-trunk figures, labelled with the trunk's name.
type trunkMetrics struct {
	up        *prometheus.GaugeVec
	attempts  *prometheus.CounterVec
	failovers *prometheus.CounterVec
	// targetRetries: a call moved to its trunk's next address.
	targetRetries *prometheus.CounterVec
	calls         *prometheus.CounterVec
}

func newTrunkMetrics(reg *prometheus.Registry, trunks []gateway.Trunk) *trunkMetrics {
	gw := []string{"gateway"}
	m := &trunkMetrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediationserver_gateway_up",
			Help: "1 while the gateway trunk answers OPTIONS (or is not probed), 0 once it missed gateway_health.max_fails probes in a row.",
		}, gw),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_gateway_attempts_total",
			Help: "INVITEs of outbound calls sent to the gateway trunk (a failed-over call counts once per trunk tried).",
		}, gw),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_gateway_failovers_total",
			Help: "Outbound calls moved off the gateway trunk to the next one, by reason: no_provisional, 5xx codes, unreachable.",
		}, []string{"gateway", "reason"}),
		targetRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_gateway_target_retries_total",
			Help: "Outbound calls moved to the gateway trunk's next address (SRV target or A record, RFC 3263), by reason: unreachable, timeout, no_provisional.",
		}, []string{"gateway", "reason"}),
	}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediationserver_gateway_calls_total",
		Help: "Calls that ended, by gateway trunk (the last one tried), direction and outcome (answered or failed).",
	}, []string{"gateway", "direction", "outcome"})
	reg.MustRegister(m.up, m.attempts, m.failovers, m.targetRetries, m.calls)
	for _, t := range trunks {
		up := 0.0
		if t.Addr.IsValid() {
			up = 1 // an unresolved host name: 0 until it resolves
		}
		m.up.WithLabelValues(t.Name).Set(up)
		m.attempts.WithLabelValues(t.Name)
	}
	return m
}

// ended counts a call that ended on trunk name ("" for a call that never
// had one: no route).
func (m *trunkMetrics) ended(name, direction string, answered bool) {
	if name == "" {
		return
	}
	outcome := "failed"
	if answered {
		outcome = "answered"
	}
	m.calls.WithLabelValues(name, direction, outcome).Inc()
}

// setUp records a trunk's health.
func (m *trunkMetrics) setUp(name string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(name).Set(v)
}
