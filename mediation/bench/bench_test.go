package bench_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/bench"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunInProcess: a short mixed run against an in-process daemon places
// every call on the path its kind asks for, in the shares asked for, and
// reports latency, media and process figures that hang together.
func TestRunInProcess(t *testing.T) {
	for _, tc := range []struct {
		transport string
		media     bool
		calls     int
	}{{"udp", true, 100}, {"tcp", false, 100}} {
		t.Run(fmt.Sprintf("%s/media=%v", tc.transport, tc.media), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			media := tc.media
			rep, err := bench.Run(ctx, bench.Config{CPS: 50, Calls: tc.calls, Mode: bench.ModeMixed,
				TranscodeShare: 0.5, Transport: tc.transport, Media: &media, Duration: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Calls != tc.calls || rep.Answered != tc.calls || rep.Failed != 0 {
				t.Fatalf("calls %d, as planned %d, failed %d %v; want all %d as planned", rep.Calls, rep.Answered, rep.Failed, rep.FailedBy, tc.calls)
			}
			if rep.Bypassed != tc.calls/2 || rep.Anchored != tc.calls/4 || rep.Transcoded != tc.calls/4 {
				t.Errorf("bypassed %d, anchored %d, transcoded %d; want half, a quarter, a quarter of %d", rep.Bypassed, rep.Anchored, rep.Transcoded, tc.calls)
			}
			if s := rep.SetupMs; !(s.P50 > 0 && s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max) {
				t.Errorf("setup percentiles out of order: %+v", s)
			}
			if rep.CPS < 25 || rep.CPS > 55 {
				t.Errorf("achieved %.1f calls/s at a target of 50", rep.CPS)
			}
			if !rep.Daemon.Read || rep.Daemon.RSSBytes <= 0 || rep.Daemon.Goroutines <= 0 || !rep.Generator.InProcess {
				t.Errorf("process figures: daemon %+v generator %+v", rep.Daemon, rep.Generator)
			}
			// The daemon's own relay delay: observed for the anchored
			// calls' packets when they play media, percentiles in order.
			d := rep.Daemon
			inf := func(v float64) float64 {
				if v < 0 {
					return math.Inf(1)
				}
				return v
			}
			switch {
			case !tc.media && d.RelayDelayPackets != 0:
				t.Errorf("signalling only, yet %d relayed packets observed", d.RelayDelayPackets)
			case tc.media && runtime.GOOS == "linux" && (d.RelayDelayPackets == 0 || d.RelayDelayMs.P50 <= 0 ||
				inf(d.RelayDelayMs.P50) > inf(d.RelayDelayMs.P90) || inf(d.RelayDelayMs.P90) > inf(d.RelayDelayMs.P99)):
				t.Errorf("daemon relay delay %+v over %d packets", d.RelayDelayMs, d.RelayDelayPackets)
			}
			for _, w := range rep.Warnings {
				if strings.Contains(w, "another transport") {
					t.Errorf("the in-process daemon's trunk takes --transport, yet: %s", w)
				}
			}
			// INVITE, 100, 183, 200, ACK, BYE, 200 on each leg: 14, give or
			// take a retransmission, and less the SBC's 200 to the last
			// BYEs, which may reach the daemon after the run's last look
			// at its counters (1,399 of 1,400 seen once).
			if m := rep.Daemon.SIPMessagesPerCall; m < 13.95 || m > 20 {
				t.Errorf("%.1f SIP messages per call (%v in all), want about 14", m, rep.Daemon.SIPMessages)
			}
			for name, m := range map[string]bench.MediaFigures{"clients": rep.ClientMedia, "SBC": rep.SBCMedia} {
				switch {
				case !tc.media && m.Received != 0:
					t.Errorf("%s received %d packets in a signalling-only run", name, m.Received)
				case tc.media && (m.Calls != tc.calls || m.Expected < tc.calls*5 || m.LossRatio > 0.05):
					t.Errorf("%s media: %+v; want every call with at least 5 packets and little loss", name, m)
				}
			}
			if !tc.media && rep.RelayDelayPackets != 0 {
				t.Errorf("relay delay of %d packets in a signalling-only run", rep.RelayDelayPackets)
			}
		})
	}
}

// TestRunSBCProgress: with the SBC answering 180 without SDP or nothing
// before its 200, every call still goes as planned, and the daemon relays
// two SIP messages fewer per call without the 18x (the flow of the
// README's signalling targets: INVITE, 100, 200, ACK, BYE, 200 per leg).
func TestRunSBCProgress(t *testing.T) {
	for _, tc := range []struct {
		progress string
		min, max float64
	}{{"180", 13.95, 20}, {"none", 11.95, 13.5}} {
		t.Run(tc.progress, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			off := false
			rep, err := bench.Run(ctx, bench.Config{CPS: 50, Calls: 40, Mode: bench.ModeMixed, Media: &off, SBCProgress: tc.progress})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Answered != 40 || rep.Failed != 0 || rep.SBCProgress != tc.progress {
				t.Fatalf("as planned %d of 40, failed %v, SBC progress %q", rep.Answered, rep.FailedBy, rep.SBCProgress)
			}
			if m := rep.Daemon.SIPMessagesPerCall; m < tc.min || m > tc.max {
				t.Errorf("%.2f SIP messages per call, want %v to %v", m, tc.min, tc.max)
			}
		})
	}
	if _, err := bench.Run(context.Background(), bench.Config{SBCProgress: "181"}); !errors.Is(err, bench.ErrConfig) {
		t.Errorf("SBC progress 181: %v, want ErrConfig", err)
	}
}

