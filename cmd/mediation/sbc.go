package main

import (
	"context"
	"flag"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

const sbcUsage = `Usage: mediation sbc [flags]

Plays an SBC / PSTN gateway trunk: plain RFC 3264 G.711 SDP, 183 with early
media, then 200 after --ring. It answers the mediation server's outbound calls
on --listen (the server's --gateway), or with --call places an inbound call to
the server's gateway side (--via).

Per call it prints whether media came from the client directly (bypass) or
from the mediation server (anchored), the codec, packets and whether it heard
the client's tone. The gateway side carries no bypass marker, so the SBC tells
the two apart by the RTP source: inside the server's media IP and port range
(--mediation-media-ip, --mediation-media-ports, the server's --media-ip and
--media-ports) is the server. On one host a client's ephemeral RTP port can
fall inside 49152-57500; run the server with a range below 32768 (and pass it
here) for an exact verdict. The summary also gives RFC 3550 loss and jitter
of the media received and the DTMF digits received as RFC 4733 events or
in-band, as the keys' tones in the audio (and those sent with --dtmf). The
exit status is 0 only when every call passed; DTMF is reported, not judged.

--dtmf-pt -1 makes a trunk without telephone-event: its offers and answers
list none (and its own --dtmf cannot be sent). A mediation server answers a
client with telephone-event only when the other leg has it too, so such a
client sends no events either; add --dtmf-in-183 for an SBC whose 183 lists
telephone-event and whose 200 drops it: the client keeps the 183's answer
and sends its digits as events, which an anchoring server plays to this SBC
as in-band tones.
`

// sbcRun is a validated `mediation sbc` command line.
type sbcRun struct {
	cfg        endpoint.SBCConfig
	call, from string
	via        netip.AddrPort
	transport  string
	duration   time.Duration
	calls      int
	expect     string
	clientTone float64
	anchor     mediaRange
	dtmf       string
	json       bool
}

// sbc runs `mediation sbc`.
func sbc(args []string) int {
	def := mediation.DefaultConfig()
	fs := flag.NewFlagSet("sbc", flag.ContinueOnError)
	listen := fs.String("listen", def.Gateways[0].Address, "SIP `IP:PORT`, UDP and TCP (the server's --gateway); default with --call: any port")
	ring := fs.Duration("ring", time.Second, "time from the provisional response (183 Session Progress) to 200 OK")
	progress := fs.String("progress", endpoint.ProgressSession, "provisional response to an INVITE before the 200: `183|180|none` (183 with SDP and early media; 180 without SDP; none: only the 100)")
	reject := fs.Int("reject", 0, "answer every call with this final `code` (e.g. 486) instead")
	codecs := fs.String("codecs", "PCMA,PCMU", "G.711 `list` in order of preference")
	tone := fs.Float64("tone", mediationtest.DefaultSBCHz, "tone this SBC sends, `Hz`")
	clientTone := fs.Float64("client-tone", mediationtest.DefaultClientHz, "tone the client sends, `Hz`, for the audio check")
	hangup := fs.Duration("hangup-after", 0, "hang up answered calls after this long (0: wait for the BYE)")
	call := fs.String("call", "", "place an inbound call to this `number` instead of answering")
	from := fs.String("from", "+15550199", "calling `number` of --call")
	via := fs.String("via", def.GatewayListen, "the mediation server's gateway side, `IP:PORT`, for --call")
	transport := fs.String("transport", "udp", "SIP transport of --call, `udp|tcp`")
	duration := fs.Duration("duration", 2*time.Second, "how long a placed call lasts after the answer")
	calls := fs.Int("calls", 0, "`N` calls to place (0 means 1) or to answer before exiting (0: until SIGINT)")
	expect := fs.String("expect", expectAny, "media path required for exit status 0: `bypass|anchored|any`")
	mediaIP := fs.String("mediation-media-ip", def.Media.IP, "the mediation server's media `IP` (its --media-ip)")
	mediaPorts := fs.String("mediation-media-ports", def.Media.Ports, "the mediation server's media port range `LOW-HIGH` (its --media-ports)")
	dtmf := fs.String("dtmf", "", "DTMF `digits` (0-9, *, #, A-D) to send as RFC 4733 telephone-events once each call is up, whether it placed the call or answered it")
	dtmfPT := fs.Int("dtmf-pt", 0, "telephone-event payload `type`, 96-127, in the SBC's offers and answers (0: offer 101, answer with the offer's; -1: no telephone-event, DTMF only in-band)")
	dtmfIn183 := fs.Bool("dtmf-in-183", false, "with --dtmf-pt -1, on the calls it answers: list the offer's telephone-event in the 183 all the same, and drop it in the 200")
	jsonOut := fs.Bool("json", false, "print each summary as one JSON object per line")
	logLevel := fs.String("log-level", "warn", "zerolog `level` of the log on stderr")
	if done, code := parseCommand(fs, args, sbcUsage); done {
		return code
	}
	run := sbcRun{call: *call, from: *from, duration: *duration, calls: *calls, expect: *expect,
		clientTone: *clientTone, dtmf: *dtmf, json: *jsonOut,
		cfg: endpoint.SBCConfig{Ring: *ring, Progress: *progress, Reject: *reject, ToneHz: *tone, HangupAfter: *hangup,
			TelephoneEventPT: *dtmfPT, EarlyTelephoneEvent: *dtmfIn183}}
	if err := run.check(*listen, given(fs, "listen"), *codecs, *via, *transport, *mediaIP, *mediaPorts); err != nil {
		return exitFor("sbc", err)
	}
	log, err := labLogger(*logLevel)
	if err != nil {
		return exitFor("sbc", err)
	}
	ctx, stop := signalContext()
	defer stop()
	code, err := run.run(ctx, log, os.Stdout)
	if err != nil {
		return exitFor("sbc", err)
	}
	return code
}

// check validates the flags and fills the derived fields.
func (s *sbcRun) check(listen string, listenGiven bool, codecs, via, transport, mediaIP, mediaPorts string) error {
	placing := s.call != ""
	if placing && !listenGiven {
		listen = "127.0.0.1:0" // the answering SBC of the lab has the default port
	}
	ap, err := addrFlag("listen", listen, false)
	if err != nil {
		return err
	}
	s.cfg.Listen, s.cfg.MediaIP = ap.String(), ap.Addr()
	if s.cfg.Codecs, err = codecList(codecs); err != nil {
		return err
	}
	if s.cfg.Reject != 0 && (s.cfg.Reject < 300 || s.cfg.Reject > 699) {
		return usagef("--reject %d: want a final error code, 300-699", s.cfg.Reject)
	}
	if err := endpoint.CheckProgress(s.cfg.Progress); err != nil {
		return usagef("--progress %s", err)
	}
	if s.cfg.Ring < 0 || s.cfg.HangupAfter < 0 || s.duration <= 0 {
		return usagef("--ring and --hangup-after must not be negative, --duration must be positive")
	}
	if s.calls < 0 {
		return usagef("--calls %d: want 0 or more", s.calls)
	}
	if err := endpoint.CheckTelephoneEventPT(s.cfg.TelephoneEventPT); err != nil {
		return usagef("--dtmf-pt %s", err)
	}
	if s.cfg.EarlyTelephoneEvent {
		switch {
		case s.cfg.TelephoneEventPT != endpoint.NoTelephoneEvent:
			return usagef("--dtmf-in-183 needs --dtmf-pt -1: it drops telephone-event from the 200 only")
		case s.cfg.Progress != endpoint.ProgressSession:
			return usagef("--dtmf-in-183 needs --progress %s: a 183 with SDP", endpoint.ProgressSession)
		case placing:
			return usagef("--dtmf-in-183 changes the answers of the calls the SBC answers: not with --call")
		}
	}
	if s.dtmf, err = dtmfFlag(s.dtmf); err != nil {
		return err
	}
	s.cfg.AnswerDTMF = s.dtmf
	if err := checkExpect(s.expect); err != nil {
		return err
	}
	if s.anchor, err = parseMediaRange(mediaIP, mediaPorts); err != nil {
		return err
	}
	if !placing {
		return nil
	}
	if s.calls == 0 {
		s.calls = 1
	}
	for _, u := range []string{s.call, s.from} {
		if !validNumber(u) {
			return usagef("%q is not a number or SIP user part", u)
		}
	}
	if s.via, err = addrFlag("via", via, true); err != nil {
		return err
	}
	s.transport, err = checkTransport(transport)
	return err
}

// parseMediaRange reads the server's media IP and LOW-HIGH port range.
func parseMediaRange(ip, ports string) (mediaRange, error) {
	addr, err := ipFlag("mediation-media-ip", ip)
	if err != nil {
		return mediaRange{}, err
	}
	lowText, highText, ok := strings.Cut(ports, "-")
	low, errLow := strconv.ParseUint(strings.TrimSpace(lowText), 10, 16)
	high, errHigh := strconv.ParseUint(strings.TrimSpace(highText), 10, 16)
	if !ok || errLow != nil || errHigh != nil || low == 0 || low > high {
		return mediaRange{}, usagef("--mediation-media-ports %q: want LOW-HIGH such as 49152-57500", ports)
	}
	return mediaRange{ip: addr, low: uint16(low), high: uint16(high)}, nil
}

// run starts the SBC and places or answers the calls.
func (s sbcRun) run(ctx context.Context, log zerolog.Logger, out io.Writer) (int, error) {
	s.cfg.Log = log
	ep, err := endpoint.StartSBC(ctx, s.cfg)
	if err != nil {
		return 0, listenError("--listen", err)
	}
	defer ep.Close()
	log.Info().Stringer("sip", ep.Addr()).Msg("sbc ready")
	rep := &reporter{w: out, json: s.json}
	j := judgement{expect: s.expect, wantHz: s.clientTone, wantCode: 200, dtmf: s.dtmf,
		noEvents: s.cfg.TelephoneEventPT == endpoint.NoTelephoneEvent}
	if s.call == "" && s.cfg.Reject != 0 {
		j.wantCode = s.cfg.Reject // only the calls it answers
	}
	report := func(r endpoint.CallReport) { rep.report(summarize(roleSBC, r, sbcPath(r, s.anchor), j)) }
	if s.call == "" {
		answerCalls(ctx, ep.NextCall, s.calls, report)
		return rep.exitCode(s.calls), nil
	}
	for range s.calls {
		r, _ := ep.Call(ctx, endpoint.CallOptions{Target: s.via, Transport: s.transport, To: s.call, From: s.from,
			Duration: s.duration, DTMF: s.dtmf})
		if ctx.Err() != nil && r.Code == 0 {
			break
		}
		report(r)
	}
	return rep.exitCode(s.calls), nil
}
