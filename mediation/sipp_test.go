package mediation_test

// The mediation server driven by sipp, the SIP test tool SBC vendors and
// operators use: the scenarios in testdata/sipp play a Skype for Business
// client on the edge side and an SBC on the gateway side, the server runs
// in-process in between. Each case checks sipp's verdict (its scenarios
// check the SDP themselves), the SDP on the wire from sipp's message traces,
// and the server's counters.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/mediation/mediationtest/tools"
	"github.com/mediation-emulator/mediation/sdp"
)

// sippCallLength is sipp's -d: how long answered calls last before the BYE.
const sippCallLength = "200"

// sippCase is one call through the server: sipp plays the caller (uac) on
// one side of the server and the callee (uas) on the other.
type sippCase struct {
	name    string
	inbound bool   // the SBC calls the gateway side; otherwise a client calls the edge side
	uac     string // caller's scenario in testdata/sipp
	uas     string // callee's scenario in testdata/sipp
	bypass  bool   // the server must count the call as media bypass
	failure string // the failed_calls_total reason; "" for an answered call
	// wire checks the SDP that crossed the server, from sipp's traces.
	wire func(t *testing.T, c *sippCall)
	// configure, when set, edits the server's config last.
	configure func(*mediation.Config)
}

var sippCases = []sippCase{
	{name: "outbound-bypass", uac: "sfb-client-bypass.xml", uas: "sbc-answer.xml",
		bypass: true, wire: sippCheckOutbound},
	{name: "outbound-anchored", uac: "sfb-client-anchored.xml", uas: "sbc-answer.xml",
		wire: sippCheckOutbound},
	{name: "inbound-bypass", inbound: true, uac: "sbc-call.xml", uas: "sfb-client-answer.xml",
		bypass: true, wire: sippCheckInbound},
	{name: "inbound-anchored", inbound: true, uac: "sbc-call.xml", uas: "sfb-client-answer-anchored.xml",
		wire: sippCheckInbound},
	{name: "outbound-busy", uac: "sfb-client-busy.xml", uas: "sbc-busy.xml",
		failure: "486", wire: sippCheckRejected},
	{name: "outbound-cancel", uac: "sfb-client-cancel.xml", uas: "sbc-ring.xml",
		failure: "canceled", wire: sippCheckRejected},
	// An SBC whose 183 is reliable and that waits for the PRACK; the trunk
	// offers 100rel (prack: supported, the default).
	{name: "outbound-prack", uac: "sfb-client-bypass.xml", uas: "sbc-answer-100rel.xml",
		bypass: true, wire: sippCheckPrack},
	// The same SBC on a trunk with prack: off: it insists on 100rel though
	// our INVITE did not offer it, and is PRACKed all the same.
	{name: "outbound-prack-insisted", uac: "sfb-client-anchored.xml", uas: "sbc-answer-100rel.xml",
		wire: sippCheckPrack, configure: func(c *mediation.Config) { c.Gateways[0].Prack = mediation.PrackOff }},
	// An SBC that asks for a 4 s session timer and refreshes it with UPDATE
	// for 4.5 s: the server answers each refresh and never ends the call.
	{name: "inbound-session-refresh", inbound: true, uac: "sbc-call-timer.xml", uas: "sfb-client-answer.xml",
		bypass: true, wire: sippCheckInbound,
		configure: func(c *mediation.Config) { c.Gateways[0].SessionTimer.MinSE = time.Second }},
}

func TestSipp(t *testing.T) {
	bin := sippBinary(t)
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, ignore)
	})
	for _, transport := range []string{"udp", "tcp"} {
		for _, tc := range sippCases {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				sippRunCase(t, bin, transport, tc)
			})
		}
	}
}

// sippBinary finds sipp; CI installs it, so only a developer may go without.
func sippBinary(t *testing.T) string {
	t.Helper()
	bin := toolBinary(t, "sipp", "sip-tester")
	if _, err := os.Stat("/proc/net/udp"); err != nil {
		// waitListening reads /proc to see when sipp is ready.
		if os.Getenv("CI") == "" {
			t.Skipf("sipp tests need Linux /proc/net: %v", err)
		}
		t.Fatalf("sipp tests need Linux /proc/net: %v", err)
	}
	return bin
}

