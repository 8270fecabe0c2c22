package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// proc is a mediation process a test runs in the background. Its stdout is
// read line by line as it comes; it is stopped (SIGINT, then SIGKILL) and
// reaped by t.Cleanup.
type proc struct {
	args   []string
	cmd    *exec.Cmd
	lines  chan string // stdout, closed at EOF
	stderr *syncBuffer
	done   chan struct{}
	code   int
}

// syncBuffer collects a process's stderr for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{args: args, cmd: exec.Command(binary, args...), lines: make(chan string, 100),
		stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start mediation %v: %v", args, err)
	}
	var readers sync.WaitGroup
	readers.Go(func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	})
	go func() {
		readers.Wait() // Wait closes stdout: read it all first
		err := p.cmd.Wait()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			p.code = exitErr.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop asks the process to exit as an operator would, then insists.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		return
	case <-time.After(15 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("mediation %v: not reaped after SIGKILL", p.args)
	}
}

// wait waits for the process to exit by itself and returns its exit code.
func (p *proc) wait(ctx context.Context, t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-ctx.Done():
		t.Fatalf("mediation %v did not exit: %v (stderr %q)", p.args, ctx.Err(), p.stderr.String())
	}
	return 0
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// nextSummary reads the next JSON summary the process printed.
func (p *proc) nextSummary(ctx context.Context, t *testing.T) callSummary {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("mediation %v: output ended (exit %d, stderr %q)", p.args, p.code, p.stderr.String())
		}
		return parseSummary(t, line)
	case <-ctx.Done():
		t.Fatalf("mediation %v: no summary: %v (stderr %q)", p.args, ctx.Err(), p.stderr.String())
	}
	return callSummary{}
}

func parseSummary(t *testing.T, line string) callSummary {
	t.Helper()
	var s callSummary
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		t.Fatalf("summary %q: %v", line, err)
	}
	return s
}

// runProc runs a mediation command to its end within ctx.
func runProc(ctx context.Context, t *testing.T, args ...string) runResult {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	code := 0
	switch {
	case ctx.Err() != nil:
		t.Fatalf("mediation %v did not exit in time (stderr %q)", args, stderr.String())
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("run %v: %v", args, err)
	}
	return runResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// freeAddrs returns n loopback addresses whose port was just free for both
// UDP and TCP. Another process may take one before the caller binds it, so
// callers retry on a bind failure.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var held []func()
	defer func() {
		for _, release := range held {
			release()
		}
	}()
	for len(out) < n {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := udp.LocalAddr().String()
		tcp, err := net.Listen("tcp", addr)
		if err != nil {
			udp.Close()
			continue
		}
		held = append(held, func() { udp.Close(); tcp.Close() })
		out = append(out, addr)
	}
	return out
}

// poll calls ok until it is true or ctx ends.
func poll(ctx context.Context, ok func() bool) error {
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// tcpListening tells whether something accepts TCP connections on addr;
// every endpoint listens on UDP and TCP together.
func tcpListening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

var healthClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func healthy(url string) bool {
	res, err := healthClient.Get(url)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// labDaemon is a `mediation serve` on free loopback ports with the README's
// lab config: internal subnets 127.0.0.1/32, so 127.0.0.2 plays an external
// client, and a media range below Linux's ephemeral ports, so the SBC's
// verdict is exact.
type labDaemon struct {
	edge, gateway, http, sbc, edgePeer, admin string
	webService                                string
	proc                                      *proc
}

// labMediaPorts is media.ports of testdata/config/lab.yaml.
const labMediaPorts = "20000-20999"

// launch starts `mediation serve` on d's addresses.
func (d *labDaemon) launch(t *testing.T, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--config", filepath.Join("..", "..", "testdata", "config", "lab.yaml"),
		"--edge-listen", d.edge, "--gateway-listen", d.gateway, "--http-listen", d.http, "--admin-listen", d.admin,
		"--gateway", d.sbc, "--edge-peer", d.edgePeer, "--log-level", "warn", "--log-format", "json"}, extra...)
	return startProc(t, args...)
}

