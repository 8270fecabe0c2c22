// Package bench is a load generator for a mediation server, built on the
// project's simulated endpoints: Skype for Business clients place outbound
// calls at a set rate through the server's edge side to a simulated SBC,
// bypassed, anchored or transcoded in a set mix, and the run is summed up
// as calls per second, failures by reason, setup latency percentiles, media
// loss, relay delay percentiles and the server's CPU, memory and goroutines.
//
// It drives a running daemon (Config.Edge, with its trunk pointed at
// Config.SBCListen) or one it starts in-process on loopback.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
)

// Modes of a run: which media path the calls take.
const (
	ModeBypass   = "bypass"   // every client offers the bypass ID: media bypass
	ModeAnchored = "anchored" // no client offers it: anchored on the relay
	ModeMixed    = "mixed"    // half and half
)

// Config is one run.
type Config struct {
	// Edge is a running daemon's edge side; the zero value starts a daemon
	// in-process on loopback.
	Edge netip.AddrPort
	// SBCListen is where the simulated SBC listens, with a running daemon:
	// its trunk (gateways[0].address) must point there. Default 127.0.0.1:5060.
	SBCListen string
	// MetricsURL is a running daemon's /metrics, read for its CPU, memory
	// and goroutines; "" skips them.
	MetricsURL string
	// BypassID is what bypass clients put in a=x-bypassid; default the
	// default configuration's ID (in-process: the server's).
	BypassID string
	// CPS is the rate calls are started at; default 10.
	CPS float64
	// Calls is how many calls to place; default 100.
	Calls int
	// Concurrent caps the calls in progress; a call due while the cap is
	// reached waits, and the achieved rate drops. 0: no cap.
	Concurrent int
	// Duration is the talk time of each answered call before the client's
	// BYE; default 100 ms.
	Duration time.Duration
	// Mode is ModeBypass, ModeAnchored or ModeMixed; default ModeBypass.
	Mode string
	// TranscodeShare is the share (0-1) of anchored calls whose client
	// offers only PCMU while the SBC answers PCMA: the relay transcodes.
	TranscodeShare float64
	// Transport is "udp" (default) or "tcp", on both sides.
	Transport string
	// SBCProgress is the simulated SBC's provisional response before its
	// 200 (endpoint.SBCConfig.Progress): "183" (default, with SDP, as
	// CCE's SBCs answer), "180" or "none" (the 200 follows the 100).
	SBCProgress string
	// Media false keeps the endpoints silent: signalling only (anchored
	// calls still get relay ports). Default true.
	Media *bool
	// Log receives the endpoints' and the in-process daemon's log.
	Log zerolog.Logger
	// Progress, if set, is called about once a second during the run.
	Progress func(Progress)
	// OnStart, if set, is called right before the first call is placed
	// (everything is up), and OnEnd right after the last one ended, before
	// the run's own summing up: a Go benchmark resets and stops its timer
	// there, so that its figures are the calls' alone.
	OnStart, OnEnd func()
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Elapsed  time.Duration
	Started  int
	Answered int
	Failed   int
	InFlight int
}

// ErrConfig is wrapped by the error of a run whose Config is invalid.
var ErrConfig = errors.New("bench: invalid config")