// toolBinary finds an external tool that CI installs (Debian package pkg):
// a developer without it skips the test, CI (env CI set) fails it.
func toolBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	return tools.Binary(t, name, pkg)
}

// sippCall is what one case leaves behind for the wire checks.
type sippCall struct {
	tc          sippCase
	uac, uas    []sippMsg // messages each sipp sent and received, in order
	sbc, client []sippMsg // the same traces by role
	low, high   int       // the server's media port range
}

func sippRunCase(t *testing.T, bin, transport string, tc sippCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	dir := t.TempDir()
	uas := sippStartUAS(ctx, t, bin, transport, tc.uas, dir)
	uacPort := sippFreePort(t)
	uacAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(uacPort))

	cfg := sippConfig(tc, transport, uas.addr, uacAddr)
	if tc.configure != nil {
		tc.configure(cfg)
	}
	log := &sippLog{}
	srv := mediationtest.Serve(t, cfg, zerolog.New(log).Level(zerolog.DebugLevel))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", log)
		}
	})

	target := srv.EdgeAddr()
	if tc.inbound {
		target = srv.GatewayAddr()
	}
	uac := sippRunUAC(ctx, t, bin, transport, tc.uac, dir, uacPort, target)
	uas.wait(ctx, t)
	for _, p := range []*sippProc{uac, uas} {
		if code := p.exitCode(); code != 0 {
			t.Errorf("sipp %s exited %d (%s)\n%s", p.scenario, code, sippExitMeaning(code), p.report())
		}
	}
	if t.Failed() {
		return
	}

	c := &sippCall{tc: tc, uac: sippReadTrace(t, uac.msgFile), uas: sippReadTrace(t, uas.msgFile)}
	c.low, c.high = cfg.MediaPortRange()
	c.client, c.sbc = c.uac, c.uas
	if tc.inbound {
		c.client, c.sbc = c.uas, c.uac
	}
	tc.wire(t, c)
	sippCheckCounters(t, srv, tc)
}

// sippConfig is the default configuration on loopback ports, pointed at
// sipp: the callee, and the caller's address as the SBC or edge peer it is.
func sippConfig(tc sippCase, transport string, uas, uac netip.AddrPort) *mediation.Config {
	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen = "127.0.0.1:0"
	cfg.GatewayListen = "127.0.0.1:0"
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	sbc, peer := uas, uac
	if tc.inbound {
		sbc, peer = uac, uas
	}
	cfg.Gateways[0].Address, cfg.Gateways[0].Transport = sbc.String(), transport
	cfg.Edge.Peer, cfg.Edge.PeerTransport = peer.String(), transport
	return cfg
}

// sippCheckCounters: one call in the call's direction, counted as bypass or
// not, ended, and failed only when it was meant to.
func sippCheckCounters(t *testing.T, srv *mediation.Server, tc sippCase) {
	t.Helper()
	dir, other := "outbound", "inbound"
	if tc.inbound {
		dir, other = "inbound", "outbound"
	}
	// The last BYE or ACK can reach the server just after sipp reports.
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", dir)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_media_bypass_calls_active", "direction", dir)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_side_port_pairs_open")

	type sample struct {
		want   float64
		name   string
		labels []string
	}
	samples := []sample{
		{1, "mediationserver_calls_total", []string{"direction", dir}},
		{0, "mediationserver_calls_total", []string{"direction", other}},
		{0, "mediationserver_media_bypass_calls_total", []string{"direction", dir}},
		{0, "mediationserver_failed_calls_total", []string{"direction", dir}},
	}
	if tc.bypass {
		samples[2].want = 1
	}
	if tc.failure != "" {
		samples[3] = sample{1, "mediationserver_failed_calls_total", []string{"direction", dir, "reason", tc.failure}}
	}
	for _, s := range samples {
		got, err := mediationtest.Metric(srv, s.name, s.labels...)
		if err != nil {
			t.Fatal(err)
		}
		if got != s.want {
			t.Errorf("%s%v = %v, want %v", s.name, s.labels, got, s.want)
		}
	}
}

