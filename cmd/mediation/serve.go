package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/logstream"
	"github.com/mediation-emulator/mediation/sip"
)

// serveFlag is one serve flag and the config field it overrides.
type serveFlag struct {
	name  string
	usage string
	// isBool makes it a boolean flag, so --bypass alone means true.
	isBool bool
	// isNumber shows its help default unquoted, as a number: the flag
	// package quotes the defaults of its own string flags only.
	isNumber bool
	get      func(c *mediation.Config) string
	set      func(c *mediation.Config, v string)
	// check, when set, refuses a value set cannot take as it is (a
	// number that is none): the error names the flag and the value.
	check func(v string) error
}

// serveFlags override the config only when given on the command line; their
// help defaults are the embedded config's values.
var serveFlags = []serveFlag{
	{name: "edge-listen", usage: "`IP:PORT` the edge side listens on, UDP and TCP (edge.listen)",
		get: func(c *mediation.Config) string { return c.Edge.Listen },
		set: func(c *mediation.Config, v string) { c.Edge.Listen = v }},
	{name: "edge-peer", usage: "`HOST:PORT` of the Online edge next hop (edge.peer)",
		get: func(c *mediation.Config) string { return c.Edge.Peer },
		set: func(c *mediation.Config, v string) { c.Edge.Peer = v }},
	{name: "edge-transport", usage: "`udp|tcp|tls` towards the edge peer; tls needs the tls section (edge.peer_transport)",
		get: func(c *mediation.Config) string { return c.Edge.PeerTransport },
		set: func(c *mediation.Config, v string) { c.Edge.PeerTransport = v }},
	{name: "gateway-listen", usage: "`IP:PORT` the gateway side listens on, UDP and TCP (gateway_listen)",
		get: func(c *mediation.Config) string { return c.GatewayListen },
		set: func(c *mediation.Config, v string) { c.GatewayListen = v }},
	{name: "gateway", usage: "`HOST:PORT` of the first SBC (gateways[0].address)",
		get: func(c *mediation.Config) string { return firstGateway(c).Address },
		set: func(c *mediation.Config, v string) { firstGateway(c).Address = v }},
	{name: "gateway-transport", usage: "`udp|tcp|tls` towards the first SBC; tls needs the tls section (gateways[0].transport)",
		get: func(c *mediation.Config) string { return firstGateway(c).Transport },
		set: func(c *mediation.Config, v string) { firstGateway(c).Transport = v }},
	{name: "http-listen", usage: "`IP:PORT` of the bypass web service, /metrics, /healthz and /readyz (http_listen)",
		get: func(c *mediation.Config) string { return c.HTTPListen },
		set: func(c *mediation.Config, v string) { c.HTTPListen = v }},
	{name: "web-service-url", usage: "HybridConfigServiceInternalUrl `URL` advertised; empty: this server's own web service on http_listen as bound (bypass.web_service_url)",
		get: func(c *mediation.Config) string { return c.Bypass.WebServiceURL },
		set: func(c *mediation.Config, v string) { c.Bypass.WebServiceURL = v }},
	{name: "admin-listen", usage: "`IP:PORT` of the admin API: settings, calls, trunks, pprof (admin.listen)",
		get: func(c *mediation.Config) string { return c.Admin.Listen },
		set: func(c *mediation.Config, v string) { c.Admin.Listen = v }},
	{name: "state", usage: "state `FILE` keeping settings changed at run time across restarts (state.path)",
		get: func(c *mediation.Config) string { return c.State.Path },
		set: func(c *mediation.Config, v string) { c.State.Path = v }},
	{name: "reset-state", isBool: true, usage: "start from the config's settings if the state file is unusable (moved aside)",
		get: func(c *mediation.Config) string { return strconv.FormatBool(c.State.Reset) },
		set: func(c *mediation.Config, v string) { c.State.Reset = v == "true" }},
	{name: "bypass", isBool: true, usage: "enable media bypass (bypass.enabled)",
		get: func(c *mediation.Config) string { return strconv.FormatBool(c.Bypass.Enabled) },
		set: func(c *mediation.Config, v string) { c.Bypass.Enabled = v == "true" }},
	{name: "bypass-id", usage: "bypass `GUID` handed to clients and matched in a=x-bypassid (bypass.bypass_id)",
		get: func(c *mediation.Config) string { return c.Bypass.BypassID },
		set: func(c *mediation.Config, v string) { c.Bypass.BypassID = v }},
	{name: "media-ip", usage: "`IP` advertised in SDP and bound for anchored RTP (media.ip)",
		get: func(c *mediation.Config) string { return c.Media.IP },
		set: func(c *mediation.Config, v string) { c.Media.IP = v }},
	{name: "media-ports", usage: "`LOW-HIGH` port range for anchored RTP and RTCP (media.ports)",
		get: func(c *mediation.Config) string { return c.Media.Ports },
		set: func(c *mediation.Config, v string) { c.Media.Ports = v }},
	{name: "log-level", usage: "zerolog `level`: trace, debug, info, warn, error (log.level)",
		get: func(c *mediation.Config) string { return c.Log.Level },
		set: func(c *mediation.Config, v string) { c.Log.Level = v }},
	{name: "log-format", usage: "`json|console`; default console on a terminal, json otherwise (log.format)",
		get: func(c *mediation.Config) string { return c.Log.Format },
		set: func(c *mediation.Config, v string) { c.Log.Format = v }},
}

