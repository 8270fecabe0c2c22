package mediation

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mediation-emulator/mediation/mediation/relay"
)

// metrics are the perf counters of the LS:MediationServer objects, one
// registry per server so that several servers can live in one test process.
type metrics struct {
	reg *prometheus.Registry

	callsCurrent  *prometheus.GaugeVec   // LS:MediationServer - Inbound/Outbound Calls\- Current
	callsTotal    *prometheus.CounterVec // ...\- Total
	bypassActive  *prometheus.GaugeVec   // ...\- Active media bypass calls
	bypassTotal   *prometheus.CounterVec // ...\- Total media bypass calls
	failedCalls   *prometheus.CounterVec // by direction and reason
	gatewayPorts  prometheus.GaugeFunc   // Global Counters\- Current number of ports opened on the gateway side
	legJitter     *prometheus.HistogramVec
	legLoss       *prometheus.HistogramVec
	legRTT        *prometheus.HistogramVec
	sipUnanswered prometheus.Counter
	sipStray      *prometheus.CounterVec // responses for nothing of ours, by side
	// sipStaleInvites: copies of ended calls' INVITEs (staleinvite.go), by side.
	sipStaleInvites *prometheus.CounterVec
	// sipForeign: in-dialog requests from a trusted source that is not the
	// call's own peer (dialogtrust.go), by side.
	sipForeign *prometheus.CounterVec
	// sipExcessForks: 2xx of forks beyond the ones a call hangs up with
	// BYE (hangUpFork), ACKed only, by side.
	sipExcessForks *prometheus.CounterVec
	mediaRefused   *prometheus.CounterVec // RTP from neither the peer's IPs nor its latched address
	relayDelay     *prometheus.HistogramVec
	// relayDelayBy are relayDelay's two series, looked up once: observed
	// for every relayed packet.
	relayDelayBy [2]prometheus.Observer
	relayDropped *prometheus.CounterVec
	// relayDroppedBy are relayDropped's series by side and reason, looked
	// up once: counted for every packet a relay drops.
	relayDroppedBy [2][]prometheus.Counter
	// mediaRefusedBy are mediaRefused's two series, looked up once:
	// counted for every packet from a stranger, as it comes.
	mediaRefusedBy [2]prometheus.Counter
	// Operators' series (metricsops.go).
	sipRequests   *prometheus.CounterVec
	sipResponses  *prometheus.CounterVec
	sipCounters   sipCounters
	mediaTimeouts *prometheus.CounterVec
	webService    *prometheus.CounterVec
}

// portPool is the media port allocator as the counters see it.
type portPool interface {
	InUse() int
	InUseOn(relay.Side) int
	Quarantined() int
	EarlyReuses() uint64
}