// sippCheckOutbound: in bypass the SBC is offered the client's own media
// address and the client answered with the SBC's plus a=x-bypassid; anchored,
// each side sees a relay port of the server and no bypass ID.
func sippCheckOutbound(t *testing.T, c *sippCall) {
	clientOffer := sippSDP(t, "client's offer", c.client, true, "INVITE")
	sbcOffer := sippSDP(t, "offer to the SBC", c.sbc, false, "INVITE")
	sbcAnswer := sippSDP(t, "SBC's answer", c.sbc, true, "SIP/2.0 200")
	clientAnswer := sippSDP(t, "answer to the client", c.client, false, "SIP/2.0 200")

	sippCheckPlain(t, "offer to the SBC", sbcOffer)
	sippCheckSBCCodecs(t, c.tc.bypass, sbcOffer)
	if c.tc.bypass {
		if sbcOffer.media.RTP() != clientOffer.media.RTP() {
			t.Errorf("SBC offered %s, want the client's media %s", sbcOffer.media.RTP(), clientOffer.media.RTP())
		}
		if clientAnswer.media.RTP() != sbcAnswer.media.RTP() {
			t.Errorf("client answered %s, want the SBC's media %s", clientAnswer.media.RTP(), sbcAnswer.media.RTP())
		}
		if !clientAnswer.media.HasBypassID(mediationtest.DefaultBypassID) {
			t.Errorf("answer to the client lacks a=x-bypassid:%s\n%s", mediationtest.DefaultBypassID, clientAnswer.raw)
		}
		return
	}
	c.checkRelay(t, "offer to the SBC", sbcOffer)
	c.checkRelay(t, "answer to the client", clientAnswer)
	if sbcOffer.media.Port == clientAnswer.media.Port {
		t.Errorf("edge and gateway side share relay port %d", sbcOffer.media.Port)
	}
	if clientAnswer.media.BypassID != "" {
		t.Errorf("anchored answer to the client carries a=x-bypassid:%s", clientAnswer.media.BypassID)
	}
}

// sippCheckPrack: an outbound call through an SBC that insists on 100rel.
// Our INVITE offers 100rel exactly when the trunk's prack is not off; the
// reliable 183 is PRACKed once, in the INVITE's dialog, with RAck naming its
// RSeq and the INVITE's CSeq; the client, which offered no 100rel, gets the
// 183 unreliably; the rest is an ordinary outbound call.
func sippCheckPrack(t *testing.T, c *sippCall) {
	sippCheckOutbound(t, c)
	invite := sippFind(t, c.sbc, false, "INVITE ")
	offered := strings.Contains(strings.ToLower(sippHeaders(invite, "Supported")), "100rel")
	if want := c.tc.configure == nil; offered != want {
		t.Errorf("INVITE to the SBC offers 100rel = %v, want %v (Supported: %q)", offered, want, sippHeaders(invite, "Supported"))
	}
	var pracks []sippMsg
	for _, m := range c.sbc {
		if !m.sent && strings.HasPrefix(m.startLine(), "PRACK ") {
			pracks = append(pracks, m)
		}
	}
	if len(pracks) != 1 {
		t.Fatalf("the SBC got %d PRACKs, want 1", len(pracks))
	}
	cseq, _, _ := strings.Cut(invite.header("CSeq"), " ")
	if got, want := pracks[0].header("RAck"), "1 "+cseq+" INVITE"; got != want {
		t.Errorf("PRACK RAck: %q, want %q", got, want)
	}
	if got, want := pracks[0].header("Call-ID"), invite.header("Call-ID"); got != want {
		t.Errorf("PRACK Call-ID %q, want the INVITE's %q", got, want)
	}
	early := sippFind(t, c.client, false, "SIP/2.0 183")
	if early.header("RSeq") != "" || strings.Contains(early.header("Require"), "100rel") {
		t.Errorf("183 to a client that offered no 100rel is reliable:\n%s", early.raw)
	}
}

// sippFind is the first message sent (or received) whose start line begins
// with start.
func sippFind(t *testing.T, trace []sippMsg, sent bool, start string) sippMsg {
	t.Helper()
	for _, m := range trace {
		if m.sent == sent && strings.HasPrefix(m.startLine(), start) {
			return m
		}
	}
	t.Fatalf("no %q message in the trace", start)
	return sippMsg{}
}