func startDaemon(ctx context.Context, t *testing.T) *labDaemon {
	t.Helper()
	return startDaemonWith(ctx, t)
}

// startDaemonWith is startDaemon with more serve flags: config a YAML
// file to use instead of the lab's, and flags given after the lab's (the
// last of a flag given twice wins).
func startDaemonWith(ctx context.Context, t *testing.T, extra ...string) *labDaemon {
	t.Helper()
	for attempt := 1; ; attempt++ {
		a := freeAddrs(t, 6)
		d := &labDaemon{edge: a[0], gateway: a[1], http: a[2], sbc: a[3], edgePeer: a[4], admin: a[5],
			webService: "http://" + a[2] + hybridconfig.Path}
		d.proc = d.launch(t, extra...)
		err := poll(ctx, func() bool { return d.proc.exited() || healthy("http://"+d.http+"/healthz") })
		switch {
		case err != nil:
			t.Fatalf("mediation serve not healthy: %v (stderr %q)", err, d.proc.stderr.String())
		case !d.proc.exited():
			return d
		case attempt == 3:
			t.Fatalf("mediation serve exited %d: %s", d.proc.code, d.proc.stderr.String())
		}
		t.Logf("mediation serve exited %d (a port was taken?), retrying: %s", d.proc.code, d.proc.stderr.String())
	}
}

// startSBC starts `mediation sbc --listen addr` with args and waits until
// it listens.
func startSBC(ctx context.Context, t *testing.T, addr string, args ...string) *proc {
	t.Helper()
	sbc := startProc(t, append([]string{"sbc", "--listen", addr}, args...)...)
	if err := poll(ctx, func() bool { return sbc.exited() || tcpListening(addr) }); err != nil || sbc.exited() {
		t.Fatalf("mediation sbc not listening: %v (stderr %q)", err, sbc.stderr.String())
	}
	return sbc
}

// The three kinds of client, the flags that make them, and what CCE does.
var clientKinds = []struct {
	name      string
	args      []string
	wantMedia string
	wantWS    int // web service status
}{
	{"supported internal", []string{"--version", "16.0.7870.2020"}, pathBypassed, 200},
	{"Lync 2013", []string{"--version", "15.0.4420.1017"}, pathAnchored, 200},
	{"external", []string{"--source-ip", "127.0.0.2"}, pathAnchored, 403},
}

// expectFlag is the --expect value for a media path.
func expectFlag(path string) string {
	if path == pathBypassed {
		return expectBypass
	}
	return expectAnchored
}

