package bench

// This file sums a run up: the Report and how it is computed from the
// calls' reports.

import (
	"fmt"
	"slices"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
)

// Report is the outcome of a run, in units a reader can compare with the
// targets (calls per second, milliseconds, ratios).
type Report struct {
	Mode           string  `json:"mode"`
	Transport      string  `json:"transport"`
	SBCProgress    string  `json:"sbcProgress"` // the SBC's provisional response: 183, 180 or none
	Media          bool    `json:"media"`
	TargetCPS      float64 `json:"targetCps"`
	DurationMs     float64 `json:"durationMs"` // talk time per call
	TranscodeShare float64 `json:"transcodeShare"`

	// Calls were started; Answered went as planned (200, the media path of
	// their kind); Failed did not, by reason in FailedBy (the final code,
	// "wrong media path", "not transcoded", "error: ..."); Interrupted were
	// cut short by the run's end (SIGINT: the context of Run ended) before
	// their outcome was known or their talk time was over: CANCELled, or
	// hung up early with our BYE. Calls = Answered + Failed + Interrupted.
	Calls       int            `json:"calls"`
	Answered    int            `json:"answered"`
	Failed      int            `json:"failed"`
	FailedBy    map[string]int `json:"failedBy"`
	Interrupted int            `json:"interrupted"`
	// ClientsAnswered are the calls the clients got a 200 for, as planned
	// or not; SBCAnswered the calls the bench's SBC answered. They differ
	// when the daemon sent calls to another trunk than the bench's SBC
	// (a warning says so; the command exits 1 when the SBC had none).
	ClientsAnswered int `json:"clientsAnswered"`
	SBCAnswered     int `json:"sbcAnswered"`
	// Bypassed, Anchored and Transcoded count the answered calls by path.
	Bypassed   int `json:"bypassed"`
	Anchored   int `json:"anchored"`
	Transcoded int `json:"transcoded"`

	// CPS is the rate the calls were started at (calls-1 over the time from
	// the first to the last start); LaunchS that time, ElapsedS until the
	// last call ended.
	CPS      float64 `json:"cps"`
	LaunchS  float64 `json:"launchS"`
	ElapsedS float64 `json:"elapsedS"`
	// ScheduleLagMaxMs is how late the generator started a call at worst.
	ScheduleLagMaxMs float64 `json:"scheduleLagMaxMs"`

	// SetupMs is INVITE -> final response at the client, over all calls.
	SetupMs Percentiles `json:"setupMs"`
	// ClientMedia and SBCMedia are the RTP each end received, summed.
	ClientMedia MediaFigures `json:"clientMedia"`
	SBCMedia    MediaFigures `json:"sbcMedia"`
	// RelayDelayMs is the one-way delay of anchored calls' RTP, both
	// directions, per packet: from the send time the sender stamped in
	// the payload (nanoseconds since the run's start, a stamp the relay's
	// PCMU<->PCMA conversion keeps) to the receiver's arrival time as the
	// kernel stamped it (SO_TIMESTAMPNS; elsewhere when the receiver read
	// it), both ends being in this process. It is the relay's delay plus
	// two loopback hops and the sender's scheduling between stamping and
	// sending, not the receiver's wait for a core. Bypassed calls' media does
	// not go through the relay and is not counted. From a histogram of
	// fixed size: percentiles are within 1/32 (about 3 %) above the exact
	// value, max is exact. RelayDelayPackets is the number of packets
	// measured (0 when no anchored call had media).
	RelayDelayMs      Percentiles `json:"relayDelayMs"`
	RelayDelayPackets uint64      `json:"relayDelayPackets"`

	Daemon    Daemon    `json:"daemon"`
	Generator Generator `json:"generator"`
	Warnings  []string  `json:"warnings,omitempty"`
}

// Percentiles of a set of durations, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// MediaFigures are RTP counts of one end over all calls (RFC 3550 A.3
// expected and lost, from sequence numbers).
type MediaFigures struct {
	Calls     int     `json:"calls"`
	Received  int     `json:"received"`
	Expected  int     `json:"expected"`
	Lost      int     `json:"lost"`
	LossRatio float64 `json:"lossRatio"`
}

// mediaSum adds up the media of calls' reports.
type mediaSum struct {
	calls                    int
	received, expected, lost int
}

func (m *mediaSum) add(r endpoint.CallReport) {
	m.calls++
	m.received += r.PacketsReceived
	m.expected += r.PacketsExpected
	m.lost += r.PacketsLost
}

func (m mediaSum) figures() MediaFigures {
	f := MediaFigures{Calls: m.calls, Received: m.received, Expected: m.expected, Lost: m.lost}
	if m.expected > 0 {
		f.LossRatio = float64(m.lost) / float64(m.expected)
	}
	return f
}