// sippHeaders joins every value of the named header, as a list.
func sippHeaders(m sippMsg, name string) string {
	head, _, _ := strings.Cut(m.raw, "\r\n\r\n")
	var vals []string
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			vals = append(vals, strings.TrimSpace(v))
		}
	}
	return strings.Join(vals, ", ")
}

// sippCheckSBCCodecs: the SBC is offered G.711 and telephone-event only; the
// client's own, in bypass, or exactly the server's PCMU, PCMA, telephone-event
// when the server anchors.
func sippCheckSBCCodecs(t *testing.T, bypass bool, offer sippBody) {
	t.Helper()
	got := sippPayloads(offer.media)
	if !bypass {
		if strings.Join(got, " ") != "0 8 101" {
			t.Errorf("anchored offer to the SBC has payload types %v, want [0 8 101]", got)
		}
		return
	}
	if !sippSubset(got, "0", "8", "101") || !(sippHas(got, "0") || sippHas(got, "8")) {
		t.Errorf("offer to the SBC has payload types %v, want G.711 and telephone-event only", got)
	}
}

// sippCheckInbound: the client is offered the server's relay port with
// a=x-bypassid and the SBC's address as first candidate; the SBC's 200 holds
// the client's media address only when the client answered with the ID.
func sippCheckInbound(t *testing.T, c *sippCall) {
	sbcOffer := sippSDP(t, "SBC's offer", c.sbc, true, "INVITE")
	clientOffer := sippSDP(t, "offer to the client", c.client, false, "INVITE")
	clientAnswer := sippSDP(t, "client's answer", c.client, true, "SIP/2.0 200")
	sbcAnswer := sippSDP(t, "answer to the SBC", c.sbc, false, "SIP/2.0 200")

	c.checkRelay(t, "offer to the client", clientOffer)
	if !clientOffer.media.HasBypassID(mediationtest.DefaultBypassID) {
		t.Errorf("offer to the client lacks a=x-bypassid:%s\n%s", mediationtest.DefaultBypassID, clientOffer.raw)
	}
	if cands := clientOffer.media.Candidates; len(cands) == 0 || cands[0].Addr != sbcOffer.media.RTP() {
		t.Errorf("offer to the client: first candidate %v, want the SBC's media %s", cands, sbcOffer.media.RTP())
	}
	if got := sippPayloads(clientOffer.media); !sippSubset(got, sippPayloads(sbcOffer.media)...) {
		t.Errorf("offer to the client has payload types %v, not among the SBC's %v", got, sippPayloads(sbcOffer.media))
	}
	sippCheckPlain(t, "answer to the SBC", sbcAnswer)
	if c.tc.bypass {
		if sbcAnswer.media.RTP() != clientAnswer.media.RTP() {
			t.Errorf("SBC got answer %s, want the client's media %s", sbcAnswer.media.RTP(), clientAnswer.media.RTP())
		}
		return
	}
	c.checkRelay(t, "answer to the SBC", sbcAnswer)
	if sbcAnswer.media.Port == clientOffer.media.Port {
		t.Errorf("edge and gateway side share relay port %d", sbcAnswer.media.Port)
	}
}

// sippCheckRejected: the SBC got a plain offer; the final answer itself is
// checked by the scenarios (486 relayed, or 200 to CANCEL and 487).
func sippCheckRejected(t *testing.T, c *sippCall) {
	sippCheckPlain(t, "offer to the SBC", sippSDP(t, "offer to the SBC", c.sbc, false, "INVITE"))
}

// checkRelay: an address of the server's own: loopback, in its media range.
func (c *sippCall) checkRelay(t *testing.T, what string, s sippBody) {
	t.Helper()
	if s.media.Addr != netip.MustParseAddr("127.0.0.1") || s.media.Port < c.low || s.media.Port > c.high {
		t.Errorf("%s: media %s, want the server's relay 127.0.0.1:%d-%d\n%s", what, s.media.RTP(), c.low, c.high, s.raw)
	}
}