// TestLabCommands runs the daemon, `mediation sbc` and `mediation client`
// as separate processes, as the README's lab walkthrough does, for each kind
// of client in both directions.
func TestLabCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := startDaemon(ctx, t)
	sbc := startSBC(ctx, t, d.sbc, "--ring", "100ms", "--mediation-media-ports", labMediaPorts, "--json")
	for _, k := range clientKinds {
		t.Run(k.name+"/outbound", func(t *testing.T) {
			args := append([]string{"client", "--via", d.edge, "--web-service", d.webService, "--duration", "1s",
				"--expect", expectFlag(k.wantMedia), "--json"}, k.args...)
			res := runProc(ctx, t, args...)
			if res.code != 0 {
				t.Fatalf("client exit %d, stdout %s stderr %s", res.code, res.stdout, res.stderr)
			}
			cl := parseSummary(t, strings.TrimSpace(res.stdout))
			checkSummary(t, "client", cl, "outbound", k.wantMedia)
			if cl.WebService == nil || cl.WebService.Status != k.wantWS || cl.WebService.Granted != (k.wantMedia == pathBypassed) {
				t.Errorf("client's web service: %+v, want status %d", cl.WebService, k.wantWS)
			}
			sb := sbc.nextSummary(ctx, t)
			checkSummary(t, "sbc", sb, "outbound", k.wantMedia)
			checkSameCall(t, cl, sb)
		})
		t.Run(k.name+"/inbound", func(t *testing.T) {
			args := append([]string{"client", "--answer", "--listen", d.edgePeer, "--calls", "1", "--web-service", d.webService,
				"--expect", expectFlag(k.wantMedia), "--json"}, k.args...)
			answerer := startProc(t, args...)
			if err := poll(ctx, func() bool { return answerer.exited() || tcpListening(d.edgePeer) }); err != nil || answerer.exited() {
				t.Fatalf("answering client not listening: %v (stderr %q)", err, answerer.stderr.String())
			}
			res := runProc(ctx, t, "sbc", "--call", "+15550111", "--via", d.gateway, "--duration", "1s",
				"--mediation-media-ports", labMediaPorts, "--expect", expectFlag(k.wantMedia), "--json")
			if res.code != 0 {
				t.Fatalf("sbc --call exit %d, stdout %s stderr %s", res.code, res.stdout, res.stderr)
			}
			sb := parseSummary(t, strings.TrimSpace(res.stdout))
			checkSummary(t, "sbc", sb, "inbound", k.wantMedia)
			cl := answerer.nextSummary(ctx, t)
			if code := answerer.wait(ctx, t); code != 0 {
				t.Fatalf("answering client exit %d, stderr %q", code, answerer.stderr.String())
			}
			checkSummary(t, "client", cl, "inbound", k.wantMedia)
			checkSameCall(t, cl, sb)
		})
	}
	t.Run("expectation not met", func(t *testing.T) {
		res := runProc(ctx, t, "client", "--via", d.edge, "--web-service", d.webService, "--duration", "300ms",
			"--version", "15.0.4420.1017", "--expect", "bypass")
		if res.code != 1 || !strings.Contains(res.stdout, "FAIL: media anchored, expected bypass") {
			t.Fatalf("exit %d, stdout %s; want 1 and the reason", res.code, res.stdout)
		}
		_ = sbc.nextSummary(ctx, t) // the SBC answered it
	})
	sbc.stop(t)
	if sbc.code != 0 {
		t.Errorf("sbc exit %d after SIGINT with every call passed; stderr %q", sbc.code, sbc.stderr.String())
	}
}

// checkSummary checks what every passing lab call must show.
func checkSummary(t *testing.T, who string, s callSummary, direction, media string) {
	t.Helper()
	if !s.Pass || s.Code != 200 || !s.Answered || s.Direction != direction || s.Media != media || !s.AudioOK || s.Codec == "" {
		t.Errorf("%s summary %+v; want a passing %s %s call", who, s, direction, media)
	}
	if s.Received < 10 || s.LossPercent == nil || *s.LossPercent > 20 || s.PacketsLost == nil || s.JitterMs == nil || *s.JitterMs > 50 {
		t.Errorf("%s received %d packets, lost %v (%v%%), jitter %v ms", who, s.Received, s.PacketsLost, s.LossPercent, s.JitterMs)
	}
}

