package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"syscall"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/bench"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
)

const benchUsage = `Usage: mediation bench [flags]

Loads a mediation server with outbound calls from simulated Skype for
Business clients to a simulated SBC: --calls calls started at --cps per
second (at most --concurrent at once), each talking --duration, bypassed,
anchored or a mix (--mode), with --transcode-share of the anchored ones
transcoded (PCMU client, PCMA SBC). It prints calls per second achieved,
failed calls by reason, INVITE -> final response latency percentiles, the
media loss each end saw, and the daemon's CPU, memory and goroutines from its
/metrics. The exit status is 0 only when every call went as planned; 1 when
one did not, when the bench's SBC answered none of the calls the clients saw
answered (the daemon's trunk points elsewhere), or when SIGINT or SIGTERM
stopped the run (the calls in progress are ended, counted as interrupted, and
the partial report printed; a second signal ends it at once); 2 for a usage
error.

Without --edge it starts a daemon in-process on loopback (the figures are
then the generator's and the daemon's together). With --edge it drives a
running daemon whose trunk points at --sbc-listen, e.g.

  mediation serve --gateway 127.0.0.1:5060 --log-level warn &
  mediation bench --edge 127.0.0.1:5070 --sbc-listen 127.0.0.1:5060 \
    --metrics http://127.0.0.1:8080/metrics --cps 500 --calls 15000
`