// sippCheckPlain: an SBC is not an ICE peer and gets no SfB attributes.
func sippCheckPlain(t *testing.T, what string, s sippBody) {
	t.Helper()
	for _, line := range strings.Split(s.raw, "\n") {
		line = strings.TrimSpace(line)
		for _, bad := range []string{"a=candidate", "a=ice-", "a=crypto", "a=x-"} {
			if strings.HasPrefix(line, bad) {
				t.Errorf("%s carries %q", what, line)
			}
		}
	}
}

func sippPayloads(m sdp.Media) []string {
	var pts []string
	for _, c := range m.Codecs {
		pts = append(pts, strconv.Itoa(int(c.PT)))
	}
	return pts
}

// sippSubset reports whether every element of got is one of allowed.
func sippSubset(got []string, allowed ...string) bool {
	for _, g := range got {
		if !sippHas(allowed, g) {
			return false
		}
	}
	return true
}

func sippHas(list []string, v string) bool {
	return slices.Contains(list, v)
}

// sippBody is an SDP body from a trace, raw and parsed.
type sippBody struct {
	raw   string
	media sdp.Media
}

// sippSDP returns the SDP of the first message in trace that was sent (or
// received) and whose start line begins with start, for an INVITE transaction.
func sippSDP(t *testing.T, what string, trace []sippMsg, sent bool, start string) sippBody {
	t.Helper()
	for _, m := range trace {
		if m.sent != sent || !strings.HasPrefix(m.startLine(), start) || !strings.HasSuffix(m.header("CSeq"), "INVITE") {
			continue
		}
		body := m.body()
		media, err := sdp.Parse([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, m.raw)
		}
		return sippBody{raw: body, media: media}
	}
	t.Fatalf("%s: no %q message in the trace", what, start)
	return sippBody{}
}

// sippMsg is one SIP message from a sipp -trace_msg file.
type sippMsg struct {
	sent bool
	raw  string // as on the wire, CRLF line ends
}

func (m sippMsg) startLine() string {
	line, _, _ := strings.Cut(m.raw, "\r\n")
	return line
}

// header is the first value of the named header (full name, any case).
func (m sippMsg) header(name string) string {
	head, _, _ := strings.Cut(m.raw, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// body is the message body, cut at Content-Length: sipp pads its log.
func (m sippMsg) body() string {
	_, body, _ := strings.Cut(m.raw, "\r\n\r\n")
	if n, err := strconv.Atoi(m.header("Content-Length")); err == nil && n <= len(body) {
		body = body[:n]
	}
	return body
}

// sippReadTrace parses a -trace_msg file: each message follows a dashed
// line and a "UDP message sent (N bytes):" / "TCP message received [N]
// bytes :" line. sipp also writes transport warnings there; they are skipped.
func sippReadTrace(t *testing.T, path string) []sippMsg {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("sipp trace: %v", err)
	}
	var msgs []sippMsg
	for _, chunk := range strings.Split("\n"+string(data), "\n-----------------------------------------------")[1:] {
		_, rest, _ := strings.Cut(chunk, "\n") // the timestamp
		kind, raw, ok := strings.Cut(rest, "\n\n")
		if !ok || !strings.Contains(kind, " message ") {
			continue
		}
		msgs = append(msgs, sippMsg{sent: strings.Contains(kind, " sent "), raw: strings.TrimRight(raw, "\n")})
	}
	if len(msgs) == 0 {
		t.Fatalf("sipp trace %s has no message:\n%s", path, data)
	}
	return msgs
}

// sippProc is one sipp run.
type sippProc struct {
	scenario string
	addr     netip.AddrPort // where it listens for SIP
	cmd      *exec.Cmd
	out      *bytes.Buffer // stdout and stderr; read only after done
	done     chan struct{}
	msgFile  string
	errFile  string
}

// sippStart runs sipp on port with scenario; the process is killed, if still
// running, when the test ends.
func sippStart(ctx context.Context, t *testing.T, bin, transport, scenario, dir string, port int, extra ...string) *sippProc {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	mode := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
	base := fmt.Sprintf("%s-%d", strings.TrimSuffix(scenario, ".xml"), port)
	p := &sippProc{
		scenario: scenario,
		addr:     netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)),
		out:      &bytes.Buffer{},
		done:     make(chan struct{}),
		msgFile:  filepath.Join(dir, base+"-messages.log"),
		errFile:  filepath.Join(dir, base+"-errors.log"),
	}
	args := []string{"-sf", path, "-t", mode, "-i", "127.0.0.1", "-bind_local", "-p", strconv.Itoa(port),
		"-mi", "127.0.0.1", "-ci", "127.0.0.1", "-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin",
		"-trace_msg", "-message_file", p.msgFile, "-trace_err", "-error_file", p.errFile}
	p.cmd = exec.CommandContext(ctx, bin, append(args, extra...)...)
	p.cmd.Dir = dir // sipp drops other files it writes in its working directory
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// sippStartUAS starts a listening scenario on a free port and returns once
// sipp has bound it, moving to another port if the one picked was taken
// in between.
func sippStartUAS(ctx context.Context, t *testing.T, bin, transport, scenario, dir string) *sippProc {
	t.Helper()
	for attempt := 0; ; attempt++ {
		p := sippStart(ctx, t, bin, transport, scenario, dir, sippFreePort(t))
		err := p.waitListening(ctx, transport)
		if err == nil {
			return p
		}
		if !p.bindFailed() || attempt == 4 {
			t.Fatalf("sipp %s: %v\n%s", scenario, err, p.report())
		}
	}
}