// TestLabDTMF: `mediation client --dtmf` through `mediation serve` to
// `mediation sbc`, anchored, with the SBC on telephone-event PT 96 where the
// client offers 101 and sending a digit back on the call it answers.
func TestLabDTMF(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := startDaemon(ctx, t)
	sbc := startSBC(ctx, t, d.sbc, "--ring", "100ms", "--mediation-media-ports", labMediaPorts,
		"--dtmf-pt", "96", "--dtmf", "9", "--calls", "1", "--json")
	res := runProc(ctx, t, "client", "--via", d.edge, "--web-service", d.webService, "--duration", "1s",
		"--version", "15.0.4420.1017", "--expect", "anchored", "--dtmf", "12", "--json")
	if res.code != 0 {
		t.Fatalf("client exit %d, stdout %s stderr %s", res.code, res.stdout, res.stderr)
	}
	cl := parseSummary(t, strings.TrimSpace(res.stdout))
	sb := sbc.nextSummary(ctx, t)
	if code := sbc.wait(ctx, t); code != 0 {
		t.Fatalf("sbc exit %d, stderr %q", code, sbc.stderr.String())
	}
	checkSummary(t, "client", cl, "outbound", pathAnchored)
	checkSummary(t, "sbc", sb, "outbound", pathAnchored)
	if cl.DTMF != "12" || cl.DigitsSent != "12" || cl.DigitsReceived != "9" || cl.DTMFPT != 101 {
		t.Errorf("client: dtmf %q, sent %q, received %q on PT %d; want 12, 12, 9 on 101", cl.DTMF, cl.DigitsSent, cl.DigitsReceived, cl.DTMFPT)
	}
	if sb.DigitsReceived != "12" || sb.DigitsSent != "9" || sb.DTMFPT != 96 {
		t.Errorf("sbc: sent %q, received %q on PT %d; want 9, 12 on 96", sb.DigitsSent, sb.DigitsReceived, sb.DTMFPT)
	}
	if cl.PacketsLost == nil || *cl.PacketsLost != 0 || cl.LossPercent == nil || *cl.LossPercent != 0 || cl.JitterMs == nil {
		t.Errorf("client: lost %v (%v%%), jitter %v ms; want 0 and a jitter", cl.PacketsLost, cl.LossPercent, cl.JitterMs)
	}
}

// TestLabDTMFInBand: `mediation sbc --dtmf-pt -1` is a trunk without
// telephone-event. Alone, the server answers the client without events too
// and nobody sends digits. With --dtmf-in-183 the SBC's 183 lists
// telephone-event and its 200 does not: the client keeps the 183's answer
// and sends its digits as RFC 4733 events, the anchoring relay plays them
// to the SBC as tones, and the SBC hears every digit in-band, none as an
// event; its own --dtmf cannot go anywhere.
func TestLabDTMFInBand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := startDaemon(ctx, t)
	call := func(sbcArgs ...string) (cl, sb callSummary) {
		t.Helper()
		sbc := startSBC(ctx, t, d.sbc, append([]string{"--ring", "100ms", "--mediation-media-ports", labMediaPorts,
			"--dtmf-pt", "-1", "--dtmf", "9", "--calls", "1", "--json"}, sbcArgs...)...)
		res := runProc(ctx, t, "client", "--via", d.edge, "--web-service", d.webService, "--duration", "1s",
			"--version", "15.0.4420.1017", "--expect", "anchored", "--dtmf", "1234#*", "--json")
		if res.code != 0 {
			t.Fatalf("client exit %d, stdout %s stderr %s", res.code, res.stdout, res.stderr)
		}
		cl, sb = parseSummary(t, strings.TrimSpace(res.stdout)), sbc.nextSummary(ctx, t)
		if code := sbc.wait(ctx, t); code != 0 {
			t.Fatalf("sbc exit %d, stderr %q", code, sbc.stderr.String())
		}
		checkSummary(t, "client", cl, "outbound", pathAnchored)
		checkSummary(t, "sbc", sb, "outbound", pathAnchored)
		if sb.DTMFPT != -1 || sb.DigitsSent != "" || sb.DigitsReceived != "" || cl.DigitsReceived != "" || cl.DigitsReceivedInBand != "" {
			t.Errorf("sbc: PT %d, sent %q, received %q; client received %q, in-band %q; want -1 and no digits the other way",
				sb.DTMFPT, sb.DigitsSent, sb.DigitsReceived, cl.DigitsReceived, cl.DigitsReceivedInBand)
		}
		return cl, sb
	}

	cl, sb := call()
	if cl.DTMFPT != -1 || cl.DigitsSent != "" || sb.DigitsReceivedInBand != "" {
		t.Errorf("without events in the 183: client PT %d sent %q, SBC heard %q in-band; want -1 and nothing",
			cl.DTMFPT, cl.DigitsSent, sb.DigitsReceivedInBand)
	}

	cl, sb = call("--dtmf-in-183")
	if cl.DTMFPT != 101 || cl.DigitsSent != "1234#*" {
		t.Errorf("client: sent %q on PT %d; want 1234#* on 101 (the 183's answer)", cl.DigitsSent, cl.DTMFPT)
	}
	if sb.DigitsReceivedInBand != "1234#*" {
		t.Errorf("sbc: heard %q in-band, want 1234#*", sb.DigitsReceivedInBand)
	}
}