// TestRunRelayDelay: an anchored run, half of it transcoded, measures the
// relay's one-way delay on nearly every packet the ends received (the
// stamp survives PCMU<->PCMA), and its JSON carries plausible figures.
func TestRunRelayDelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := bench.Run(ctx, bench.Config{CPS: 40, Calls: 40, Mode: bench.ModeAnchored,
		TranscodeShare: 0.5, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Answered != 40 || rep.Anchored != 20 || rep.Transcoded != 20 {
		t.Fatalf("answered %d (anchored %d, transcoded %d) failed %v; want 40, 20, 20", rep.Answered, rep.Anchored, rep.Transcoded, rep.FailedBy)
	}
	t.Logf("relay delay of %d packets: %+v", rep.RelayDelayPackets, rep.RelayDelayMs)
	received := uint64(rep.ClientMedia.Received + rep.SBCMedia.Received)
	if rep.RelayDelayPackets < received*9/10 || rep.RelayDelayPackets > received {
		t.Errorf("relay delay measured on %d packets of %d received", rep.RelayDelayPackets, received)
	}
	out, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RelayDelayMs      map[string]float64 `json:"relayDelayMs"`
		RelayDelayPackets *uint64            `json:"relayDelayPackets"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.RelayDelayMs
	for _, k := range []string{"p50", "p90", "p99", "max"} {
		// Generous: the race detector on a shared 2-core machine, where
		// the relay and both ends in this one process may wait seconds
		// for a core; but no packet can take longer than the run.
		if v, ok := d[k]; !ok || v <= 0 || v > 10000 || v > rep.ElapsedS*1000 {
			t.Errorf("relayDelayMs.%s = %v (present %v); want 0 < ms < 10,000 and the run's %.0f ms", k, v, ok, rep.ElapsedS*1000)
		}
	}
	if !(d["p50"] <= d["p90"] && d["p90"] <= d["p99"] && d["p99"] <= d["max"]) {
		t.Errorf("relayDelayMs out of order: %v", d)
	}
	if doc.RelayDelayPackets == nil || *doc.RelayDelayPackets == 0 {
		t.Errorf("relayDelayPackets missing or 0 in %s", out)
	}
}

// runningDaemon starts a daemon on loopback as `mediation serve` would run
// one for a bench, its trunk pointed at a free address for the bench's
// SBC (returned), with mutate's changes.
func runningDaemon(t *testing.T, mutate func(*mediation.Config)) (*mediation.Server, netip.AddrPort) {
	t.Helper()
	sbc := mediationtest.FreeAddr(t)
	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen, cfg.GatewayListen, cfg.HTTPListen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Gateways[0].Address = sbc.String()
	if mutate != nil {
		mutate(cfg)
	}
	return mediationtest.Serve(t, cfg, zerolog.Nop()), sbc
}

// TestRunLeavesOutProbes: the daemon's OPTIONS probes of its trunk during
// a run are counted apart and not as the calls' messages: with a probe
// every 20 ms, a run without a retransmission still gives 14 messages a
// call (the probes would add several).
func TestRunLeavesOutProbes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, sbc := runningDaemon(t, func(cfg *mediation.Config) {
		cfg.GatewayHealth.Interval, cfg.GatewayHealth.MaxFails = 20*time.Millisecond, 1000
	})
	media := false
	rep, err := bench.Run(ctx, bench.Config{Edge: srv.EdgeAddr(), SBCListen: sbc.String(),
		MetricsURL: mediationtest.URL(srv, "/metrics"), CPS: 50, Calls: 40, Media: &media})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Answered != 40 {
		t.Fatalf("%d of %d calls as planned (%v)", rep.Answered, rep.Calls, rep.FailedBy)
	}
	d := rep.Daemon
	if d.SIPOptions < 10 {
		t.Errorf("%v OPTIONS counted over a run of about a second with a probe every 20 ms", d.SIPOptions)
	}
	if d.SIPMessagesPerCall < 13.95 || d.SIPMessagesPerCall > 14+d.SIPOptions/40 {
		t.Errorf("%.2f SIP messages per call with %v OPTIONS: want about 14, the probes left out", d.SIPMessagesPerCall, d.SIPOptions)
	}
}

// TestRunReportsFailures: against a running daemon with bypass turned off,
// calls meant to be bypassed are answered but anchored: the run counts them
// failed, by reason, instead of passing them.
func TestRunReportsFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, sbc := runningDaemon(t, func(cfg *mediation.Config) { cfg.Bypass.Enabled = false })
	rep, err := bench.Run(ctx, bench.Config{Edge: srv.EdgeAddr(), SBCListen: sbc.String(),
		MetricsURL: mediationtest.URL(srv, "/metrics"), CPS: 50, Calls: 20})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Calls != 20 || rep.Failed != 20 || rep.FailedBy["wrong media path"] != 20 {
		t.Fatalf("calls %d failed %d by %v; want 20 failed as \"wrong media path\"", rep.Calls, rep.Failed, rep.FailedBy)
	}
	if !rep.Daemon.Read || rep.Generator.InProcess {
		t.Errorf("daemon %+v generator %+v: want the daemon's own figures", rep.Daemon, rep.Generator)
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
}

// TestRunWarnsTrunkTransport: against a running daemon whose trunk is UDP,
// a TCP run still completes (the clients' leg is TCP, the SBC takes the
// daemon's UDP), but the report says the SBC's leg was not TCP, and how
// to make it so.
func TestRunWarnsTrunkTransport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, sbc := runningDaemon(t, nil) // the trunk's transport: udp, the default
	media := false
	rep, err := bench.Run(ctx, bench.Config{Edge: srv.EdgeAddr(), SBCListen: sbc.String(), Transport: "tcp",
		MetricsURL: mediationtest.URL(srv, "/metrics"), CPS: 50, Calls: 10, Media: &media})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Answered != 10 {
		t.Fatalf("%d of %d calls as planned (%v)", rep.Answered, rep.Calls, rep.FailedBy)
	}
	var warned bool
	for _, w := range rep.Warnings {
		warned = warned || strings.Contains(w, "the SBC got 10 of its 10 calls over another transport than tcp") && strings.Contains(w, "bench-tcp.yaml")
	}
	if !warned {
		t.Errorf("no transport warning in %q", rep.Warnings)
	}
}
