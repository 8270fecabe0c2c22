package mediation

import (
	"runtime/debug"
	"strconv"
	"sync"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/sip"
)

// The series an operator alerts on beside the LS:MediationServer counters:
// what runs, whether bypass is on, SIP traffic per side, media timeouts.
// Every label is bounded: sides, directions, methods we know, status codes.

// addOps registers the operators' series; bypassEnabled reads the live
// MediaBypassSettings.Enabled.
func (m *metrics) addOps(bypassEnabled func() bool) {
	version, revision := buildVersion()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mediationserver_build_info",
		Help: "Always 1: the running binary's module version and VCS revision.",
	}, []string{"version", "revision"})
	build.WithLabelValues(version, revision).Set(1)
	enabled := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mediationserver_bypass_enabled",
		Help: "1 when media bypass is enabled (MediaBypassSettings.Enabled), else 0.",
	}, func() float64 {
		if bypassEnabled() {
			return 1
		}
		return 0
	})
	m.sipRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediationserver_sip_requests_total",
		Help: "SIP requests by side (edge, gateway), direction (in: received, out: sent) and method; retransmissions included.",
	}, []string{"side", "dir", "method"})
	m.sipResponses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediationserver_sip_responses_total",
		Help: "SIP responses by side (edge, gateway), direction (in: received, out: sent) and status code; retransmissions included.",
	}, []string{"side", "dir", "code"})
	m.mediaTimeouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediationserver_media_timeouts_total",
		Help: "Anchored calls ended because a leg sent no RTP or RTCP for media.timeout, by direction.",
	}, []string{"direction"})
	m.webService = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediationserver_web_service_requests_total",
		Help: "Requests to the bypass web service by outcome: granted (a supported internal client got the bypass ID), not_supported (an old or unknown client build), disabled (bypass off or no ID), external (403: not on an internal subnet), bad_method.",
	}, []string{"outcome"})
	m.reg.MustRegister(build, enabled, m.sipRequests, m.sipResponses, m.mediaTimeouts, m.webService)
	for _, d := range []direction{outbound, inbound} {
		m.mediaTimeouts.WithLabelValues(d.String())
	}
	for _, o := range []string{hybridconfig.OutcomeGranted, hybridconfig.OutcomeNotSupported, hybridconfig.OutcomeDisabled,
		hybridconfig.OutcomeExternal, hybridconfig.OutcomeBadMethod} {
		m.webService.WithLabelValues(o)
	}
}

// webServiceOutcome counts one request to the bypass web service.
func (m *metrics) webServiceOutcome(outcome string) { m.webService.WithLabelValues(outcome).Inc() }

// buildVersion is the module version and VCS revision the binary was
// built from ("(devel)" and "" in tests).
func buildVersion() (version, revision string) {
	version = "(devel)"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version, ""
	}
	if info.Main.Version != "" {
		version = info.Main.Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return version, revision
}

// countSIP counts one traced message.
func (m *metrics) countSIP(w *sip.Wire) {
	if m == nil || m.sipRequests == nil {
		return
	}
	switch msg := w.Msg.(type) {
	case *gosip.Request:
		method := string(msg.Method)
		if !sip.KnownMethod(msg.Method) {
			method = "other" // a peer's invention must not make a series
		}
		m.sipCounters.get(m.sipRequests, sipCounterKey{w.Side.Name, w.Dir, method, 0}).Inc()
	case *gosip.Response:
		code := msg.StatusCode
		if code < 100 || code > 699 {
			code = 0
		}
		m.sipCounters.get(m.sipResponses, sipCounterKey{w.Side.Name, w.Dir, "", code}).Inc()
	}
}

// sipCounterKey names one series of the SIP message counters: a request's
// method or a response's code.
type sipCounterKey struct {
	side, dir, method string
	code              int
}

// sipCounters keeps the SIP message counters' series once looked up:
// WithLabelValues hashes and checks its labels on every call, about 2 % of
// the daemon's CPU when it ran for every message. The keys are bounded as
// the labels are (sides, directions, known methods, codes 0 and 100-699).
type sipCounters struct{ m sync.Map }

func (c *sipCounters) get(vec *prometheus.CounterVec, k sipCounterKey) prometheus.Counter {
	if ctr, ok := c.m.Load(k); ok {
		return ctr.(prometheus.Counter)
	}
	label := k.method
	if k.method == "" {
		label = strconv.Itoa(k.code)
	}
	ctr := vec.WithLabelValues(k.side, k.dir, label)
	c.m.Store(k, ctr)
	return ctr
}