// benchCmd runs `mediation bench`.
func benchCmd(args []string) int {
	def := mediation.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	edge := fs.String("edge", "", "a running daemon's edge side, `IP:PORT`; empty starts one in-process")
	sbcListen := fs.String("sbc-listen", "127.0.0.1:5060", "where the simulated SBC listens with --edge: the daemon's trunk address, `IP:PORT`")
	metricsURL := fs.String("metrics", "", "a running daemon's /metrics `URL`, for its CPU, memory and goroutines")
	bypassID := fs.String("bypass-id", def.Bypass.BypassID, "the bypass `GUID` bypass clients offer (the daemon's)")
	cps := fs.Float64("cps", 50, "`N` calls started per second")
	calls := fs.Int("calls", 500, "`N` calls to place")
	concurrent := fs.Int("concurrent", 0, "at most `N` calls in progress (0: no cap)")
	duration := fs.Duration("duration", 100*time.Millisecond, "talk time of each call before the client's BYE")
	mode := fs.String("mode", bench.ModeBypass, "media path of the calls: `bypass|anchored|mixed`")
	transcode := fs.Float64("transcode-share", 0, "`share` (0-1) of the anchored calls that are transcoded")
	transport := fs.String("transport", "udp", "SIP transport on both sides, `udp|tcp`")
	sbcProgress := fs.String("sbc-progress", endpoint.ProgressSession, "the simulated SBC's provisional response before its 200: `183|180|none` (183 with SDP, as CCE's SBCs answer; none: the 200 follows the 100)")
	media := fs.Bool("media", true, "play RTP in both directions; false: signalling only")
	jsonOut := fs.Bool("json", false, "print the report as one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's CPU profile (go tool pprof) to `FILE`: where its own time goes when it warns that it is the bottleneck")
	gcPercent := fs.Int("gc-percent", def.Runtime.GCPercent, "Go's GOGC for this process, as serve's runtime.gc_percent (the GOGC variable wins): the generator allocates per call as the daemon does")
	logLevel := fs.String("log-level", "disabled", "zerolog `level` of the endpoints' and the in-process daemon's log on stderr (under load sipgo logs every retransmission)")
	if done, code := parseCommand(fs, args, benchUsage); done {
		return code
	}
	cfg := bench.Config{SBCListen: *sbcListen, MetricsURL: *metricsURL, BypassID: *bypassID, CPS: *cps,
		Calls: *calls, Concurrent: *concurrent, Duration: *duration, Mode: *mode, TranscodeShare: *transcode,
		Transport: *transport, SBCProgress: *sbcProgress, Media: media}
	if *edge != "" {
		ap, err := netip.ParseAddrPort(*edge)
		if err != nil {
			fail(fmt.Errorf("bench: --edge %q: %w", *edge, err))
			return exitUsage
		}
		cfg.Edge = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if *cps <= 0 || *calls <= 0 {
		fail(fmt.Errorf("bench: --cps and --calls must be above 0"))
		return exitUsage
	}
	gc := mediation.RuntimeConfig{GCPercent: *gcPercent}
	if err := gc.Validate(); err != nil {
		// The reason alone: the user typed a flag, not runtime.gc_percent.
		var ce *mediation.ConfigError
		if errors.As(err, &ce) {
			err = errors.New(ce.Reason)
		}
		fail(fmt.Errorf("bench: --gc-percent %s", err))
		return exitUsage
	}
	gcApplied := gc.Apply()
	// labLogger also takes sipgo's process-wide logger off stderr.
	log, err := labLogger(*logLevel)
	if err != nil {
		fail(fmt.Errorf("bench: %w", err))
		return exitUsage
	}
	cfg.Log = log
	if isTerminal(os.Stderr) && !*jsonOut {
		cfg.Progress = func(p bench.Progress) {
			fmt.Fprintf(os.Stderr, "\r%5.0fs  started %d  answered %d  failed %d  in progress %d   ",
				p.Elapsed.Seconds(), p.Started, p.Answered, p.Failed, p.InFlight)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(fmt.Errorf("bench: --cpuprofile: %w", err))
			return exitUsage
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(fmt.Errorf("bench: --cpuprofile: %w", err))
			return exitFailure
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal ends the run (the calls in progress are ended,
	// which takes a few seconds); with the handler gone, a second one
	// ends the process at once.
	defer context.AfterFunc(ctx, stop)()
	rep, err := bench.Run(ctx, cfg)
	rep.Generator.GC = gcApplied
	if cfg.Progress != nil {
		fmt.Fprintln(os.Stderr)
	}
	// A run that could not be set up has no report; one stopped by the
	// signal has one, partial, even with no call placed yet (r25-reviewB
	// #5: none was printed then, while README promised it).
	interrupted := ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err()))
	switch {
	case interrupted:
		// Said apart from the report, so that a CI log shows why it is
		// partial (and the exit status 1).
		fail(fmt.Errorf("bench: interrupted: %d of %d calls placed", rep.Calls, *calls))
	case err != nil && rep.Calls == 0:
		fail(err)
		if errors.Is(err, bench.ErrConfig) {
			return exitUsage
		}
		return exitFailure
	}
	if *jsonOut {
		if err := jsonLine(os.Stdout, rep); err != nil {
			fail(err)
			return exitFailure
		}
	} else {
		printBench(os.Stdout, rep)
	}
	// A run whose SBC answered none of the calls measured half of what it
	// says (no SBC media, no relay delay): not a pass, whatever the
	// clients saw (r25-bench F1).
	if rep.Failed > 0 || rep.Answered == 0 || rep.Interrupted > 0 || ctx.Err() != nil ||
		rep.ClientsAnswered > 0 && rep.SBCAnswered == 0 {
		return exitFailure
	}
	return exitOK
}

// printBench writes the report for a person.
func printBench(w io.Writer, r bench.Report) {
	fmt.Fprintf(w, "mode %s, %s, media %v, SBC progress %s, target %.0f calls/s, talk %.0f ms\n", r.Mode, r.Transport, r.Media, r.SBCProgress, r.TargetCPS, r.DurationMs)
	interrupted := ""
	if r.Interrupted > 0 {
		interrupted = fmt.Sprintf(", %d interrupted", r.Interrupted)
	}
	fmt.Fprintf(w, "calls      %d started, %d as planned (%d bypassed, %d anchored, %d transcoded), %d failed%s\n",
		r.Calls, r.Answered, r.Bypassed, r.Anchored, r.Transcoded, r.Failed, interrupted)
	reasons := make([]string, 0, len(r.FailedBy))
	for k := range r.FailedBy {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		fmt.Fprintf(w, "           %6d %s\n", r.FailedBy[k], k)
	}
	fmt.Fprintf(w, "rate       %.1f calls/s achieved (%.1f s to start them, %.1f s in all; worst start %.0f ms late)\n",
		r.CPS, r.LaunchS, r.ElapsedS, r.ScheduleLagMaxMs)
	fmt.Fprintf(w, "setup      INVITE -> final response p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		r.SetupMs.P50, r.SetupMs.P90, r.SetupMs.P99, r.SetupMs.Max)
	if r.Media {
		fmt.Fprintf(w, "media      clients received %d of %d packets (loss %.3f %%), SBC %d of %d (loss %.3f %%)\n",
			r.ClientMedia.Received, r.ClientMedia.Expected, 100*r.ClientMedia.LossRatio,
			r.SBCMedia.Received, r.SBCMedia.Expected, 100*r.SBCMedia.LossRatio)
		if r.RelayDelayPackets > 0 {
			fmt.Fprintf(w, "relay      one-way delay of %d anchored packets p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
				r.RelayDelayPackets, r.RelayDelayMs.P50, r.RelayDelayMs.P90, r.RelayDelayMs.P99, r.RelayDelayMs.Max)
		}
		if d := r.Daemon; d.RelayDelayPackets > 0 {
			fmt.Fprintf(w, "           the daemon's relay itself over the run (%d packets relayed, its histogram's buckets): p50 %s, p90 %s, p99 %s\n",
				d.RelayDelayPackets, bucketBound(d.RelayDelayMs.P50), bucketBound(d.RelayDelayMs.P90), bucketBound(d.RelayDelayMs.P99))
		}
	}
	switch {
	case r.Generator.InProcess:
		fmt.Fprintf(w, "process    daemon and generator: %.2f cores (%.1f s CPU), RSS %.1f MiB, %.0f goroutines at the end, %.2f SIP messages per call; %s\n",
			r.Generator.CoresUsed, r.Generator.CPUSeconds, r.Daemon.RSSBytes/(1<<20), r.Daemon.Goroutines, r.Daemon.SIPMessagesPerCall, r.Generator.GC)
	case r.Daemon.Read:
		fmt.Fprintf(w, "daemon     %.2f cores (%.1f s CPU), RSS %.1f MiB, %.0f goroutines at the end, %.2f SIP messages per call (%.0f OPTIONS left out)\n",
			r.Daemon.CoresUsed, r.Daemon.CPUSeconds, r.Daemon.RSSBytes/(1<<20), r.Daemon.Goroutines, r.Daemon.SIPMessagesPerCall, r.Daemon.SIPOptions)
		fallthrough
	default:
		fmt.Fprintf(w, "generator  %.2f cores (%.1f s CPU); %s\n", r.Generator.CoresUsed, r.Generator.CPUSeconds, r.Generator.GC)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// bucketBound shows a percentile read off a histogram: at most its
// bucket's upper bound, or past the last one (-1).
func bucketBound(ms float64) string {
	if ms < 0 {
		return "past its last bucket"
	}
	return fmt.Sprintf("<= %g ms", ms)
}