// withDefaults fills the zero values and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.CPS == 0 {
		c.CPS = 10
	}
	if c.Calls == 0 {
		c.Calls = 100
	}
	if c.Duration == 0 {
		c.Duration = 100 * time.Millisecond
	}
	if c.Mode == "" {
		c.Mode = ModeBypass
	}
	if c.Transport == "" {
		c.Transport = "udp"
	}
	if c.SBCListen == "" {
		c.SBCListen = "127.0.0.1:5060"
	}
	if c.SBCProgress == "" {
		c.SBCProgress = endpoint.ProgressSession
	}
	if c.BypassID == "" {
		c.BypassID = mediation.DefaultConfig().Bypass.BypassID
	}
	if c.Media == nil {
		on := true
		c.Media = &on
	}
	progressErr := endpoint.CheckProgress(c.SBCProgress)
	switch {
	case c.CPS < 0 || c.Calls < 0 || c.Concurrent < 0 || c.Duration < 0:
		return c, fmt.Errorf("%w: cps, calls, concurrent and duration must not be negative", ErrConfig)
	case c.Mode != ModeBypass && c.Mode != ModeAnchored && c.Mode != ModeMixed:
		return c, fmt.Errorf("%w: mode %q: must be bypass, anchored or mixed", ErrConfig, c.Mode)
	case c.TranscodeShare < 0 || c.TranscodeShare > 1:
		return c, fmt.Errorf("%w: transcode share %v: must be between 0 and 1", ErrConfig, c.TranscodeShare)
	case c.Transport != "udp" && c.Transport != "tcp":
		return c, fmt.Errorf("%w: transport %q: must be udp or tcp", ErrConfig, c.Transport)
	case progressErr != nil:
		return c, fmt.Errorf("%w: SBC progress %w", ErrConfig, progressErr)
	}
	return c, nil
}

// kind is the media path a call is meant to take.
type kind int

const (
	kindBypass kind = iota
	kindAnchored
	kindTranscoded
)

// kindOf spreads the calls over the mix evenly (call i of n), so that a
// short run has the shares it asked for.
func (c Config) kindOf(i int) kind {
	if c.Mode == ModeBypass || (c.Mode == ModeMixed && i%2 == 0) {
		return kindBypass
	}
	anchored := i
	if c.Mode == ModeMixed {
		anchored = i / 2
	}
	// The transcoded ones among the anchored: spread by error diffusion.
	if int(float64(anchored+1)*c.TranscodeShare) > int(float64(anchored)*c.TranscodeShare) {
		return kindTranscoded
	}
	return kindAnchored
}

// Run places cfg.Calls calls and reports on them. A call that fails is a
// result, not an error; the error is for a run that could not be set up.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &runner{cfg: cfg}
	if err := r.start(ctx); err != nil {
		r.stop()
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// Stopped while starting (SIGINT): a report of no call, as a
			// run stopped before its first call has, so that the caller
			// prints the same partial report either way (r25-reviewB #5).
			return summarize(cfg, nil, mediaSum{}), err
		}
		return Report{}, err
	}
	defer r.stop()
	return r.run(ctx)
}

// runner is one run: the daemon (in-process or not), the SBC, the clients
// and the results so far.
type runner struct {
	cfg     Config
	edge    netip.AddrPort
	metrics string
	srv     *mediation.Server
	srvDone chan error
	srvStop context.CancelFunc
	sbc     *endpoint.SBC
	clients [3]*endpoint.Client // by kind

	mu      sync.Mutex
	results []result
	sbcSide mediaSum
	// sbcTransports counts the SBC's calls by the transport their INVITE
	// came over: a running daemon reaches its trunk as its configuration
	// says, whatever --transport asks of the endpoints.
	sbcTransports map[string]int
	// delays are the one-way delays of the anchored calls' media: the SBC
	// and the anchored clients stamp their send times in the payload.
	delays   endpoint.DelayHistogram
	started  atomic.Int64
	answered atomic.Int64
	failed   atomic.Int64
	inFlight atomic.Int64
	sbcDone  chan struct{}
	// sbcAnswered counts the SBC's calls it answered (200): each should
	// be one of the calls the clients saw answered.
	sbcAnswered int
}

// result is what one call left for the report.
type result struct {
	kind   kind
	report endpoint.CallReport
	reason string // "" for a call that went as planned
	// interrupted: the run's context ended (SIGINT) before the call did,
	// and cut it short (a CANCEL, or a BYE before its talk time was
	// over): neither as planned nor failed.
	interrupted bool
}

