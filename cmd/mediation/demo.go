package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

const demoUsage = `Usage: mediation demo [flags]

Starts in this process, on ephemeral loopback ports (so it never collides with
a running daemon), a mediation server on the embedded default configuration
with bypass.internal_subnets narrowed to 127.0.0.1/32, a simulated SBC and
three simulated clients, each of which asks the bypass web service first:

  supported internal  build 16.0.7870.2020 from 127.0.0.1: bypass granted
  Lync 2013           build 15.0.4420.1017 from 127.0.0.1: no bypass
  external            build 16.0.7870.2020 from 127.0.0.2: 403, no bypass

Each client places an outbound call and answers an inbound one. The table
shows the media path each call took, codecs, packets, loss and jitter (RFC
3550, as each receiving end measured them) and whether each end heard the
other's tone, then the server's counters. As Cloud Connector
does it, the supported internal client is bypassed both ways and the others
are anchored. The exit status is 0 only when every call matched; 2 for a bad
flag, e.g. a --duration below 20ms (a call that short carries no RTP packet).
`

// demoMinDuration is the shortest call the demo can judge: one packet's
// time (an inbound call's media starts at the answer).
const demoMinDuration = 20 * time.Millisecond

// demoTimeout bounds the whole demo; it takes about 10 s.
const demoTimeout = 2 * time.Minute

// demoKind is one kind of client CCE tells apart, and the media path it gets.
type demoKind struct {
	name string
	opt  mediationtest.ClientOptions
	want string // mediationtest.MediaBypassed or MediaAnchored
}

var demoKinds = []demoKind{
	{"supported internal", mediationtest.ClientOptions{Version: mediationtest.SupportedVersion}, mediationtest.MediaBypassed},
	{"Lync 2013", mediationtest.ClientOptions{Version: mediationtest.Lync2013Version}, mediationtest.MediaAnchored},
	{"external", mediationtest.ClientOptions{Version: mediationtest.SupportedVersion, SourceIP: netip.MustParseAddr("127.0.0.2")}, mediationtest.MediaAnchored},
}

// demoInternalSubnets makes 127.0.0.2 external, so one host can play both.
var demoInternalSubnets = []string{"127.0.0.1/32"}

// demoResult is everything the demo shows; --json prints it as is.
type demoResult struct {
	Server   demoServer    `json:"server"`
	Clients  []demoClient  `json:"clients"`
	Calls    []demoCall    `json:"calls"`
	Counters []demoCounter `json:"counters"`
	// CounterProblems lists counters that disagree with the calls made.
	CounterProblems []string `json:"counter_problems,omitempty"`
	Pass            bool     `json:"pass"`
}

type demoServer struct {
	Edge            string   `json:"edge"`
	Gateway         string   `json:"gateway"`
	HTTP            string   `json:"http"`
	SBC             string   `json:"sbc"`
	InternalSubnets []string `json:"internal_subnets"`
}

type demoClient struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	UserAgent string `json:"user_agent"`
	Source    string `json:"source"`
	Status    int    `json:"web_service_status"`
	Granted   bool   `json:"bypass_granted"`
	Reason    string `json:"reason"`
}

// demoCall is one row of the table.
type demoCall struct {
	Client    string `json:"client"`
	Direction string `json:"direction"`
	Expect    string `json:"expect"`
	Media     string `json:"media"`
	Path      string `json:"path"`
	// Codecs are what each leg negotiated: the client's and the SBC's.
	ClientCodec string `json:"client_codec"`
	SBCCodec    string `json:"sbc_codec"`
	ClientCode  int    `json:"client_code"`
	SBCCode     int    `json:"sbc_code"`
	// Packets per direction: sent by one end, received by the other.
	ToSBCSent        int `json:"to_sbc_sent"`
	ToSBCReceived    int `json:"to_sbc_received"`
	ToClientSent     int `json:"to_client_sent"`
	ToClientReceived int `json:"to_client_received"`
	// Loss in percent per direction, from the receiving end's sequence
	// numbers, and the receiving end's interarrival jitter in ms; nil when
	// nothing was received that way.
	LossToSBC      *float64 `json:"loss_to_sbc_percent"`
	LossToClient   *float64 `json:"loss_to_client_percent"`
	JitterToSBC    *float64 `json:"jitter_to_sbc_ms"`
	JitterToClient *float64 `json:"jitter_to_client_ms"`
	ClientHeardHz  float64  `json:"client_heard_hz"`
	SBCHeardHz     float64  `json:"sbc_heard_hz"`
	AudioOK        bool     `json:"audio_ok"`
	Pass           bool     `json:"pass"`
	Error          string   `json:"error,omitempty"`
}

type demoCounter struct {
	Series string  `json:"series"`
	Value  float64 `json:"value"`
}

