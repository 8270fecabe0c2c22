package mediation_test

import (
	"net/http"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/mediation/metricspage"
)

// wantSeries is every mediationserver_ series with its HELP: a series
// added, renamed or re-described must be changed here (and in the README).
var wantSeries = []string{
	"mediationserver_anchored_leg_jitter_seconds: Interarrival jitter of each anchored leg's incoming RTP at the end of the call (the call record's jitterMs), by side.",
	"mediationserver_anchored_leg_loss_ratio: Share of each anchored leg's incoming RTP packets lost over the call (packetsLost over packets expected), by side.",
	"mediationserver_anchored_leg_rtt_seconds: Round-trip time to each anchored leg's peer from its RTCP reports, by side (legs without reports are not observed).",
	"mediationserver_build_info: Always 1: the running binary's module version and VCS revision.",
	"mediationserver_bypass_enabled: 1 when media bypass is enabled (MediaBypassSettings.Enabled), else 0.",
	"mediationserver_calls_current: Calls in progress (LS:MediationServer - Inbound Calls / Outbound Calls - Current).",
	"mediationserver_calls_total: Calls received since start (LS:MediationServer - Inbound Calls / Outbound Calls - Total).",
	"mediationserver_failed_calls_total: Calls that ended without being answered, by direction and reason (the SIP code relayed, canceled, timeout, ...).",
	"mediationserver_gateway_attempts_total: INVITEs of outbound calls sent to the gateway trunk (a failed-over call counts once per trunk tried).",
	"mediationserver_gateway_calls_total: Calls that ended, by gateway trunk (the last one tried), direction and outcome (answered or failed).",
	"mediationserver_gateway_side_port_pairs_open: RTP/RTCP port pairs open for anchored media on the gateway side, one per anchored call (LS:MediationServer - Global Counters - Current number of ports opened on the gateway side, counted in pairs).",
	"mediationserver_gateway_up: 1 while the gateway trunk answers OPTIONS (or is not probed), 0 once it missed gateway_health.max_fails probes in a row.",
	"mediationserver_http_connections_evicted_total: HTTP connections (web service, metrics, admin API) without a request in a handler (a request header still incomplete, or idle between requests) closed to make room for a new connection when their listener had 256 open.",
	"mediationserver_http_connections_refused_total: HTTP connections (web service, metrics, admin API) closed at once because their IP already had 32 open on that listener.",
	"mediationserver_media_bypass_calls_active: Answered calls whose media bypasses the mediation server (LS:MediationServer - Inbound Calls / Outbound Calls - Active media bypass calls).",
	"mediationserver_media_bypass_calls_total: Answered media bypass calls since start.",
	"mediationserver_media_packets_refused_total: RTP and RTCP packets an anchored call's relay port refused because they came from a stranger: neither the peer's own IPs (SDP, SIP, ICE candidates) before latching, nor its latched or SDP address after; by side, counted as they come.",
	"mediationserver_media_port_pairs_early_reuses_total: Port pairs handed out before their quarantine ended because no other pair was free: the port range (media.ports) is small for the call rate.",
	"mediationserver_media_port_pairs_in_use: RTP/RTCP port pairs of media.ports held by anchored calls, both sides: two per anchored call.",
	"mediationserver_media_port_pairs_quarantined: Released RTP/RTCP port pairs kept out of use for media.quarantine, so that late packets of an ended call reach no new one.",
	"mediationserver_media_timeouts_total: Anchored calls ended because a leg sent no RTP or RTCP for media.timeout, by direction.",
	"mediationserver_records_held: Call records held in memory because records.path could not be written; written with the next record.",
	"mediationserver_records_lost_total: Call records never written: dropped from memory (more than 1000 held) or still held at shutdown.",
	"mediationserver_records_write_failures_total: Call records whose write to records.path failed (a full disk, or a records file moved away or removed that cannot be reopened at its path): each is held in memory and written before the next record, up to 1000.",
	"mediationserver_relay_delay_seconds: Time anchored RTP spends in the relay, by the side it came from: from the kernel's receive timestamp of a packet (so its wait in the socket's queue counts) to the send of its relayed copy, transcoding and SRTP included (Linux only).",
	"mediationserver_relay_dropped_packets_total: RTP and RTCP packets anchored calls' relays did not relay or use, by side and reason: malformed (not RTP/RTCP version 2, or over 1472 bytes), unknown_payload_type (not negotiated), no_peer (a leg without a media address yet, or on hold), foreign (from a stranger), decrypt_failed (SRTP authentication or replay), send_failed (towards the side's peer), stun (a STUN message: an ICE keep-alive of a peer we negotiated no ICE with); counted as they happen.",
	"mediationserver_sip_dial_backs_total: Connections the side opened to a peer's Via address because the TCP or TLS connection its request came on closed before the response: opened, or failed (the response was lost).",
	"mediationserver_sip_excess_fork_answers_total: 2xx responses to a call's INVITE from callee forks beyond the 40 a call hangs up with BYE (20 remembered, 20 more heard of first by their 2xx): ACKed only, not sent BYE; by side.",
	"mediationserver_sip_foreign_dialog_requests_total: In-dialog requests refused with 403 because they came from a source the side trusts that is not the call's own peer (on the gateway side another trunk's address; on the edge side neither the leg's peer nor edge.peer); by side.",
	"mediationserver_sip_malformed_requests_total: Requests refused before any call state because they cannot be acted on: 400 (a mandatory header missing or invalid, Content-Length values that differ, a datagram shorter than its Content-Length), 415 (an INVITE, UPDATE or PRACK body without SDP we can read) or 505 (a SIP version other than SIP/2.0).",
	"mediationserver_sip_requests_total: SIP requests by side (edge, gateway), direction (in: received, out: sent) and method; retransmissions included.",
	"mediationserver_sip_responses_total: SIP responses by side (edge, gateway), direction (in: received, out: sent) and status code; retransmissions included.",
	"mediationserver_sip_stale_invites_total: Copies of the INVITE of a call that had ended (same Call-ID, From-tag and CSeq, its transaction gone) answered with the final response the call sent (481 after an answered call), no call made; by side.",
	"mediationserver_sip_stray_responses_total: Responses that match no transaction, dialog or recently ended call of ours, dropped; by side.",
	"mediationserver_sip_too_large_total: SIP messages larger than a UDP datagram takes (sip.UDPLimit) that were to go over UDP: a final response is replaced by 513 Message Too Large, a provisional one or a request is not sent.",
	"mediationserver_sip_unknown_dialog_requests_total: Requests answered 481 (no such call or transaction).",
	"mediationserver_sip_unparseable_messages_total: Reads that were not a SIP message sipgo could parse (over TCP and TLS the connection is closed), and responses without Call-ID, CSeq, From or To or in a version other than SIP/2.0: dropped, by side.",
	"mediationserver_tcp_connections_closed_total: TCP and TLS connections the side closed under sip.tcp: refused (over max_connections_per_ip, max_connections or max_untrusted_connections), idle (idle_timeout, untrusted_idle_timeout), slow (message_timeout), untrusted (from an untrusted source, closed at accept under untrusted.tcp: drop), write_timeout (a write, to any of the side's connections, not done within write_timeout: the peer reads nothing).",
	"mediationserver_tcp_read_errors_total: TCP and TLS connections whose read failed, mostly reset by the peer, and so closed; by side. Their log lines are sampled, one a second at most.",
	"mediationserver_tls_handshake_failures_total: TLS handshakes on the side's listener that failed, the connection closed, by reason: timeout (not done within sip.tcp.message_timeout, counted as slow connections too, or cut at a stranger's untrusted_idle_timeout, counted as idle), no_certificate (mutual TLS, no client certificate), bad_certificate (expired, from another CA, without a TLS usage), not_trunk (the gateway side: a certificate naming no trunk at its source address), other (the peer refused our certificate, spoke no TLS or closed the connection).",
	"mediationserver_untrusted_requests_total: Requests from sources the side does not trust (edge.trust, the trunks), dropped or refused with 403 before any call state.",
	"mediationserver_untrusted_responses_total: Responses from sources the side does not trust, dropped (a trunk's former address after its host name moved, with no call left there; or forged).",
	"mediationserver_web_service_requests_total: Requests to the bypass web service by outcome: granted (a supported internal client got the bypass ID), not_supported (an old or unknown client build), disabled (bypass off or no ID), external (403: not on an internal subnet), bad_method.",
}