func (r *runner) start(ctx context.Context) error {
	cfg := r.cfg
	listen := cfg.SBCListen
	if !cfg.Edge.IsValid() {
		listen = "127.0.0.1:0"
	}
	// The endpoints outlive the run's context (r.stop closes them): when
	// it ends (SIGINT), the calls in progress are ended properly, CANCEL
	// or BYE, and the SBC answers the daemon's side of them, instead of
	// every endpoint closing under its calls ("endpoint closed").
	life := context.WithoutCancel(ctx)
	sbc, err := endpoint.StartSBC(life, endpoint.SBCConfig{Listen: listen, Ring: time.Microsecond, Progress: cfg.SBCProgress,
		Codecs: []string{endpoint.PCMA, endpoint.PCMU}, Silent: !*cfg.Media, Delays: &r.delays, Log: cfg.Log.With().Str("endpoint", "sbc").Logger()})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	r.sbc = sbc
	r.sbcDone = make(chan struct{})
	go r.drainSBC(life)

	r.edge, r.metrics = cfg.Edge, cfg.MetricsURL
	if !cfg.Edge.IsValid() {
		if err := r.startServer(ctx); err != nil {
			return err
		}
	}
	for k, cc := range map[kind]endpoint.ClientConfig{
		kindBypass: {BypassID: cfg.BypassID},
		// G.711 only: the delay stamps survive a law conversion, not
		// G.722 (a server with G722 first in media.edge_codecs would
		// answer the full SfB offer G.722, and measure no delay).
		kindAnchored:   {Codecs: []string{endpoint.PCMU, endpoint.PCMA}},
		kindTranscoded: {Codecs: []string{endpoint.PCMU}},
	} {
		cc.Listen, cc.Silent = clientListen(cfg.Edge), !*cfg.Media
		if k != kindBypass {
			// Bypassed media goes client <-> SBC directly, not through the
			// relay: only the anchored clients' stamps (and the SBC's
			// towards them) measure it.
			cc.Delays = &r.delays
		}
		cc.Log = cfg.Log.With().Str("endpoint", "client").Logger()
		c, err := endpoint.StartClient(life, cc)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		r.clients[k] = c
	}
	return nil
}

// clientListen is where the clients bind: on IPv6 loopback for a daemon
// whose edge is IPv6 (a socket of one family cannot send to the other),
// else IPv4 loopback.
func clientListen(edge netip.AddrPort) string {
	if a := edge.Addr(); a.Is6() && !a.Is4In6() {
		return "[::1]:0"
	}
	return "127.0.0.1:0"
}