// numberValue is a numeric serve flag's value, kept as typed: applyFlags
// checks it and names the flag when it is no number in range.
type numberValue string

func (v *numberValue) String() string     { return string(*v) }
func (v *numberValue) Set(s string) error { *v = numberValue(s); return nil }

// firstGateway returns gateways[0], creating it when a config file emptied
// the list, so --gateway alone is enough to name a trunk.
func firstGateway(c *mediation.Config) *mediation.GatewayConfig {
	if len(c.Gateways) == 0 {
		c.Gateways = append(c.Gateways, mediation.GatewayConfig{Transport: "udp"})
	}
	return &c.Gateways[0]
}

// newServeFlagSet defines the serve flags with def's values as their help
// defaults. Errors are returned, not printed, so serve controls the output.
func newServeFlagSet(def *mediation.Config) (fs *flag.FlagSet, configPath *string, validate *bool) {
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath = fs.String("config", "", "YAML `FILE` overlaid on the built-in default configuration")
	validate = fs.Bool("validate", false, "check the configuration (config file, flags, the files they name) and exit: \"config ok\" and 0, or the error and 2; binds nothing")
	for _, f := range serveFlags {
		switch {
		case f.isBool:
			fs.Bool(f.name, f.get(def) == "true", f.usage)
		case f.isNumber:
			v := numberValue(f.get(def))
			fs.Var(&v, f.name, f.usage)
		default:
			fs.String(f.name, f.get(def), f.usage)
		}
	}
	return fs, configPath, validate
}

// applyFlags copies the flags given on the command line into cfg; flags left
// out keep the value from the config file (Visit skips unset flags). A
// value a flag's check refuses is an error naming the flag.
func applyFlags(fs *flag.FlagSet, cfg *mediation.Config) error {
	byName := make(map[string]serveFlag, len(serveFlags))
	for _, f := range serveFlags {
		byName[f.name] = f
	}
	var err error
	fs.Visit(func(fl *flag.Flag) {
		f, ok := byName[fl.Name]
		if !ok || err != nil {
			return
		}
		v := fl.Value.String()
		if f.check != nil {
			if cerr := f.check(v); cerr != nil {
				err = fmt.Errorf("--%s %q: %w", f.name, v, cerr)
				return
			}
		}
		f.set(cfg, v)
	})
	return err
}