func newMetrics(ports portPool) *metrics {
	dir := []string{"direction"}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		callsCurrent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediationserver_calls_current",
			Help: "Calls in progress (LS:MediationServer - Inbound Calls / Outbound Calls - Current).",
		}, dir),
		callsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_calls_total",
			Help: "Calls received since start (LS:MediationServer - Inbound Calls / Outbound Calls - Total).",
		}, dir),
		bypassActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediationserver_media_bypass_calls_active",
			Help: "Answered calls whose media bypasses the mediation server (LS:MediationServer - Inbound Calls / Outbound Calls - Active media bypass calls).",
		}, dir),
		bypassTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_media_bypass_calls_total",
			Help: "Answered media bypass calls since start.",
		}, dir),
		failedCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_failed_calls_total",
			Help: "Calls that ended without being answered, by direction and reason (the SIP code relayed, canceled, timeout, ...).",
		}, []string{"direction", "reason"}),
		gatewayPorts: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediationserver_gateway_side_port_pairs_open",
			Help: "RTP/RTCP port pairs open for anchored media on the gateway side, one per anchored call (LS:MediationServer - Global Counters - Current number of ports opened on the gateway side, counted in pairs).",
		}, func() float64 { return float64(ports.InUseOn(relay.Gateway)) }),
		legJitter: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mediationserver_anchored_leg_jitter_seconds",
			Help:    "Interarrival jitter of each anchored leg's incoming RTP at the end of the call (the call record's jitterMs), by side.",
			Buckets: []float64{.001, .002, .005, .01, .02, .03, .05, .1, .2},
		}, []string{"side"}),
		legLoss: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mediationserver_anchored_leg_loss_ratio",
			Help:    "Share of each anchored leg's incoming RTP packets lost over the call (packetsLost over packets expected), by side.",
			Buckets: []float64{0, .001, .005, .01, .02, .05, .1, .2, .5},
		}, []string{"side"}),
		legRTT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mediationserver_anchored_leg_rtt_seconds",
			Help:    "Round-trip time to each anchored leg's peer from its RTCP reports, by side (legs without reports are not observed).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .2, .5, 1},
		}, []string{"side"}),
		sipUnanswered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediationserver_sip_unknown_dialog_requests_total",
			Help: "Requests answered 481 (no such call or transaction).",
		}),
		sipStray: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_sip_stray_responses_total",
			Help: "Responses that match no transaction, dialog or recently ended call of ours, dropped; by side.",
		}, []string{"side"}),
		sipStaleInvites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_sip_stale_invites_total",
			Help: "Copies of the INVITE of a call that had ended (same Call-ID, From-tag and CSeq, its transaction gone) answered with the final response the call sent (481 after an answered call), no call made; by side.",
		}, []string{"side"}),
		sipForeign: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_sip_foreign_dialog_requests_total",
			Help: "In-dialog requests refused with 403 because they came from a source the side trusts that is not the call's own peer (on the gateway side another trunk's address; on the edge side neither the leg's peer nor edge.peer); by side.",
		}, []string{"side"}),
		sipExcessForks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_sip_excess_fork_answers_total",
			Help: "2xx responses to a call's INVITE from callee forks beyond the 40 a call hangs up with BYE (20 remembered, 20 more heard of first by their 2xx): ACKed only, not sent BYE; by side.",
		}, []string{"side"}),
		mediaRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_media_packets_refused_total",
			Help: "RTP and RTCP packets an anchored call's relay port refused because they came from a stranger: neither the peer's own IPs (SDP, SIP, ICE candidates) before latching, nor its latched or SDP address after; by side, counted as they come.",
		}, []string{"side"}),
		relayDelay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mediationserver_relay_delay_seconds",
			Help:    "Time anchored RTP spends in the relay, by the side it came from: from the kernel's receive timestamp of a packet (so its wait in the socket's queue counts) to the send of its relayed copy, transcoding and SRTP included (Linux only).",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"side"}),
		relayDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediationserver_relay_dropped_packets_total",
			Help: "RTP and RTCP packets anchored calls' relays did not relay or use, by side and reason: malformed (not RTP/RTCP version 2, or over 1472 bytes), unknown_payload_type (not negotiated), no_peer (a leg without a media address yet, or on hold), foreign (from a stranger), decrypt_failed (SRTP authentication or replay), send_failed (towards the side's peer), stun (a STUN message: an ICE keep-alive of a peer we negotiated no ICE with); counted as they happen.",
		}, []string{"side", "reason"}),
	}
	quarantined := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mediationserver_media_port_pairs_quarantined",
		Help: "Released RTP/RTCP port pairs kept out of use for media.quarantine, so that late packets of an ended call reach no new one.",
	}, func() float64 { return float64(ports.Quarantined()) })
	inUse := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mediationserver_media_port_pairs_in_use",
		Help: "RTP/RTCP port pairs of media.ports held by anchored calls, both sides: two per anchored call.",
	}, func() float64 { return float64(ports.InUse()) })
	earlyReuse := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "mediationserver_media_port_pairs_early_reuses_total",
		Help: "Port pairs handed out before their quarantine ended because no other pair was free: the port range (media.ports) is small for the call rate.",
	}, func() float64 { return float64(ports.EarlyReuses()) })
	m.reg.MustRegister(quarantined, inUse, earlyReuse, m.callsCurrent, m.callsTotal, m.bypassActive, m.bypassTotal, m.failedCalls,
		m.gatewayPorts, m.legJitter, m.legLoss, m.legRTT, m.sipUnanswered, m.sipStray, m.sipStaleInvites, m.sipForeign, m.sipExcessForks, m.mediaRefused, m.relayDelay, m.relayDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Both directions exist from the start so dashboards see zeros, not gaps.
	for _, side := range []string{"edge", "gateway"} {
		m.mediaRefused.WithLabelValues(side)
		m.sipStray.WithLabelValues(side)
		m.sipStaleInvites.WithLabelValues(side)
		m.sipForeign.WithLabelValues(side)
		m.sipExcessForks.WithLabelValues(side)
	}
	m.relayDelayBy[relay.Edge] = m.relayDelay.WithLabelValues("edge")
	m.mediaRefusedBy[relay.Edge] = m.mediaRefused.WithLabelValues("edge")
	m.mediaRefusedBy[relay.Gateway] = m.mediaRefused.WithLabelValues("gateway")
	m.relayDelayBy[relay.Gateway] = m.relayDelay.WithLabelValues("gateway")
	for _, side := range []relay.Side{relay.Edge, relay.Gateway} {
		reasons := relay.DropReasons()
		by := make([]prometheus.Counter, int(reasons[len(reasons)-1])+1)
		for _, r := range reasons {
			by[r] = m.relayDropped.WithLabelValues(side.String(), r.String())
		}
		m.relayDroppedBy[side] = by
	}
	for _, d := range []direction{outbound, inbound} {
		m.callsCurrent.WithLabelValues(d.String())
		m.callsTotal.WithLabelValues(d.String())
		m.bypassActive.WithLabelValues(d.String())
		m.bypassTotal.WithLabelValues(d.String())
	}
	return m
}

