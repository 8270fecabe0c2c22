package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mediation-emulator/mediation/mediation/ladder"
)

func init() {
	commands["trace"] = traceCmd
	summaries["trace"] = "print each call of a server's JSON log as a ladder, with its bypass decision"
}

// traceCmd is `mediation trace [flags] [FILE|-]`.
func traceCmd(args []string) int {
	return traceRun(args, os.Stdin, os.Stdout, os.Stderr, time.Now)
}

func traceRun(args []string, stdin io.Reader, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	// As parseCommand does: the help on stdout, a bad flag one line on stderr.
	fs.SetOutput(io.Discard)
	usage := func() {
		fmt.Fprintf(stdout, "Usage: mediation trace [flags] [FILE|-]\n"+
			"       mediation trace --follow [--admin URL] [--token TOKEN] [flags]\n\n"+
			"Reads the JSON log of `mediation serve` (--log-format json; --log-level debug for the SIP\n"+
			"messages) from FILE, or stdin, and prints every call: numbers, gateway, the media bypass\n"+
			"decision and its reason, the media path, how it ended, and the ladder of both legs.\n"+
			"With --follow it reads the server's live log from its admin API instead (SIP messages\n"+
			"included whatever its log level) and prints each call when it ends, until interrupted.\n\nFlags:\n")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	var f ladder.Filter
	fs.StringVar(&f.Call, "call", "", "only the call with this `ID` (its own id, or either leg's Call-ID)")
	fs.StringVar(&f.Number, "number", "", "only calls from or to a number containing `DIGITS`")
	fs.BoolVar(&f.Bypassed, "bypassed", false, "only calls whose media bypasses the server")
	fs.BoolVar(&f.Anchored, "anchored", false, "only calls whose media the server anchors")
	fs.BoolVar(&f.Failed, "failed", false, "only calls that ended unanswered")
	since := fs.String("since", "", "only calls started in the last `DURATION` (10m) or since an RFC 3339 time")
	asJSON := fs.Bool("json", false, "print each call as one JSON object per line")
	follow := fs.Bool("follow", false, "follow the server's live log (admin API GET /log/stream); reconnect when it restarts")
	admin := fs.String("admin", defaultAdmin, "admin API `URL` of the server to follow")
	token := fs.String("token", "", "bearer `TOKEN` of the admin API (default $MEDIATION_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return exitOK
		}
		failTo(stderr, fmt.Errorf("trace: %w", err))
		return exitUsage
	}
	if *follow && fs.NArg() > 0 {
		fmt.Fprintln(stderr, "mediation: trace: --follow reads the admin API, not a FILE")
		return exitUsage
	}
	if *follow {
		if err := httpURLFlag("admin", *admin); err != nil {
			failTo(stderr, fmt.Errorf("trace: %w", err))
			return exitUsage
		}
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "mediation: trace: one FILE at most (or - for stdin)")
		return exitUsage
	}
	if *since != "" {
		t, err := parseSince(*since, now())
		if err != nil {
			fmt.Fprintf(stderr, "mediation: trace: --since %q: %v\n", *since, err)
			return exitUsage
		}
		f.Since = t
	}
	show := func(c *ladder.Call) error {
		if *asJSON {
			return ladder.WriteJSON(stdout, []*ladder.Call{c})
		}
		return ladder.Printer{W: stdout, Color: isTerminal(stdout) && os.Getenv("NO_COLOR") == ""}.Print(c)
	}
	if *follow {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := newFollower(*admin, adminToken(*token), f, show, stderr).run(ctx); err != nil {
			fmt.Fprintf(stderr, "mediation: trace: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
	in := stdin
	if name := fs.Arg(0); name != "" && name != "-" {
		file, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "mediation: trace: %v\n", err)
			return exitFailure
		}
		defer file.Close()
		in = file
	}
	calls, err := ladder.Read(in)
	if err != nil {
		fmt.Fprintf(stderr, "mediation: trace: %v\n", err)
		return exitFailure
	}
	for _, c := range f.Select(calls) {
		if err = show(c); err != nil {
			break
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "mediation: trace: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// parseSince reads --since: a duration back from now, or a point in time.
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errors.New("want a duration (10m) or an RFC 3339 time")
	}
	return t, nil
}