// demo runs `mediation demo`.
func demo(args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	jsonOut := fs.Bool("json", false, "print the result as one JSON object")
	duration := fs.Duration("duration", time.Second, "how long each call lasts after the answer")
	logLevel := fs.String("log-level", "warn", "zerolog `level` of the log on stderr")
	if done, code := parseCommand(fs, args, demoUsage); done {
		return code
	}
	if *duration < demoMinDuration || *duration > 30*time.Second {
		return exitFor("demo", usagef("--duration %s: want %s to 30s (an inbound call has no early media: a shorter one carries no 20 ms RTP packet, and its media cannot be judged)", *duration, demoMinDuration))
	}
	log, err := labLogger(*logLevel)
	if err != nil {
		return exitFor("demo", err)
	}
	ctx, stop := signalContext()
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	res, err := runDemo(ctx, log, *duration)
	if err != nil {
		return exitFor("demo", err)
	}
	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		_ = enc.Encode(res)
	} else {
		res.writeText(os.Stdout)
	}
	if !res.Pass {
		return exitFailure
	}
	return exitOK
}

// runDemo runs the lab and every call. Each kind of client in turn becomes
// the server's edge next hop, so it answers the inbound call too.
func runDemo(ctx context.Context, log zerolog.Logger, d time.Duration) (demoResult, error) {
	lab, err := mediationtest.New(ctx, mediationtest.Options{Log: log, Configure: func(c *mediation.Config) {
		c.Bypass.InternalSubnets = demoInternalSubnets
	}})
	if err != nil {
		return demoResult{}, err
	}
	defer lab.Close()
	res := demoResult{Server: demoServer{Edge: lab.Server.EdgeAddr().String(), Gateway: lab.Server.GatewayAddr().String(),
		HTTP: lab.Server.HTTPAddr().String(), SBC: lab.SBC.Addr().String(), InternalSubnets: demoInternalSubnets}}
	bypassed := 0
	for _, k := range demoKinds {
		c, err := lab.NewEdgePeer(ctx, k.opt)
		if err != nil {
			return res, err
		}
		res.Clients = append(res.Clients, demoClient{Name: k.name, Version: k.opt.Version, UserAgent: c.UserAgent, Source: c.SourceIP.String(),
			Status: c.Grant.Status, Granted: c.Grant.Enabled, Reason: c.Grant.Reason})
		out, err := lab.CallOut(ctx, c, endpoint.CallOptions{Duration: d})
		res.Calls = append(res.Calls, judgeDemoCall(k, out, err))
		in, err := lab.CallIn(ctx, endpoint.CallOptions{Duration: d})
		res.Calls = append(res.Calls, judgeDemoCall(k, in, err))
		if k.want == mediationtest.MediaBypassed {
			bypassed++
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
	}
	res.CounterProblems = checkCounters(ctx, lab.Server, len(demoKinds), bypassed)
	res.Counters, err = readCounters(ctx, mediationtest.URL(lab.Server, "/metrics"))
	if err != nil {
		return res, err
	}
	res.Pass = len(res.CounterProblems) == 0
	for _, c := range res.Calls {
		res.Pass = res.Pass && c.Pass
	}
	return res, nil
}

// judgeDemoCall makes a table row of a call seen from both ends.
func judgeDemoCall(k demoKind, r mediationtest.CallResult, err error) demoCall {
	toSBC, toClient := r.Loss()
	jitterToSBC, jitterToClient := r.Jitter()
	row := demoCall{
		Client: k.name, Direction: r.Direction, Expect: k.want, Media: r.Media(), Path: r.Path(),
		ClientCodec: r.Client.Codec, SBCCodec: r.SBC.Codec, ClientCode: r.Client.Code, SBCCode: r.SBC.Code,
		ToSBCSent: r.Client.PacketsSent, ToSBCReceived: r.SBC.PacketsReceived,
		ToClientSent: r.SBC.PacketsSent, ToClientReceived: r.Client.PacketsReceived,
		LossToSBC: percent(toSBC), LossToClient: percent(toClient),
		JitterToSBC: millis(jitterToSBC, toSBC), JitterToClient: millis(jitterToClient, toClient),
		ClientHeardHz: round(r.Client.DetectedHz), SBCHeardHz: round(r.SBC.DetectedHz), AudioOK: r.AudioOK(),
	}
	if err != nil {
		row.Error = err.Error()
	}
	row.Pass = err == nil && r.Answered() && row.AudioOK && row.Media == k.want
	return row
}

// percent turns a CallResult loss share into a rounded percentage.
func percent(share float64) *float64 {
	if share < 0 {
		return nil
	}
	p := round(share * 1000 / 10)
	return &p
}

// millis is a jitter in ms, rounded to µs; nil when loss says nothing was
// received (share < 0).
func millis(jitter time.Duration, share float64) *float64 {
	if share < 0 {
		return nil
	}
	ms := math.Round(float64(jitter)/float64(time.Microsecond)) / 1000
	return &ms
}

func round(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// counterWait bounds how long the counters may lag the endpoints' reports.
const counterWait = 5 * time.Second

// checkCounters compares the server's counters with the calls the demo made:
// calls of each kind in each direction, bypassed ones counted as bypass, and
// nothing left open.
func checkCounters(ctx context.Context, srv *mediation.Server, callsPerDirection, bypassedPerDirection int) []string {
	ctx, cancel := context.WithTimeout(ctx, counterWait)
	defer cancel()
	type want struct {
		value  float64
		name   string
		labels []string
	}
	var wants []want
	for _, dir := range []string{mediationtest.Inbound, mediationtest.Outbound} {
		wants = append(wants,
			want{float64(callsPerDirection), "mediationserver_calls_total", []string{"direction", dir}},
			want{float64(bypassedPerDirection), "mediationserver_media_bypass_calls_total", []string{"direction", dir}},
			want{0, "mediationserver_calls_current", []string{"direction", dir}},
			want{0, "mediationserver_media_bypass_calls_active", []string{"direction", dir}})
	}
	wants = append(wants, want{0, "mediationserver_gateway_side_port_pairs_open", nil})
	var problems []string
	for _, w := range wants {
		if err := mediationtest.AwaitMetric(ctx, srv, w.value, w.name, w.labels...); err != nil {
			problems = append(problems, err.Error())
		}
	}
	return problems
}

// readCounters reads the mediationserver_ series of /metrics.
func readCounters(ctx context.Context, url string) ([]demoCounter, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	transport := &http.Transport{DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	res, err := (&http.Client{Transport: transport, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read counters: %s answered %s", url, res.Status)
	}
	return parseCounters(res.Body)
}

// parseCounters keeps the samples of the LS:MediationServer counters
// (mediation.PerfCounters) from the Prometheus text format: the demo shows
// what an operator confirms bypass with, not every series of /metrics.
func parseCounters(r io.Reader) ([]demoCounter, error) {
	perf := map[string]bool{}
	for _, c := range mediation.PerfCounters {
		perf[c.Metric] = true
	}
	var out []demoCounter
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		if !perf[name] {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out = append(out, demoCounter{Series: line[:i], Value: v})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("read counters: no mediationserver_ series in /metrics")
	}
	return out, nil
}

// writeText prints the demo as a person reads it: who is who, the table,
// the counters and the verdict.
func (res demoResult) writeText(w io.Writer) {
	s := res.Server
	fmt.Fprintf(w, "mediation server (embedded default config, bypass.internal_subnets %s)\n", strings.Join(s.InternalSubnets, ", "))
	fmt.Fprintf(w, "  edge %s   gateway side %s   http %s   SBC %s\n\n", s.Edge, s.Gateway, s.HTTP, s.SBC)
	fmt.Fprintln(w, "clients, and what the bypass web service told them:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range res.Clients {
		fmt.Fprintf(tw, "  %s\tbuild %s\tfrom %s\t%s\t%s\n", c.Name, c.Version, c.Source, statusText(c.Status), c.Reason)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tDIRECTION\tMEDIA\tPATH\tCODECS client|SBC\tRTP client->SBC\tSBC->client\tLOSS\tJITTER ms\tAUDIO\tRESULT")
	for _, c := range res.Calls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s|%s\t%d->%d\t%d->%d\t%s|%s\t%s|%s\t%s\t%s\n", c.Client, c.Direction, c.Media, c.Path,
			orNone(c.ClientCodec), orNone(c.SBCCodec), c.ToSBCSent, c.ToSBCReceived, c.ToClientSent, c.ToClientReceived,
			percentText(c.LossToSBC), percentText(c.LossToClient), jitterText(c.JitterToSBC), jitterText(c.JitterToClient),
			audioText(c), resultText(c))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nLS:MediationServer counters (/metrics; `mediation counters` shows them as PerfMon does):")
	for _, c := range res.Counters {
		fmt.Fprintf(w, "  %s %g\n", c.Series, c.Value)
	}
	for _, p := range res.CounterProblems {
		fmt.Fprintf(w, "  UNEXPECTED: %s\n", p)
	}
	fmt.Fprintln(w)
	if res.Pass {
		fmt.Fprintln(w, "PASS: as Cloud Connector does it, the supported internal client is bypassed both ways, Lync 2013 and the external client are anchored")
		return
	}
	fmt.Fprintln(w, "FAIL: some calls (or counters) are not what Cloud Connector would do; see the rows above")
}

func percentText(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64) + "%"
}

func jitterText(ms *float64) string {
	if ms == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*ms, 'f', 1, 64)
}

func audioText(c demoCall) string {
	if c.AudioOK {
		return "ok"
	}
	return fmt.Sprintf("NOT OK (%.0f|%.0f Hz)", c.ClientHeardHz, c.SBCHeardHz)
}

func resultText(c demoCall) string {
	switch {
	case c.Pass:
		return "PASS"
	case c.Error != "":
		return "FAIL: " + c.Error
	case c.Media != c.Expect:
		return "FAIL: expected " + c.Expect
	}
	return "FAIL"
}