// sippRunUAC runs a calling scenario to its end, moving to another local
// port if port was taken in between.
func sippRunUAC(ctx context.Context, t *testing.T, bin, transport, scenario, dir string, port int, target netip.AddrPort) *sippProc {
	t.Helper()
	for attempt := 0; ; attempt++ {
		p := sippStart(ctx, t, bin, transport, scenario, dir, port,
			"-s", "15551234", "-d", sippCallLength, target.String())
		p.wait(ctx, t)
		if !p.bindFailed() || attempt == 4 {
			return p
		}
		port = sippFreePort(t)
	}
}

func (p *sippProc) wait(ctx context.Context, t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatalf("sipp %s did not finish: %v", p.scenario, ctx.Err())
	}
}

// waitListening polls /proc/net until sipp's SIP socket is bound: sipp says
// nothing when it is ready, and a probe connection would count as a call.
func (p *sippProc) waitListening(ctx context.Context, transport string) error {
	for {
		if sippBound(p.addr, transport) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("sipp exited %d before listening", p.exitCode())
		case <-ctx.Done():
			return fmt.Errorf("sipp not listening on %s: %w", p.addr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// exitCode is sipp's exit status once done; -1 before.
func (p *sippProc) exitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// bindFailed: sipp exits 254 (-2) when it cannot bind a socket.
func (p *sippProc) bindFailed() bool {
	return p.exitCode() == 254
}

// report is what sipp printed and the unexpected messages it logged.
func (p *sippProc) report() string {
	errs, _ := os.ReadFile(p.errFile)
	msgs, _ := os.ReadFile(p.msgFile)
	return fmt.Sprintf("--- output:\n%s\n--- errors:\n%s\n--- messages:\n%s", p.out, errs, msgs)
}

func sippExitMeaning(code int) string {
	switch code {
	case 1:
		return "at least one call failed"
	case 97:
		return "exit on internal command"
	case 99:
		return "no call processed"
	case 254:
		return "cannot bind a socket"
	case 255:
		return "fatal error"
	}
	return "unknown"
}

// sippFreePort is a loopback port free for UDP and TCP at the time of the
// call; sipp binds it a moment later, so callers retry if it was taken.
func sippFreePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return 0
}

// sippBound reports whether addr is bound: a listening TCP socket, or any
// UDP socket, in /proc/net/{tcp,udp} (address as hex, little-endian on x86).
func sippBound(addr netip.AddrPort, transport string) bool {
	f, err := os.Open("/proc/net/" + transport)
	if err != nil {
		return false
	}
	defer f.Close()
	suffix := fmt.Sprintf(":%04X", addr.Port())
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasSuffix(fields[1], suffix) {
			continue
		}
		if transport == "udp" || fields[3] == "0A" { // 0A: TCP_LISTEN
			return true
		}
	}
	return false
}

// sippLog collects the server's log for a failing test's report; zerolog
// writes each event with one Write from many goroutines.
type sippLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *sippLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *sippLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
