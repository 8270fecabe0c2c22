package bench

// This file reads the process figures of a run: the generator's own CPU
// time, and the daemon's CPU, memory and goroutines from its /metrics.

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/mediation-emulator/mediation/mediation/metricspage"
)

// Daemon are the daemon's figures from its /metrics at the end of the run
// (CPU: over the run).
type Daemon struct {
	// Read is false when there was no /metrics to read.
	Read       bool    `json:"read"`
	CPUSeconds float64 `json:"cpuSeconds"`
	CoresUsed  float64 `json:"coresUsed"`
	RSSBytes   float64 `json:"rssBytes"`
	Goroutines float64 `json:"goroutines"`
	// SIPMessages are the SIP messages of the calls the daemon read and
	// wrote over the run, both sides, requests and responses,
	// retransmissions and the transaction layer's own (100 Trying, ACKs)
	// included: the sums of its mediationserver_sip_requests_total and
	// _responses_total, less its OPTIONS exchanges. SIPMessagesPerCall
	// divides them by the calls started: a run without a retransmission
	// gives exactly the messages of one call's flow.
	SIPMessages        float64 `json:"sipMessages"`
	SIPMessagesPerCall float64 `json:"sipMessagesPerCall"`
	// SIPOptions are the OPTIONS requests the daemon sent or received over
	// the run (its trunk probes, every 30 s by default). Each is taken
	// from SIPMessages with one response.
	SIPOptions float64 `json:"sipOptions"`
	// RelayDelayMs is the relay's own delay over the run, from the daemon's
	// mediationserver_relay_delay_seconds (both sides): the upper bounds of
	// the histogram buckets the percentiles fall in, ms (-1: past the last
	// bound). RelayDelayPackets are the packets it counted; 0 without
	// anchored media or off Linux.
	RelayDelayMs      BucketPercentiles `json:"relayDelayMs"`
	RelayDelayPackets uint64            `json:"relayDelayPackets"`
}

// BucketPercentiles are percentiles read from a histogram: each is the
// upper bound of the bucket it falls in.
type BucketPercentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// Generator is this process's CPU over the run.
type Generator struct {
	CPUSeconds float64 `json:"cpuSeconds"`
	CoresUsed  float64 `json:"coresUsed"`
	// InProcess: the daemon ran in this process, so the figures include it.
	InProcess bool `json:"inProcess"`
	// GC is the garbage collector setting the process ran with, as
	// RuntimeConfig.Apply reports it ("gc_percent 400, no memory limit");
	// set by the command, empty from Run alone.
	GC string `json:"gc,omitempty"`
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func generatorFigures(cpu, elapsed time.Duration, inProcess bool) Generator {
	g := Generator{CPUSeconds: cpu.Seconds(), InProcess: inProcess}
	if elapsed > 0 {
		g.CoresUsed = cpu.Seconds() / elapsed.Seconds()
	}
	return g
}

// sample is the few series of a /metrics page the report uses.
type sample struct {
	cpu, rss, goroutines float64
	sipMessages          float64
	sipOptions           float64
	// relayDelay is mediationserver_relay_delay_seconds summed over its
	// sides: the cumulative count of each bucket by upper bound, seconds.
	relayDelay map[float64]uint64
}

// scrape reads url (a Prometheus text page); "" reads nothing (and is no
// error).
func scrape(ctx context.Context, url string) (sample, error) {
	if url == "" {
		return sample{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p, err := metricspage.Get(ctx, http.DefaultClient, url)
	if err != nil {
		return sample{}, err
	}
	return sample{cpu: p.First("process_cpu_seconds_total"), rss: p.First("process_resident_memory_bytes"),
		goroutines:  p.First("go_goroutines"),
		sipMessages: p.Sum("mediationserver_sip_requests_total") + p.Sum("mediationserver_sip_responses_total"),
		sipOptions:  p.SumWhere("mediationserver_sip_requests_total", "method", "OPTIONS"),
		relayDelay:  buckets(p, "mediationserver_relay_delay_seconds")}, nil
}

// buckets sums the cumulative bucket counts of a histogram's series by
// upper bound (+Inf included).
func buckets(p metricspage.Page, name string) map[float64]uint64 {
	f := p[name]
	if f == nil {
		return nil
	}
	out := map[float64]uint64{}
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		for _, b := range h.GetBucket() {
			if !math.IsInf(b.GetUpperBound(), 1) { // the count stands for +Inf
				out[b.GetUpperBound()] += b.GetCumulativeCount()
			}
		}
		out[math.Inf(1)] += h.GetSampleCount()
	}
	return out
}

// bucketPercentiles reads p50, p90 and p99 (ms) off the difference of two
// cumulative bucket counts, and the count; a percentile past the last
// finite bound is -1.
func bucketPercentiles(before, after map[float64]uint64) (BucketPercentiles, uint64) {
	if after[math.Inf(1)] <= before[math.Inf(1)] { // none
		return BucketPercentiles{}, 0
	}
	total := after[math.Inf(1)] - before[math.Inf(1)]
	bounds := make([]float64, 0, len(after))
	for le := range after {
		if after[le] < before[le] {
			// A restarted daemon counts from 0 again: the difference
			// means nothing, however many packets it has relayed since.
			return BucketPercentiles{}, 0
		}
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	at := func(q float64) float64 {
		for _, le := range bounds {
			if float64(after[le]-before[le]) >= q*float64(total) {
				if math.IsInf(le, 1) {
					return -1
				}
				return le * 1000
			}
		}
		return -1
	}
	return BucketPercentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99)}, total
}

func daemonFigures(before, after sampleRead, elapsed time.Duration, calls int) Daemon {
	if !before.ok || !after.ok {
		return Daemon{}
	}
	d := Daemon{Read: true, CPUSeconds: after.cpu - before.cpu, RSSBytes: after.rss, Goroutines: after.goroutines,
		SIPOptions: after.sipOptions - before.sipOptions}
	d.SIPMessages = after.sipMessages - before.sipMessages - 2*d.SIPOptions
	if elapsed > 0 {
		d.CoresUsed = d.CPUSeconds / elapsed.Seconds()
	}
	if calls > 0 {
		d.SIPMessagesPerCall = d.SIPMessages / float64(calls)
	}
	d.RelayDelayMs, d.RelayDelayPackets = bucketPercentiles(before.relayDelay, after.relayDelay)
	return d
}

// sampleRead is a sample and whether it was read (err: why not, when
// there was a page to read).
type sampleRead struct {
	sample
	ok  bool
	err error
}

// metricsWarnings say that a /metrics page there was to read could not be
// read, before or after the run: the daemon's figures are missing (read
// false), which a report without the warning would show only as zeros.
func metricsWarnings(url string, before, after sampleRead) []string {
	if url == "" {
		return nil
	}
	var w []string
	for _, s := range []struct {
		when string
		read sampleRead
	}{{"before", before}, {"after", after}} {
		if !s.read.ok {
			w = append(w, fmt.Sprintf("the daemon's /metrics %s could not be read %s the run (%v): no daemon figures", url, s.when, s.read.err))
		}
	}
	return w
}