// serveConfig builds the configuration: the default or --config file, then the
// flags, then Validate, so every problem is found before anything binds.
func serveConfig(fs *flag.FlagSet, configPath string) (*mediation.Config, error) {
	cfg := mediation.DefaultConfig()
	if configPath != "" {
		var err error
		if cfg, err = mediation.LoadConfig(configPath); err != nil {
			return nil, err
		}
	}
	if err := applyFlags(fs, cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func serveUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, "Usage: mediation serve [flags]\n\n"+
		"Runs the mediation server until SIGINT or SIGTERM; SIGHUP reopens records.path\n"+
		"and a rotated capture.pcap (logrotate) and re-reads the TLS files (tls.cert,\n"+
		"tls.key, tls.ca: a renewed certificate), and does not re-read the configuration\n"+
		"otherwise: a change takes a restart (which ends calls in progress). The configuration is the\n"+
		"built-in default, or --config FILE over it; flags given override both.\n\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// reopenOnHUP reopens the server's files on each signal from hup until
// done. One that comes before the server is up has nothing to reopen: its
// files are being opened.
func reopenOnHUP(hup <-chan os.Signal, srv *mediation.Server, log zerolog.Logger, done <-chan struct{}) {
	for {
		select {
		case <-hup:
			select {
			case <-srv.Ready():
				srv.Reopen()
			default:
				log.Info().Str("config", mediation.ConfigNotReread).Msg("SIGHUP while starting: nothing to reopen yet")
			}
		case <-done:
			return
		}
	}
}

// serve runs the daemon: exit 2 for a bad flag or config, 1 if the server
// fails, 0 after a clean shutdown on a signal.
func serve(args []string) int {
	// SIGHUP (logrotate's postrotate, a certificate renewal's hook)
	// reopens the files the server appends to and re-reads the TLS
	// files; it never ends the process, not even while it starts.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fs, configPath, validate := newServeFlagSet(mediation.DefaultConfig())
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			serveUsage(os.Stdout, fs)
			return exitOK
		}
		fail(fmt.Errorf("serve: %w", err))
		return exitUsage
	}
	if fs.NArg() > 0 {
		fail(fmt.Errorf("serve: unexpected argument %q", fs.Arg(0)))
		return exitUsage
	}
	cfg, err := serveConfig(fs, *configPath)
	if err != nil {
		fail(err)
		return exitUsage
	}
	if *validate {
		if err := cfg.CheckFiles(); err != nil {
			fail(err)
			return exitUsage
		}
		// A URL that misses http_listen is legitimate behind a proxy
		// or NAT: said, not refused.
		if w := cfg.WebServiceURLWarning(); w != "" {
			fmt.Fprintln(os.Stderr, "mediation: warning: "+w)
		}
		if w := cfg.TLSCertWarning(); w != "" {
			fmt.Fprintln(os.Stderr, "mediation: warning: "+w)
		}
		// A trunk that can never own an inbound call may still route
		// outbound numbers: said, not refused.
		for _, w := range cfg.TrunkAddressWarnings() {
			fmt.Fprintln(os.Stderr, "mediation: warning: "+w)
		}
		for _, w := range cfg.TLSListenerWarnings() {
			fmt.Fprintln(os.Stderr, "mediation: warning: "+w)
		}
		fmt.Println("config ok")
		return exitOK
	}
	// A file the server cannot write stops it before anything binds,
	// with the one line --validate prints.
	if err := cfg.CheckWritable(); err != nil {
		fail(err)
		return exitUsage
	}
	// The live log on the admin API carries the SIP trace (debug) even
	// when the console is at info: see newLogger.
	stream := logstream.New(logstream.Options{})
	log := newLogger(os.Stderr, cfg.Log, stream)
	sip.SetDefaultLogger(log)
	srv, err := mediation.NewServer(cfg, log)
	if err != nil {
		var ce *mediation.ConfigError
		var se *mediation.StateError
		if errors.As(err, &ce) || errors.As(err, &se) {
			fail(err)
			return exitUsage
		}
		log.Error().Err(err).Msg("cannot create the mediation server")
		return exitFailure
	}
	srv.SetLogStream(stream)
	gc := cfg.Runtime.Apply()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan struct{})
	defer close(done)
	// A second signal during the shutdown kills it, as the default
	// handler would (the escape from a drain that hangs), but says first
	// what that loses: the records of the calls still being ended
	// (r24-ops F6).
	context.AfterFunc(ctx, func() {
		second := make(chan os.Signal, 1)
		signal.Notify(second, os.Interrupt, syscall.SIGTERM)
		stop()
		go func() {
			select {
			case sig := <-second:
				log.Error().Str("signal", sig.String()).Int("calls_not_recorded", srv.ActiveCalls()).
					Msg("second signal during the shutdown: exiting at once; calls still being ended are not recorded, records held in memory are lost")
				signal.Reset(os.Interrupt, syscall.SIGTERM)
				if s, ok := sig.(syscall.Signal); ok {
					_ = syscall.Kill(os.Getpid(), s)
				}
				// The default handler ends the process from another
				// thread; should it not, exit all the same.
				time.Sleep(time.Second)
				os.Exit(exitFailure)
			case <-done:
			}
		}()
	})

	// The start is logged once every listener is bound: a port already in
	// use is one plain line on stderr, like a configuration error.
	go func() {
		select {
		case <-srv.Ready():
			log.Info().Str("version", versionString()).Str("gc", gc).Msg("mediation server started")
		case <-done:
		}
	}()
	go reopenOnHUP(hup, srv, log, done)
	if err := srv.Run(ctx); err != nil {
		var le *mediation.ListenError
		if errors.As(err, &le) {
			fail(err)
			return exitUsage
		}
		log.Error().Err(err).Msg("mediation server failed")
		return exitFailure
	}
	return exitOK
}
