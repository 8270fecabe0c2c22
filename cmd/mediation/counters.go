package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mediation-emulator/mediation/mediation"
)

func init() {
	commands["counters"] = countersCmd
	summaries["counters"] = "show a running server's LS:MediationServer counters as PerfMon does"
}

// countersCmd is `mediation counters [--url URL] [--watch]`.
func countersCmd(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return countersRun(ctx, args, os.Stdout, os.Stderr)
}

func countersRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("counters", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the server's HTTP `URL` (http_listen)")
	watch := fs.Bool("watch", false, "sample again every --interval, with rates per second, until SIGINT")
	interval := fs.Duration("interval", time.Second, "time between samples in watch mode")
	count := fs.Int("count", 0, "in watch mode, stop after `N` samples (0: until SIGINT)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 || *interval <= 0 {
		fmt.Fprintln(stderr, "mediation: counters: takes no arguments; --interval must be positive")
		return exitUsage
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var prev map[string]float64
	var prevAt time.Time
	for n := 1; ; n++ {
		values, err := scrape(ctx, client, strings.TrimSuffix(*url, "/")+"/metrics")
		if err != nil {
			fmt.Fprintf(stderr, "mediation: counters: %v\n", err)
			return exitFailure
		}
		now := time.Now()
		printCounters(stdout, now, values, prev, now.Sub(prevAt))
		if !*watch || (*count > 0 && n >= *count) {
			return exitOK
		}
		prev, prevAt = values, now
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(*interval):
		}
	}
}

// scrape reads /metrics into "name/direction" -> value.
func scrape(ctx context.Context, client *http.Client, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	values := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			values[name+"/"+direction(m)] += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return values, nil
}

func direction(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == "direction" {
			return l.GetValue()
		}
	}
	return ""
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
		if c.Cumulative && prev != nil && elapsed > 0 {
			fmt.Fprintf(&b, "  %8.2f/s", (values[key]-prev[key])/elapsed.Seconds())
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	_, _ = io.WriteString(w, b.String())
}
