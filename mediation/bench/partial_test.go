package bench_test

// Runs whose figures are partial: the bench's SBC left out of the calls,
// a /metrics that cannot be read, a run stopped midway (r25-bench F1, F2,
// F4), and a daemon whose edge is IPv6.

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/bench"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// warned reports whether one of the warnings holds every part.
func warned(warnings []string, parts ...string) bool {
	for _, w := range warnings {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(w, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestRunWarnsSBCLeftOut: a running daemon whose trunk is another SBC than
// the bench's answers every call, but the bench's SBC answers none: the
// report counts the calls each end saw answered and says why its SBC
// figures are empty (r25-bench F1: it passed silently).
func TestRunWarnsSBCLeftOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	other, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: "127.0.0.1:0", Silent: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	srv, sbc := runningDaemon(t, func(cfg *mediation.Config) { cfg.Gateways[0].Address = other.Addr().String() })
	media := false
	rep, err := bench.Run(ctx, bench.Config{Edge: srv.EdgeAddr(), SBCListen: sbc.String(),
		MetricsURL: mediationtest.URL(srv, "/metrics"), CPS: 50, Calls: 6, Media: &media})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Answered != 6 || rep.ClientsAnswered != 6 || rep.SBCAnswered != 0 || rep.SBCMedia.Calls != 0 {
		t.Fatalf("as planned %d, clients answered %d, SBC answered %d (media calls %d); want 6, 6, 0, 0",
			rep.Answered, rep.ClientsAnswered, rep.SBCAnswered, rep.SBCMedia.Calls)
	}
	if !warned(rep.Warnings, "the bench's SBC ("+sbc.String()+") answered none of the 6 calls the clients saw answered", "gateways[].address") {
		t.Errorf("no warning that the SBC was left out in %q", rep.Warnings)
	}
}

// TestRunWarnsMetricsUnread: a --metrics URL where nothing answers leaves
// the daemon's figures out, and the report says so (r25-bench F4).
func TestRunWarnsMetricsUnread(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, sbc := runningDaemon(t, nil)
	url := "http://" + mediationtest.FreeAddr(t).String() + "/metrics" // nothing listens
	media := false
	rep, err := bench.Run(ctx, bench.Config{Edge: srv.EdgeAddr(), SBCListen: sbc.String(), MetricsURL: url, CPS: 50, Calls: 2, Media: &media})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Answered != 2 || rep.Daemon.Read {
		t.Fatalf("as planned %d of 2, daemon read %v", rep.Answered, rep.Daemon.Read)
	}
	for _, when := range []string{"before", "after"} {
		if !warned(rep.Warnings, "the daemon's /metrics "+url+" could not be read "+when+" the run", "no daemon figures") {
			t.Errorf("no warning for the unread /metrics %s the run in %q", when, rep.Warnings)
		}
	}
	// Without --metrics nothing is missing, nor said.
	rep, err = bench.Run(ctx, bench.Config{Edge: srv.EdgeAddr(), SBCListen: sbc.String(), CPS: 50, Calls: 2, Media: &media})
	if err != nil || warned(rep.Warnings, "/metrics") {
		t.Errorf("without a /metrics URL: %v, warnings %q", err, rep.Warnings)
	}
}

// TestRunInterrupted: a run whose context ends midway (as SIGINT ends the
// command's) ends the calls in progress properly and counts them as
// interrupted, not failed; the calls done before are as planned; the
// daemon's figures are still read; and the daemon saw every call end with
// a BYE or CANCEL of ours (r25-bench F2: the endpoints closed under their
// calls, which counted as failures "endpoint closed" and "interrupt signal
// received", and the last /metrics read used the ended context).
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, sbc := runningDaemon(t, nil)
	interrupt := errors.New("interrupt signal received")
	run, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	media := false
	rep, err := bench.Run(run, bench.Config{Edge: srv.EdgeAddr(), SBCListen: sbc.String(),
		MetricsURL: mediationtest.URL(srv, "/metrics"), CPS: 50, Calls: 1000, Duration: 500 * time.Millisecond,
		Mode: bench.ModeMixed, Media: &media,
		Progress: func(p bench.Progress) {
			// Once some calls are done and others in progress.
			if p.Answered >= 5 && p.InFlight >= 5 {
				stop(interrupt)
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want the context's end", err)
	}
	t.Logf("calls %d, as planned %d, failed %d %v, interrupted %d", rep.Calls, rep.Answered, rep.Failed, rep.FailedBy, rep.Interrupted)
	if rep.Calls >= 1000 || rep.Answered < 5 || rep.Interrupted == 0 || rep.Failed != 0 || len(rep.FailedBy) != 0 ||
		rep.Answered+rep.Interrupted != rep.Calls {
		t.Errorf("calls %d: as planned %d, failed %d %v, interrupted %d; want as planned + interrupted = calls, none failed",
			rep.Calls, rep.Answered, rep.Failed, rep.FailedBy, rep.Interrupted)
	}
	if !rep.Daemon.Read || rep.Daemon.SIPMessages == 0 {
		t.Errorf("daemon %+v: want its figures read after the run", rep.Daemon)
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	mediationtest.WaitMetric(t, srv, float64(rep.Calls), "mediationserver_calls_total", "direction", "outbound")
	// The daemon's failed calls are only the CANCELled ones, ringing at the
	// interrupt: none timed out or lost its BYE.
	for _, reason := range []string{"timeout", "503", "overload"} {
		if v, err := mediationtest.Metric(srv, "mediationserver_failed_calls_total", "direction", "outbound", "reason", reason); err == nil && v != 0 {
			t.Errorf("daemon failed %v calls for %s", v, reason)
		}
	}
}

// TestRunIPv6Edge: a daemon whose edge listens on ::1 can be benched: the
// clients send from IPv6 loopback (they sent from 127.0.0.1, and every
// call failed at once with a send error).
func TestRunIPv6Edge(t *testing.T) {
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	_ = probe.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, sbc := runningDaemon(t, func(cfg *mediation.Config) {
		cfg.Edge.Listen, cfg.Edge.Peer = "[::1]:0", "[::1]:5061"
	})
	if !srv.EdgeAddr().Addr().Is6() {
		t.Fatalf("edge on %s, want ::1", srv.EdgeAddr())
	}
	media := false
	rep, err := bench.Run(ctx, bench.Config{Edge: srv.EdgeAddr(), SBCListen: sbc.String(), CPS: 50, Calls: 4, Media: &media})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Answered != 4 || rep.Bypassed != 4 {
		t.Fatalf("as planned %d (bypassed %d) of 4, failed %v", rep.Answered, rep.Bypassed, rep.FailedBy)
	}
}

// TestRunCancelledWhileStarting: a run whose context ends before its first
// call, even while its in-process daemon is starting, returns the context's
// end with a report of no call (its settings, no failure reasons), the
// same partial report a run stopped later has, for the command to print
// (r25-reviewB #5: an empty Report, and the command printed none).
func TestRunCancelledWhileStarting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	media := false
	rep, err := bench.Run(ctx, bench.Config{CPS: 50, Calls: 5, Mode: bench.ModeMixed, Media: &media})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want the context's end", err)
	}
	if rep.Calls != 0 || rep.Mode != bench.ModeMixed || rep.TargetCPS != 50 || rep.Transport != "udp" || rep.FailedBy == nil {
		t.Errorf("report %+v: want no call, of a mixed run at 50 calls/s over udp, failedBy {}", rep)
	}
}
