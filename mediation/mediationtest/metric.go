package mediationtest

// This file reads the server's counters over HTTP, as an operator's scraper
// would.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mediation-emulator/mediation/mediation"

	"github.com/mediation-emulator/mediation/mediation/metricspage"
)

// Metric reads one sample of the server's /metrics over HTTP: name with
// label pairs, e.g. Metric("mediationserver_calls_total", "direction", "inbound").
// A histogram reads as its sample count under NAME_count. A metric or series
// that does not exist reads as 0.
func Metric(srv *mediation.Server, name string, labels ...string) (float64, error) {
	return metricContext(context.Background(), srv, name, labels...)
}

func metricContext(ctx context.Context, srv *mediation.Server, name string, labels ...string) (float64, error) {
	families, err := metricspage.Get(ctx, metricsClient, URL(srv, "/metrics"))
	if err != nil {
		return 0, fmt.Errorf("read /metrics: %w", err)
	}
	// A histogram reads as its sample count under NAME_count.
	histogramCount := false
	fam, ok := families[name]
	if !ok {
		if base, isCount := strings.CutSuffix(name, "_count"); isCount {
			fam, ok = families[base]
			histogramCount = ok
		}
	}
	if !ok {
		return 0, nil
	}
next:
	for _, m := range fam.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if v, ok := metricspage.Label(m, labels[i]); !ok || v != labels[i+1] {
				continue next
			}
		}
		switch {
		case histogramCount && m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), nil
		default:
			return metricspage.Value(m), nil
		}
	}
	return 0, nil
}

// metricsClient keeps no idle connections: each lab's server is gone at the
// end of its test, and goroutine-leak checks must not see its keep-alives.
var metricsClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// URL is an HTTP URL on the server's web listener.
func URL(srv *mediation.Server, path string) string {
	return "http://" + srv.HTTPAddr().String() + "/" + strings.TrimPrefix(path, "/")
}

// AdminURL is an HTTP URL on the server's admin API listener.
func AdminURL(srv *mediation.Server, path string) string {
	return "http://" + srv.AdminAddr().String() + "/" + strings.TrimPrefix(path, "/")
}

// metricPoll is how often AwaitMetric reads /metrics.
const metricPoll = 20 * time.Millisecond

// AwaitMetric polls a metric until it reads want or ctx ends. The server
// updates its counters as a call's last message is handled, which can be
// just after the endpoints report the call.
func AwaitMetric(ctx context.Context, srv *mediation.Server, want float64, name string, labels ...string) error {
	last, read := 0.0, false
	for {
		got, err := metricContext(ctx, srv, name, labels...)
		if err == nil {
			if got == want {
				return nil
			}
			last, read = got, true
		}
		select {
		case <-ctx.Done():
			// The deadline can cut the last read short: report the last
			// value read, which is what a test wants to see.
			if !read {
				return fmt.Errorf("%s%v, want %v: %w (%v)", name, labels, want, ctx.Err(), err)
			}
			return fmt.Errorf("%s%v = %v, want %v: %w", name, labels, last, want, ctx.Err())
		case <-time.After(metricPoll):
		}
	}
}

// WaitMetric polls a metric until it reads want, failing the test after
// 10 s.
func WaitMetric(t TB, srv *mediation.Server, want float64, name string, labels ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := AwaitMetric(ctx, srv, want, name, labels...); err != nil {
		t.Fatal(err)
	}
}