// startServer runs a daemon in-process on loopback, its trunk pointed at
// the SBC, with no call cap and no records.
func (r *runner) startServer(ctx context.Context) error {
	c := mediation.DefaultConfig()
	c.Edge.Listen, c.GatewayListen, c.HTTPListen, c.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.Gateways[0].Address, c.Gateways[0].Transport = r.sbc.Addr().String(), r.cfg.Transport
	c.Edge.PeerTransport = r.cfg.Transport
	c.MaxCalls = 0
	c.Bypass.BypassID = r.cfg.BypassID
	srv, err := mediation.NewServer(c, r.cfg.Log.With().Str("component", "server").Logger())
	if err != nil {
		return fmt.Errorf("bench: in-process server: %w", err)
	}
	srvCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.srv, r.srvDone, r.srvStop = srv, make(chan error, 1), stop
	go func() { r.srvDone <- srv.Run(srvCtx) }()
	select {
	case <-srv.Ready():
	case err := <-r.srvDone:
		r.srvDone <- err
		return fmt.Errorf("bench: in-process server: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	r.edge = srv.EdgeAddr()
	r.metrics = fmt.Sprintf("http://%s/metrics", srv.HTTPAddr())
	return nil
}

// drainSBC takes the SBC's reports as they come (it keeps them until
// read) and sums their media.
func (r *runner) drainSBC(ctx context.Context) {
	defer close(r.sbcDone)
	for {
		rep, err := r.sbc.NextCall(ctx)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.sbcSide.add(rep)
		if rep.Code == 200 {
			r.sbcAnswered++
		}
		if r.sbcTransports == nil {
			r.sbcTransports = map[string]int{}
		}
		r.sbcTransports[strings.ToLower(rep.Transport)]++
		r.mu.Unlock()
	}
}

func (r *runner) stop() {
	for _, c := range r.clients {
		if c != nil {
			_ = c.Close()
		}
	}
	if r.srv != nil {
		r.srvStop()
		<-r.srvDone
	}
	if r.sbc != nil {
		_ = r.sbc.Close()
		<-r.sbcDone
	}
}

// run places the calls on schedule and waits for the last one.
func (r *runner) run(ctx context.Context) (Report, error) {
	cfg := r.cfg
	before := r.sample(ctx)
	if cfg.OnStart != nil {
		cfg.OnStart()
	}
	usageBefore := processCPU()
	begin := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.CPS)
	var slots chan struct{}
	if cfg.Concurrent > 0 {
		slots = make(chan struct{}, cfg.Concurrent)
	}
	progressDone := r.progress(ctx, begin)
	var wg sync.WaitGroup
	var lagMax time.Duration
	// callers are the goroutines placing calls, waiting for the next one
	// when idle; unbuffered, so a call is handed over only to one waiting.
	callers := make(chan kind)
	for i := range cfg.Calls {
		due := begin.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		} else if -d > lagMax {
			lagMax = -d
		}
		if ctx.Err() != nil {
			break
		}
		if slots != nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
		}
		r.started.Add(1)
		r.inFlight.Add(1)
		k := cfg.kindOf(i)
		place := func(k kind) {
			defer func() {
				r.inFlight.Add(-1)
				if slots != nil {
					<-slots
				}
			}()
			r.call(ctx, k)
		}
		// An idle caller takes the call, else a new one: a goroutine per
		// call grew a fresh stack for every call (runtime.newstack, 3 % of
		// the generator's CPU in its profile at 2,000 calls/s).
		select {
		case callers <- k:
		default:
			wg.Go(func() {
				place(k)
				for k := range callers {
					place(k)
				}
			})
		}
	}
	close(callers)
	launch := time.Since(begin)
	wg.Wait()
	elapsed := time.Since(begin)
	if cfg.OnEnd != nil {
		cfg.OnEnd()
	}
	close(progressDone)
	usage := processCPU() - usageBefore
	// The SBC's reports of the last calls may still be on their way; the
	// wait and the last look at /metrics have deadlines of their own, not
	// the run's context, which a SIGINT has ended: the partial run's
	// figures are still read.
	r.awaitSBC(r.clientsAnswered())
	after := r.sample(context.WithoutCancel(ctx))

	r.mu.Lock()
	defer r.mu.Unlock()
	rep := summarize(cfg, r.results, r.sbcSide)
	rep.SBCAnswered = r.sbcAnswered
	rep.RelayDelayMs, rep.RelayDelayPackets = delayFigures(&r.delays)
	rep.ElapsedS = elapsed.Seconds()
	rep.LaunchS = launch.Seconds()
	if launch > 0 && rep.Calls > 1 {
		rep.CPS = float64(rep.Calls-1) / launch.Seconds()
	}
	rep.ScheduleLagMaxMs = ms(lagMax)
	rep.Generator = generatorFigures(usage, elapsed, r.srv != nil)
	rep.Daemon = daemonFigures(before, after, elapsed, rep.Calls)
	rep.Warnings = warnings(cfg, rep, lagMax, r.sbcTransports)
	rep.Warnings = append(rep.Warnings, metricsWarnings(r.metrics, before, after)...)
	return rep, ctx.Err()
}

// sample reads the daemon's /metrics, if there is one.
func (r *runner) sample(ctx context.Context) sampleRead {
	s, err := scrape(ctx, r.metrics)
	return sampleRead{sample: s, ok: r.metrics != "" && err == nil, err: err}
}