// checkSameCall cross-checks the two ends: in bypass each got RTP from the
// other's own socket, anchored neither did and the SBC's came from the
// server's media range.
func checkSameCall(t *testing.T, cl, sb callSummary) {
	t.Helper()
	direct := cl.MediaFrom == sb.MediaLocal && sb.MediaFrom == cl.MediaLocal
	if direct != (cl.Media == pathBypassed) {
		t.Errorf("client %s got RTP from %s (SBC media %s), SBC %s from %s (client media %s)",
			cl.Media, cl.MediaFrom, sb.MediaLocal, sb.Media, sb.MediaFrom, cl.MediaLocal)
	}
	relay, err := parseMediaRange("127.0.0.1", labMediaPorts)
	if err != nil {
		t.Fatal(err)
	}
	if from, err := netip.ParseAddrPort(sb.MediaFrom); cl.Media == pathAnchored && (err != nil || !relay.contains(from)) {
		t.Errorf("anchored: SBC got RTP from %s, outside the server's %s", sb.MediaFrom, labMediaPorts)
	}
}

// TestLabCommandFlags: bad command lines stop with one line and exit 2
// before anything binds.
func TestLabCommandFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"client", "--version", "16.0"}, "--version"},
		{[]string{"client", "--version", "16.0.7870.2020 evil"}, "--version"},
		{[]string{"client", "--source-ip", "nowhere"}, "--source-ip"},
		{[]string{"client", "--via", "localhost:5070"}, "--via"},
		{[]string{"client", "--via", "127.0.0.1"}, "--via"},
		{[]string{"client", "--transport", "sctp"}, "--transport"},
		{[]string{"client", "--expect", "maybe"}, "--expect"},
		{[]string{"client", "--duration", "0s"}, "--duration"},
		{[]string{"client", "--response-timeout", "0s"}, "--response-timeout"},
		{[]string{"client", "--calls", "-1"}, "--calls"},
		{[]string{"client", "--to", "a b"}, "not a number"},
		{[]string{"client", "--answer", "--listen", "127.0.0.1:0"}, "--listen"},
		{[]string{"client", "--log-level", "loud"}, "--log-level"},
		{[]string{"client", "extra"}, `unexpected argument "extra"`},
		{[]string{"client", "--dtmf", "12x"}, "--dtmf"},
		{[]string{"sbc", "--dtmf", "E"}, "--dtmf"},
		{[]string{"sbc", "--dtmf-pt", "95"}, "--dtmf-pt"},
		{[]string{"sbc", "--dtmf-pt", "128"}, "--dtmf-pt"},
		{[]string{"sbc", "--dtmf-pt", "-2"}, "--dtmf-pt"},
		{[]string{"sbc", "--dtmf-in-183"}, "--dtmf-pt -1"},
		{[]string{"sbc", "--dtmf-pt", "-1", "--dtmf-in-183", "--progress", "180"}, "--progress 183"},
		{[]string{"sbc", "--dtmf-pt", "-1", "--dtmf-in-183", "--call", "+15550111"}, "--call"},
		{[]string{"client", "--bogus"}, "bogus"},
		{[]string{"sbc", "--codecs", "G729"}, "--codecs"},
		{[]string{"sbc", "--codecs", "G722"}, "--codecs"},
		{[]string{"client", "--codecs", "G729"}, "--codecs"},
		{[]string{"client", "--codecs", "PCMA,pcma"}, "--codecs"},
		{[]string{"client", "--codecs", ""}, "--codecs"},
		{[]string{"sbc", "--reject", "200"}, "--reject"},
		{[]string{"sbc", "--progress", "181"}, "--progress"},
		{[]string{"sbc", "--listen", "0.0.0.0:5060"}, "--listen"},
		{[]string{"sbc", "--mediation-media-ports", "9-3"}, "--mediation-media-ports"},
		{[]string{"sbc", "--call", "+1555", "--via", "127.0.0.1:0"}, "--via"},
		{[]string{"sbc", "--expect", "maybe"}, "--expect"},
		{[]string{"demo", "--duration", "-1s"}, "--duration"},
		{[]string{"demo", "--duration", "10ms"}, "--duration 10ms: want 20ms to 30s"},
		{[]string{"demo", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runBinary(t, tt.args...)
			lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
			if res.code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "mediation: "+tt.args[0]+": ") || !strings.Contains(lines[0], tt.want) {
				t.Fatalf("exit %d stderr %q; want 2 and one line naming %q", res.code, res.stderr, tt.want)
			}
		})
	}
}