// observeRelayDelay is the relay's delay observer (relay.WithDelayObserver),
// called for every relayed packet; the relay passes Edge or Gateway only.
func (m *metrics) observeRelayDelay(from relay.Side, d time.Duration) {
	m.relayDelayBy[from].Observe(d.Seconds())
}

// observeRelayDrop is the relays' drop observer (relay.WithDropObserver),
// called for every packet dropped; the relay passes Edge or Gateway and
// one of relay.DropReasons only.
func (m *metrics) observeRelayDrop(side relay.Side, r relay.DropReason) {
	m.relayDroppedBy[side][r].Inc()
	if r == relay.DropForeign {
		// As it comes, not from the call's record at its end: an
		// injection into a long call must show while the call is up.
		m.mediaRefusedBy[side].Inc()
	}
}

// observeLeg records an anchored leg's figures from its call record.
func (m *metrics) observeLeg(side string, l LegRecord) {
	if l.PacketsReceived == 0 && l.PacketsLost == 0 {
		return
	}
	m.legJitter.WithLabelValues(side).Observe(l.JitterMs / 1000)
	if expected := float64(l.PacketsReceived) + float64(l.PacketsLost); expected > 0 {
		m.legLoss.WithLabelValues(side).Observe(max(float64(l.PacketsLost), 0) / expected)
	}
	if l.RTTMs > 0 {
		m.legRTT.WithLabelValues(side).Observe(l.RTTMs / 1000)
	}
}

// reasonLabel is a failed call's end reason as a metric label: a token of
// lower-case letters, digits and '_' ("hung up by admin" is
// hung_up_by_admin), as the other reasons are and alert rules expect; the
// call record keeps the words.
func reasonLabel(reason string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		default:
			return '_'
		}
	}, reason)
}