// clientsAnswered counts the calls the clients got a 200 for, as planned
// or not.
func (r *runner) clientsAnswered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, res := range r.results {
		if res.report.Code == 200 {
			n++
		}
	}
	return n
}

// call places one call and records what came of it.
func (r *runner) call(ctx context.Context, k kind) {
	opt := endpoint.CallOptions{Target: r.edge, Transport: r.cfg.Transport, Duration: r.cfg.Duration}
	rep, err := r.clients[k].Call(ctx, opt)
	res := classify(ctx, k, rep, err)
	switch {
	case res.interrupted:
	case res.reason == "":
		r.answered.Add(1)
	default:
		r.failed.Add(1)
	}
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
}

// classify says what came of a call of kind k: as planned, failed (by
// reason) or interrupted. A call the run's end (ctx) cut short is
// interrupted, unless what it did before the cut already makes it a
// failure: answered on the wrong media path, or not transcoded (r25-reviewB
// #2: a cut call answered in PCMA counted as interrupted). So the reason is
// worked out first, and the cut only takes the place of the error it
// caused, or of the final response it caused (a 487). The codec is judged
// only of a call whose answer was taken (codecJudged): a 200 that crossed
// our CANCEL is ACKed and hung up without starting media, so its report
// has Code 200 and no codec (r25-reviewC F2: such a transcoded call, cut
// while ringing with --sbc-progress 180 or none, counted as "not
// transcoded").
func classify(ctx context.Context, k kind, rep endpoint.CallReport, err error) result {
	res := result{kind: k, report: rep}
	cut := err != nil && ctx.Err() != nil && interruption(ctx, err)
	switch {
	case err != nil && !cut:
		res.reason = "error: " + errorClass(err)
	case rep.Code == 200 && rep.BypassAnswered != (k == kindBypass):
		res.reason = "wrong media path"
	case rep.Code == 200 && k == kindTranscoded && codecJudged(rep, cut) && rep.Codec != endpoint.PCMU:
		res.reason = "not transcoded"
	case cut:
		res.interrupted = true
	case rep.Code != 200:
		res.reason = fmt.Sprintf("%d", rep.Code)
	}
	return res
}

// codecJudged reports whether a call's codec tells how it was answered:
// not when it ended by CANCEL (a 200 that crossed it is hung up, its SDP
// never used; any codec is the early media's), nor when the run's end cut
// it before media started on the answer (the ACK failed as the run ended).
func codecJudged(rep endpoint.CallReport, cut bool) bool {
	return rep.EndedBy != endpoint.EndedCancel && (!cut || rep.Codec != "")
}

// interruption tells whether a call's error is the run's context ending:
// its cause (signal.NotifyContext's "interrupt signal received"), or a
// cancellation.
func interruption(ctx context.Context, err error) bool {
	return errors.Is(err, context.Cause(ctx)) || errors.Is(err, context.Canceled) || errors.Is(err, endpoint.ErrClosed)
}

// awaitSBC waits, briefly, until the SBC answered n calls.
func (r *runner) awaitSBC(n int) {
	deadline := time.Now().Add(2*r.cfg.Duration + 2*time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := r.sbcAnswered
		r.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// progress calls cfg.Progress once a second until done is closed.
func (r *runner) progress(ctx context.Context, begin time.Time) chan struct{} {
	done := make(chan struct{})
	if r.cfg.Progress == nil {
		return done
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				r.cfg.Progress(Progress{Elapsed: time.Since(begin), Started: int(r.started.Load()),
					Answered: int(r.answered.Load()), Failed: int(r.failed.Load()), InFlight: int(r.inFlight.Load())})
			}
		}
	}()
	return done
}

// errorClass names a failed call's error without its call-specific text
// (the endpoints' errors start "call <Call-ID>: "), so that calls that
// failed alike count under one reason.
func errorClass(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "call "); ok {
		if _, after, found := strings.Cut(rest, ": "); found {
			msg = after
		}
	}
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return msg
}

// numCPU is the machine's cores, for utilisation figures.
var numCPU = runtime.NumCPU()