// TestClientCodecsFlag: the client's --codecs is the list of codecs it
// offers, G722 among them, in the user's order and upper case; not given,
// nil: Skype for Business's full offer.
func TestClientCodecsFlag(t *testing.T) {
	for _, tc := range []struct {
		v     string
		given bool
		want  []string
	}{
		{"", false, nil},
		{"PCMA", true, []string{endpoint.PCMA}},
		{" pcmu, g722 ", true, []string{endpoint.PCMU, endpoint.G722}},
		{"G722,PCMU,PCMA", true, []string{endpoint.G722, endpoint.PCMU, endpoint.PCMA}},
	} {
		got, err := clientCodecList(tc.v, tc.given)
		if err != nil || !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("--codecs %q (given %v): %q, %v; want %q", tc.v, tc.given, got, err, tc.want)
		}
	}
}

func TestLabCommandHelp(t *testing.T) {
	for _, cmd := range []string{"client", "sbc", "demo"} {
		res := runBinary(t, cmd, "-h")
		if res.code != 0 || !strings.Contains(res.stdout, "Usage: mediation "+cmd) || !strings.Contains(res.stdout, "-json") {
			t.Errorf("mediation %s -h: exit %d, stdout %q", cmd, res.code, res.stdout)
		}
	}
	res := runBinary(t, "help")
	for _, cmd := range []string{"client", "sbc", "demo"} {
		if !strings.Contains(res.stdout, cmd) {
			t.Errorf("help does not list %s:\n%s", cmd, res.stdout)
		}
	}
}

// TestClientUnreachableWebService: a client that cannot reach the web
// service is external, which is not an error; with nothing on --via the
// call then fails quickly over TCP and the exit status says so.
func TestClientUnreachableWebService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := freeAddrs(t, 2)
	res := runProc(ctx, t, "client", "--web-service", "http://"+a[0]+"/x", "--via", a[1], "--transport", "tcp", "--json")
	if res.code != 1 {
		t.Fatalf("exit %d, want 1 (stdout %s, stderr %s)", res.code, res.stdout, res.stderr)
	}
	s := parseSummary(t, strings.TrimSpace(res.stdout))
	if s.WebService == nil || s.WebService.Status != 0 || s.WebService.Granted || !strings.Contains(s.WebService.Reason, "unreachable") || s.Pass {
		t.Errorf("summary %+v, want an unreachable web service and a failed call", s)
	}
}

// TestSBCPortInUse: an SBC whose --listen port is taken stops with one
// clause naming the flag, the address once and the reason.
func TestSBCPortInUse(t *testing.T) {
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.LocalAddr().String()
	res := runBinary(t, "sbc", "--listen", addr)
	want := "mediation: sbc: --listen " + addr + ": cannot listen (udp): bind: address already in use\n"
	if res.code != 1 || res.stderr != want {
		t.Errorf("exit %d stderr %q; want 1 and %q", res.code, res.stderr, want)
	}
}