// TestMetricsSeries: /metrics lists exactly these series with these HELP
// strings (no escaped characters), and the new ones count what they say.
func TestMetricsSeries(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{})
	client := startClient(t, ctx, mediationtest.DefaultBypassID)
	if rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 100 * time.Millisecond}); err != nil || rep.Code != 200 {
		t.Fatalf("call: %d %v", rep.Code, err)
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")

	families, err := metricspage.Get(ctx, http.DefaultClient, mediationtest.URL(lab.Server, "/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for name, f := range families {
		if strings.HasPrefix(name, "mediationserver_") {
			got = append(got, name+": "+f.GetHelp())
			if strings.Contains(f.GetHelp(), `\`) {
				t.Errorf("%s: HELP with a backslash: %q", name, f.GetHelp())
			}
		}
	}
	sort.Strings(got)
	// Series with labels only known when something happens (a failed call,
	// an anchored leg) appear with their first sample.
	lazy := map[string]bool{"mediationserver_anchored_leg_jitter_seconds": true, "mediationserver_anchored_leg_loss_ratio": true,
		"mediationserver_anchored_leg_rtt_seconds": true, "mediationserver_failed_calls_total": true}
	var want []string
	for _, w := range wantSeries {
		name, _, _ := strings.Cut(w, ":")
		if !lazy[name] {
			want = append(want, w)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mediationserver_bypass_enabled", nil, 1},
		{"mediationserver_build_info", []string{"version", "(devel)"}, 1},
		{"mediationserver_sip_requests_total", []string{"side", "edge", "dir", "in", "method", "INVITE"}, 1},
		{"mediationserver_sip_requests_total", []string{"side", "gateway", "dir", "out", "method", "INVITE"}, 1},
		{"mediationserver_sip_requests_total", []string{"side", "gateway", "dir", "out", "method", "BYE"}, 1},
		{"mediationserver_sip_responses_total", []string{"side", "edge", "dir", "out", "code", "200"}, 2},
		{"mediationserver_sip_responses_total", []string{"side", "gateway", "dir", "in", "code", "183"}, 1},
		{"mediationserver_media_timeouts_total", []string{"direction", "outbound"}, 0},
	} {
		v, err := mediationtest.Metric(lab.Server, c.name, c.labels...)
		if err != nil || v != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, c.labels, v, err, c.want)
		}
	}
}

// TestRelayDelayMetric: an anchored call's relayed packets are observed in
// mediationserver_relay_delay_seconds, on both sides, each well under the
// call's length; a bypassed call adds none.
func TestRelayDelayMetric(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("receive timestamps are Linux's")
	}
	ctx := testCtx(t, 30*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{})
	count := func() (n [2]uint64, sum [2]float64) {
		t.Helper()
		page, err := metricspage.Get(ctx, http.DefaultClient, mediationtest.URL(lab.Server, "/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		f := page["mediationserver_relay_delay_seconds"]
		if f == nil {
			t.Fatal("no mediationserver_relay_delay_seconds")
		}
		for _, m := range f.GetMetric() {
			i := 0
			if m.GetLabel()[0].GetValue() == "gateway" {
				i = 1
			}
			n[i], sum[i] = m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
		}
		return n, sum
	}
	bypass := startClient(t, ctx, mediationtest.DefaultBypassID)
	if rep, err := bypass.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 500 * time.Millisecond}); err != nil || rep.Code != 200 {
		t.Fatalf("bypassed call: %d %v", rep.Code, err)
	}
	if n, _ := count(); n != [2]uint64{} {
		t.Fatalf("a bypassed call observed %v relay delays", n)
	}
	anchored := startClient(t, ctx, "")
	rep, err := anchored.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 1 * time.Second})
	if err != nil || rep.Code != 200 {
		t.Fatalf("anchored call: %d %v", rep.Code, err)
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
	n, sum := count()
	for i, side := range []string{"edge", "gateway"} {
		// 50 packets a second each way for a second, give or take the
		// set-up and the end.
		if n[i] < 10 || n[i] > 200 {
			t.Errorf("%s: %d packets observed, want about 50", side, n[i])
		}
		if mean := sum[i] / float64(max(n[i], 1)); mean <= 0 || mean > 0.5 {
			t.Errorf("%s: mean delay %v s over %d packets", side, mean, n[i])
		}
	}
}

// TestPortPairMetrics: with one anchored call up, the gateway side has
// one port pair open (CCE's "ports opened on the gateway side"), and
// media.ports has two in use (one per side); none once it ends.
func TestPortPairMetrics(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU")) })
	srv := serveTo(t, sbc.addr(), "udp", nil)
	oc := startPeer(t, "caller").call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	if media(t, "answer to the caller", oc.final.Body()).BypassID != "" {
		t.Fatal("the call is bypassed, want it anchored")
	}
	for _, c := range []struct {
		name string
		want float64
	}{{"mediationserver_gateway_side_port_pairs_open", 1}, {"mediationserver_media_port_pairs_in_use", 2}} {
		if v, err := mediationtest.Metric(srv, c.name); err != nil || v != c.want {
			t.Errorf("%s = %v (%v) with one anchored call up, want %v", c.name, v, err, c.want)
		}
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_side_port_pairs_open")
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_media_port_pairs_in_use")
}
