package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mediation-emulator/mediation/mediation"

	"github.com/mediation-emulator/mediation/mediation/metricspage"
)

func init() {
	commands["counters"] = countersCmd
	summaries["counters"] = "show a running server's LS:MediationServer counters as PerfMon does"
}

const countersUsage = `Usage: mediation counters [flags]

Reads a running server's /metrics (--url, its http_listen) and prints the
LS:MediationServer counters as PerfMon shows them, grouped by object
(Inbound Calls, Outbound Calls, Global Counters, ...). With --watch it
samples again every --interval until SIGINT (or --count samples), adding
the rate per second of the cumulative counters. The exit status is 0, or 1
when the server does not answer (one-shot) or a watch got no sample
answered.
`

// countersCmd is `mediation counters [--url URL] [--watch]`.
func countersCmd(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return countersRun(ctx, args, os.Stdout, os.Stderr)
}

func countersRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("counters", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080", "the server's HTTP `URL` (http_listen)")
	watch := fs.Bool("watch", false, "sample again every --interval, with rates per second, until SIGINT")
	interval := fs.Duration("interval", time.Second, "time between samples in watch mode")
	count := fs.Int("count", 0, "in watch mode, stop after `N` samples (0: until SIGINT)")
	if done, code := parseCommandTo(fs, args, countersUsage, stdout, stderr); done {
		return code
	}
	if err := httpURLFlag("url", *url); err != nil {
		failTo(stderr, fmt.Errorf("counters: %w", err))
		return exitUsage
	}
	if *interval <= 0 {
		fmt.Fprintf(stderr, "mediation: counters: --interval must be positive (got %v)\n", *interval)
		return exitUsage
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var prev map[string]float64
	var prevAt time.Time
	answered := 0
	// end is the exit status of a watch that stops after n samples: a
	// watch that never got one answered fails, so a CI step can tell.
	end := func(n int) int {
		if answered == 0 {
			fmt.Fprintf(stderr, "mediation: counters: no sample answered (%d tried)\n", n)
			return exitFailure
		}
		return exitOK
	}
	for n := 1; ; n++ {
		values, err := scrape(ctx, client, strings.TrimSuffix(*url, "/")+"/metrics")
		switch {
		case err != nil && !*watch:
			fmt.Fprintf(stderr, "mediation: counters: %v\n", err)
			return exitFailure
		case err != nil:
			// A server restarting, or a moment away: watching goes on, as
			// PerfMon's does; the next rates start from the next sample.
			if ctx.Err() != nil {
				return end(n)
			}
			fmt.Fprintf(stderr, "mediation: counters: %v (watching on)\n", err)
			prev = nil
		default:
			answered++
			now := time.Now()
			printCounters(stdout, now, values, prev, now.Sub(prevAt))
			prev, prevAt = values, now
		}
		if !*watch {
			return exitOK
		}
		if *count > 0 && n >= *count {
			return end(n)
		}
		select {
		case <-ctx.Done():
			return end(n)
		case <-time.After(*interval):
		}
	}
}

// scrape reads /metrics into "name/direction" -> value.
func scrape(ctx context.Context, client *http.Client, url string) (map[string]float64, error) {
	page, err := metricspage.Get(ctx, client, url)
	if err != nil {
		return nil, err
	}
	values := map[string]float64{}
	for name, f := range page {
		for _, m := range f.GetMetric() {
			dir, _ := metricspage.Label(m, "direction")
			values[name+"/"+dir] += metricspage.Value(m)
		}
	}
	return values, nil
}

// printCounters prints one sample, grouped by PerfMon object; with a
// previous sample, cumulative counters get their rate per second.
func printCounters(w io.Writer, at time.Time, values, prev map[string]float64, elapsed time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", at.UTC().Format("2006-01-02T15:04:05Z"))
	object := ""
	for _, c := range mediation.PerfCounters {
		if c.Object != object {
			object = c.Object
			fmt.Fprintf(&b, "%s\n", object)
		}
		key := c.Metric + "/" + c.Direction
		fmt.Fprintf(&b, "  %-64s %8g", c.Counter, values[key])
		// A counter lower than before was reset (the server restarted
		// between samples): no rate for it this time, not a negative one.
		if c.Cumulative && prev != nil && elapsed > 0 && values[key] >= prev[key] {
			fmt.Fprintf(&b, "  %8.2f/s", (values[key]-prev[key])/elapsed.Seconds())
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	_, _ = io.WriteString(w, b.String())
}