// code408 finds a 408 in the client's output, not the digits inside a
// port number (the client's ephemeral port was 52408 once).
var code408 = regexp.MustCompile(`(^|[^0-9])408([^0-9]|$)`)

// TestClientNoResponse: a client calling an address that swallows its
// INVITE reports that nobody responded, within --response-timeout, in its
// own words: no 408 (no server sent one) and no line of sipgo's.
func TestClientNoResponse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	via := hole.LocalAddr().String()
	res := runProc(ctx, t, "client", "--web-service", "http://"+freeAddrs(t, 1)[0]+"/x", "--via", via, "--response-timeout", "500ms")
	want := "no response from " + via + "/udp (timeout after "
	if res.code != 1 || !strings.Contains(res.stdout, want) || code408.MatchString(res.stdout) || strings.Contains(res.stdout+res.stderr, "Timer_B") ||
		!strings.Contains(res.stdout, ", no final response, ended by error\n") {
		t.Errorf("exit %d, stdout %q stderr %q; want 1 and %q", res.code, res.stdout, res.stderr, want)
	}
}

// TestSBCReject: an SBC told to reject answers the call with that code, and
// that is its success; the caller's is not.
func TestSBCReject(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := freeAddrs(t, 1)[0]
	sbc := startSBC(ctx, t, addr, "--reject", "486", "--calls", "1", "--json")
	// The client calls the SBC directly: no mediation server is needed to
	// see the SBC reject.
	res := runProc(ctx, t, "client", "--web-service", "http://"+freeAddrs(t, 1)[0]+"/x", "--via", addr, "--json")
	cl := parseSummary(t, strings.TrimSpace(res.stdout))
	if res.code != 1 || cl.Code != 486 || cl.Pass {
		t.Errorf("client exit %d, summary %+v; want 1 and 486", res.code, cl)
	}
	sb := sbc.nextSummary(ctx, t)
	if code := sbc.wait(ctx, t); code != 0 || sb.Code != 486 || !sb.Pass || sb.Answered {
		t.Errorf("sbc exit %d, summary %+v; want 0 and a passing 486", code, sb)
	}
}

// TestServeStopsOnSignal: SIGTERM and SIGINT stop `mediation serve` with
// exit code 0 after a clean shutdown.
func TestServeStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d := startDaemon(ctx, t)
			if err := d.proc.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := d.proc.wait(ctx, t); code != 0 {
				t.Fatalf("exit code %d after %v: %s", code, sig, d.proc.stderr.String())
			}
			if strings.Contains(d.proc.stderr.String(), `"level":"error"`) {
				t.Errorf("errors logged during shutdown: %s", d.proc.stderr.String())
			}
		})
	}
}

// TestClientInterruptedSaysSo: a client stopped by SIGINT before its calls
// exits 1 and says how many of them it made, answering or calling.
func TestClientInterruptedSaysSo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab := mediationtest.Start(t, mediationtest.Options{})
	ws := mediationtest.URL(lab.Server, hybridconfig.Path)
	interrupt := func(t *testing.T, p *proc, want string) {
		t.Helper()
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		if code := p.wait(ctx, t); code != 1 || !strings.Contains(p.stderr.String(), want) {
			t.Fatalf("exit %d stderr %q; want 1 and %q", code, p.stderr.String(), want)
		}
	}

	t.Run("answering", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p := startProc(t, "client", "--answer", "--listen", addr, "--calls", "2", "--web-service", ws)
		if err := poll(ctx, func() bool { return p.exited() || tcpListening(addr) }); err != nil || p.exited() {
			t.Fatalf("answering client not listening: %v (stderr %q)", err, p.stderr.String())
		}
		interrupt(t, p, "mediation: client: interrupted: 0 of 2 calls answered\n")
	})

	t.Run("calling", func(t *testing.T) {
		hole, err := net.ListenPacket("udp", "127.0.0.1:0") // takes the INVITE, never answers
		if err != nil {
			t.Fatal(err)
		}
		defer hole.Close()
		p := startProc(t, "client", "--via", hole.LocalAddr().String(), "--web-service", ws, "--calls", "2")
		_ = hole.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, _, err := hole.ReadFrom(make([]byte, 65536)); err != nil {
			t.Fatalf("no INVITE: %v (stderr %q)", err, p.stderr.String())
		}
		interrupt(t, p, "mediation: client: interrupted: 0 of 2 calls placed\n")
	})
}