// summarize builds the call figures of the report.
func summarize(cfg Config, results []result, sbc mediaSum) Report {
	rep := Report{Mode: cfg.Mode, Transport: cfg.Transport, SBCProgress: cfg.SBCProgress, Media: *cfg.Media, TargetCPS: cfg.CPS,
		DurationMs: ms(cfg.Duration), TranscodeShare: cfg.TranscodeShare, FailedBy: map[string]int{}}
	var setup []time.Duration
	var client mediaSum
	for _, res := range results {
		rep.Calls++
		if res.report.Code == 200 {
			rep.ClientsAnswered++
		}
		if res.interrupted {
			// Its setup time is of the part the interrupt left, unless
			// it was answered.
			rep.Interrupted++
			if res.report.Code == 200 {
				setup = append(setup, res.report.SetupTime)
			}
			continue
		}
		setup = append(setup, res.report.SetupTime)
		if res.reason != "" {
			rep.Failed++
			rep.FailedBy[res.reason]++
			continue
		}
		rep.Answered++
		client.add(res.report)
		switch res.kind {
		case kindBypass:
			rep.Bypassed++
		case kindAnchored:
			rep.Anchored++
		case kindTranscoded:
			rep.Transcoded++
		}
	}
	rep.SetupMs = percentiles(setup)
	rep.ClientMedia, rep.SBCMedia = client.figures(), sbc.figures()
	return rep
}

// delayFigures sums up the relay delays.
func delayFigures(h *endpoint.DelayHistogram) (Percentiles, uint64) {
	if h.Count() == 0 {
		return Percentiles{}, 0
	}
	return Percentiles{P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max())}, h.Count()
}

// percentiles by the nearest-rank method.
func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	rank := func(p float64) float64 {
		i := int(p*float64(len(d))+0.999999) - 1
		return ms(d[min(max(i, 0), len(d)-1)])
	}
	return Percentiles{P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: ms(d[len(d)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// warnings say when the figures are not the daemon's alone, or not of
// what was asked (the SBC's leg over another transport).
func warnings(cfg Config, rep Report, lag time.Duration, sbcTransports map[string]int) []string {
	var w []string
	if other := rep.SBCMedia.Calls - sbcTransports[cfg.Transport]; other > 0 {
		w = append(w, fmt.Sprintf("the SBC got %d of its %d calls over another transport than %s: a running daemon reaches its trunk over the trunk's configured transport (gateways[].transport; for TCP on both legs, serve testdata/config/bench-tcp.yaml)",
			other, rep.SBCMedia.Calls, cfg.Transport))
	}
	if msg := sbcWarning(cfg, rep); msg != "" {
		w = append(w, msg)
	}
	if rep.Generator.InProcess {
		w = append(w, "the daemon runs in this process: CPU and memory are the generator's and the daemon's together; run `mediation serve` separately and pass --edge for the daemon's own figures")
	}
	if lag > time.Second {
		w = append(w, fmt.Sprintf("the generator fell up to %.1f s behind its schedule: it, not the daemon, limited the rate", lag.Seconds()))
	}
	if !rep.Generator.InProcess && rep.Generator.CoresUsed > 0.9 && rep.Generator.CoresUsed >= rep.Daemon.CoresUsed {
		w = append(w, fmt.Sprintf("the generator used %.2f cores, as much as the daemon (%.2f): it may be the bottleneck", rep.Generator.CoresUsed, rep.Daemon.CoresUsed))
	}
	if rep.SBCMedia.Expected > 0 && cfg.Concurrent == 0 && rep.Generator.CoresUsed > float64(numCPU)*0.9 {
		w = append(w, "the machine's cores were saturated: media loss may be the generator's")
	}
	return w
}

// sbcWarning says when the bench's SBC answered another number of calls
// than the clients saw answered: with a running daemon, the trunk it sent
// them to is not (only) --sbc-listen (a misconfigured trunk, a second
// gateway taking its share), so the SBC's media figures and the relay
// delay are not of every call; or the SBC answered calls the clients
// never saw answered. After an interrupt, up to one more per interrupted
// call is expected, not warned about: a CANCEL that crossed the SBC's 200
// leaves the SBC's call answered (the daemon ACKs it and hangs up) and the
// client's ended by a 487 (r25-reviewB #3).
func sbcWarning(cfg Config, rep Report) string {
	name := "the bench's SBC"
	if cfg.Edge.IsValid() {
		name += " (" + cfg.SBCListen + ")"
	}
	switch clients, sbc := rep.ClientsAnswered, rep.SBCAnswered; {
	case sbc < clients:
		had := fmt.Sprintf("%d", sbc)
		if sbc == 0 {
			had = "none"
		}
		return fmt.Sprintf("%s answered %s of the %d calls the clients saw answered: the daemon sent the others to another trunk (its gateways[].address must be --sbc-listen, and the only trunk); the SBC's media and the relay delay are of %d calls only",
			name, had, clients, sbc)
	case sbc > clients && sbc-clients > rep.Interrupted:
		return fmt.Sprintf("%s answered %d calls, more than the %d the clients saw answered: calls from elsewhere reached it, or the daemon connected calls whose clients had given up",
			name, sbc, clients)
	}
	return ""
}
