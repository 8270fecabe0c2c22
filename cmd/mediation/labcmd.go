package main

// This file holds what the lab commands (client, sbc, demo) share: flag
// parsing with one-line errors, value checks, the logger, the signal
// context and the loop that reports answered calls.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/sip"
)

// parseCommand parses args into fs. done is true when the command must stop
// at once with code: help was asked for (0) or the flags are wrong (2).
func parseCommand(fs *flag.FlagSet, args []string, usage string) (done bool, code int) {
	return parseCommandTo(fs, args, usage, os.Stdout, os.Stderr)
}

// parseCommandTo is parseCommand writing the help to stdout and the error
// line to stderr, for a command that takes its writers (counters).
func parseCommandTo(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (done bool, code int) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage+"\nFlags:\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
			return true, exitOK
		}
		failTo(stderr, fmt.Errorf("%s: %w", fs.Name(), err))
		return true, exitUsage
	}
	if fs.NArg() > 0 {
		failTo(stderr, fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0)))
		return true, exitUsage
	}
	return false, exitOK
}

// given reports whether the flag was set on the command line.
func given(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// usageError is a bad flag value: the command prints it and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitFor maps an error of a lab command to its exit code, printing it.
func exitFor(cmd string, err error) int {
	fail(fmt.Errorf("%s: %w", cmd, err))
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

// listenError says in one clause that a lab endpoint could not bind
// flag's address: the SIP stack's and the net package's wrappings would
// each name the endpoint and the address again.
func listenError(flag string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "listen" && op.Addr != nil {
		return fmt.Errorf("%s %s: cannot listen (%s): %v", flag, op.Addr, op.Net, op.Err)
	}
	return err
}

func checkExpect(v string) error {
	switch v {
	case expectAny, expectBypass, expectAnchored:
		return nil
	}
	return usagef("--expect %q: want bypass, anchored or any", v)
}

func checkTransport(v string) (string, error) {
	switch t := strings.ToLower(v); t {
	case "udp", "tcp":
		return t, nil
	}
	return "", usagef("--transport %q: want udp or tcp", v)
}

// addrFlag parses a literal IP:PORT; names are refused so that what the
// endpoint binds and advertises is exactly what the user typed.
func addrFlag(name, v string, portRequired bool) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(v)
	if err != nil || ap.Addr().IsUnspecified() || (portRequired && ap.Port() == 0) {
		return netip.AddrPort{}, usagef("--%s %q: want a literal IP:PORT such as 127.0.0.1:5070", name, v)
	}
	return ap, nil
}

// httpURLFlag refuses a flag's URL of a server (--admin, --url) that is
// not an http(s) URL with a host, as a usage error: 127.0.0.1:8081 without
// a scheme would reach Go's URL parser and come back as a puzzling "first
// path segment in URL cannot contain colon", after the command had run.
func httpURLFlag(name, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--%s %q: want http(s)://HOST:PORT", name, v)
	}
	return nil
}

func ipFlag(name, v string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(v)
	if err != nil || ip.IsUnspecified() {
		return netip.Addr{}, usagef("--%s %q: want a literal IP address such as 127.0.0.1", name, v)
	}
	return ip, nil
}

// codecList parses --codecs: G.711 laws, comma-separated.
func codecList(v string) ([]string, error) {
	var out []string
	for _, c := range strings.Split(v, ",") {
		name := strings.ToUpper(strings.TrimSpace(c))
		if name != endpoint.PCMA && name != endpoint.PCMU {
			return nil, usagef("--codecs %q: only PCMA and PCMU", v)
		}
		out = append(out, name)
	}
	return out, nil
}

// clientCodecList parses the client's --codecs: G722, PCMU and PCMA,
// comma-separated, each once; not given, nil: Skype for Business's full offer.
func clientCodecList(v string, given bool) ([]string, error) {
	if !given {
		return nil, nil
	}
	var out []string
	for _, c := range strings.Split(v, ",") {
		out = append(out, strings.ToUpper(strings.TrimSpace(c)))
	}
	if err := endpoint.CheckClientCodecs(out); err != nil {
		return nil, usagef("--codecs %q: %v", v, err)
	}
	return out, nil
}

// dtmfFlag checks --dtmf and returns it in upper case, as it is reported.
func dtmfFlag(v string) (string, error) {
	if err := endpoint.CheckDigits(v); err != nil {
		return "", usagef("--dtmf %q: want DTMF digits 0-9, *, # and A-D", v)
	}
	return strings.ToUpper(v), nil
}

// labLogger is the logger of a lab command: zerolog on stderr, so that
// stdout holds only the summaries.
func labLogger(level string) (zerolog.Logger, error) {
	lc := mediation.LogConfig{Level: level}
	if _, err := zerolog.ParseLevel(level); err != nil || level == "" {
		return zerolog.Nop(), usagef("--log-level %q: want trace, debug, info, warn, error or disabled", level)
	}
	log := newLogger(os.Stderr, lc, nil)
	sip.SetDefaultLogger(log)
	return log, nil
}

// signalContext ends on SIGINT or SIGTERM; a second signal kills the process.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// answerCalls reports the calls an endpoint answers until it has n of them
// (0: until ctx ends).
func answerCalls(ctx context.Context, next func(context.Context) (endpoint.CallReport, error), n int, report func(endpoint.CallReport)) {
	for i := 0; n == 0 || i < n; i++ {
		r, err := next(ctx)
		if err != nil {
			return // the signal ended the wait
		}
		report(r)
	}
}

// validNumber accepts what the endpoints accept as a SIP user part.
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r == '+' || r == '-' || r == '.' || r == '_' || r == '*':
		default:
			return false
		}
	}
	return true
}