// TestServeSecondSignalSaysWhatIsLost: a second SIGTERM while the
// shutdown is ending a call (its BYE unanswered by an SBC that stopped)
// ends the process at once, by the signal, as intended for a drain that
// hangs, but logs first that the call being ended is not recorded
// (r24-ops F6).
func TestServeSecondSignalSaysWhatIsLost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// At info, so that a call that ended before the second signal (its
	// "call ended" line) tells a true 0 from a wrong one.
	d := startDaemonWith(ctx, t, "--log-level", "info")
	sbc := startSBC(ctx, t, d.sbc)
	startProc(t, "client", "--via", d.edge, "--web-service", d.webService, "--duration", "30s")
	answered := func() bool {
		res, err := healthClient.Get("http://" + d.admin + "/calls")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		var calls []struct{ AnswerTime *time.Time }
		return json.NewDecoder(res.Body).Decode(&calls) == nil && len(calls) == 1 && calls[0].AnswerTime != nil
	}
	if err := poll(ctx, answered); err != nil {
		t.Fatalf("call not answered: %v (stderr %q)", err, d.proc.stderr.String())
	}
	// The SBC stops: our BYE to it waits for an answer.
	if err := sbc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sbc.cmd.Process.Signal(syscall.SIGCONT) })
	// The signal is only queued by kill(2): the SBC is stopped once the
	// kernel says so (state T), not before (a loaded CI machine had it
	// answer our BYE after the SIGSTOP was sent).
	if err := poll(ctx, func() bool { return processStopped(sbc.cmd.Process.Pid) }); err != nil {
		t.Fatalf("the SBC never stopped: %v", err)
	}
	if err := d.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The shutdown has begun once /healthz says draining.
	if err := poll(ctx, func() bool { return d.proc.exited() || !healthy("http://"+d.http+"/healthz") }); err != nil || d.proc.exited() {
		t.Fatalf("not draining: %v, exited %v (stderr %q)", err, d.proc.exited(), d.proc.stderr.String())
	}
	if err := d.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := d.proc.wait(ctx, t)
	stderr := d.proc.stderr.String()
	if code != -1 || !strings.Contains(stderr, `"message":"second signal during the shutdown: exiting at once; calls still being ended are not recorded, records held in memory are lost"`) {
		t.Fatalf("exit %d (want -1: killed by the signal), stderr %q", code, stderr)
	}
	// The call is still being ended (our BYE to the stopped SBC waits 4 s)
	// unless a loaded machine let it end before the second signal came:
	// then its "call ended" line is there, and 0 is the truth. Otherwise
	// the one call is the one not recorded.
	endedAt := strings.Index(stderr, `"message":"call ended"`)
	ended := endedAt >= 0 && endedAt < strings.Index(stderr, `"calls_not_recorded"`)
	if !(strings.Contains(stderr, `"calls_not_recorded":1`) && !ended) && !(ended && strings.Contains(stderr, `"calls_not_recorded":0`)) {
		t.Fatalf("calls_not_recorded: want 1 (or 0 after the call ended), stderr %q", stderr)
	}
}

// processStopped reports whether every thread of the process pid is
// stopped by a signal (state T in /proc/PID/task/TID/stat; Linux): a group
// stop takes each thread as it next enters the kernel, and a Go process's
// other threads may still run for a moment after the first has stopped.
func processStopped(pid int) bool {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return false
	}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		// The state follows the command name in parentheses, which may
		// itself hold spaces or parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}
