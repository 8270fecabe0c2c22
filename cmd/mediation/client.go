package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

const clientUsage = `Usage: mediation client [flags]

Plays a Skype for Business client. It first asks the bypass web service
(--web-service) whether it may use media bypass, with the User-Agent of build
--version, from --source-ip, and offers a=x-bypassid only when granted:
16.0.7870.2020 from an internal address gets bypass, 15.0.4420.1017 plays Lync
2013 (no bypass), and an address outside the server's internal_subnets gets
403 (external client, no bypass).

It then calls --to through the mediation server's edge side (--via), or with
--answer waits on --listen (the server's edge peer) for inbound calls, and
prints one summary per call: bypassed or anchored, the media path, codec,
packets with RFC 3550 loss and jitter, whether it heard the far end's tone,
and the DTMF digits it sent (--dtmf, as RFC 4733 events once a call is
answered) and received (as events, or in-band: the keys' tones in the
audio). The exit status is 0 only when every call was answered, the audio
checked out and --expect matched; DTMF is reported, not judged.
`

// clientRun is a validated `mediation client` command line.
type clientRun struct {
	url, userAgent   string
	source           netip.Addr
	listen           string
	via              netip.AddrPort
	transport        string
	to, from         string
	duration         time.Duration
	responseTimeout  time.Duration
	expect           string
	answer           bool
	calls            int
	codecs           []string
	tone, farEndTone float64
	dtmf             string
	json             bool
	// dns is the DNS server the web service's name is resolved through;
	// invalid: the URL is used as written.
	dns netip.AddrPort
}

// client runs `mediation client`.
func client(args []string) int {
	def := mediation.DefaultConfig()
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	url := fs.String("web-service", def.AdvertisedWebServiceURL(), "bypass web service `URL` (HybridConfigServiceInternalUrl)")
	version := fs.String("version", mediationtest.SupportedVersion, "Skype for Business `build` in the User-Agent; 15.0.4420.1017 plays Lync 2013")
	source := fs.String("source-ip", "127.0.0.1", "local `IP` of the web-service fetch, SIP and RTP")
	to := fs.String("to", "+15550100", "called `number`")
	from := fs.String("from", "+15550111", "calling `number`")
	via := fs.String("via", def.Edge.Listen, "the mediation server's edge side, `IP:PORT`")
	transport := fs.String("transport", "udp", "SIP transport, `udp|tcp`")
	duration := fs.Duration("duration", 2*time.Second, "how long a placed call lasts after the answer")
	expect := fs.String("expect", expectAny, "media path required for exit status 0: `bypass|anchored|any`")
	answer := fs.Bool("answer", false, "wait for inbound calls on --listen instead of calling")
	listen := fs.String("listen", def.Edge.Peer, "SIP `IP:PORT` to answer on with --answer (the server's edge peer); default when calling: --source-ip, any port")
	calls := fs.Int("calls", 0, "`N` calls to place (0 means 1) or, with --answer, to answer before exiting (0: until SIGINT)")
	codecs := fs.String("codecs", "", "the only codecs the client offers, a `list` in order of preference of G722, PCMU and PCMA (one G.711 law makes an anchored call transcode when the SBC prefers the other); default: Skype for Business's full offer, SILK, G722, ..., PCMU, PCMA, ..., of which the client sends and decodes G722, PCMU and PCMA")
	tone := fs.Float64("tone", mediationtest.DefaultClientHz, "tone this client sends, `Hz`")
	farTone := fs.Float64("sbc-tone", mediationtest.DefaultSBCHz, "tone the SBC sends, `Hz`, for the audio check")
	dtmf := fs.String("dtmf", "", "DTMF `digits` (0-9, *, #, A-D) to send as RFC 4733 telephone-events once each call is up, whether it placed the call or answered it")
	jsonOut := fs.Bool("json", false, "print each summary as one JSON object per line")
	logLevel := fs.String("log-level", "warn", "zerolog `level` of the log on stderr")
	responseTimeout := fs.Duration("response-timeout", 32*time.Second, "how long a placed call waits for any response to its INVITE (RFC 3261 Timer B: 32s)")
	dnsServer := fs.String("dns", "", "resolve the web service's host name through this DNS server, `IP:PORT`, from --source-ip, as a client does (default: connect to the URL as written)")
	if done, code := parseCommand(fs, args, clientUsage); done {
		return code
	}
	run := clientRun{url: *url, to: *to, from: *from, duration: *duration, expect: *expect, answer: *answer,
		calls: *calls, tone: *tone, farEndTone: *farTone, dtmf: *dtmf, json: *jsonOut, responseTimeout: *responseTimeout}
	var err error
	if run.codecs, err = clientCodecList(*codecs, given(fs, "codecs")); err != nil {
		return exitFor("client", err)
	}
	if err := run.check(*version, *source, *via, *transport, *listen, given(fs, "listen")); err != nil {
		return exitFor("client", err)
	}
	if *dnsServer != "" {
		if run.dns, err = addrFlag("dns", *dnsServer, true); err != nil {
			return exitFor("client", err)
		}
	}
	log, err := labLogger(*logLevel)
	if err != nil {
		return exitFor("client", err)
	}
	ctx, stop := signalContext()
	defer stop()
	code, err := run.run(ctx, log, os.Stdout, os.Stderr)
	if err != nil {
		return exitFor("client", err)
	}
	return code
}

// check validates the flags and fills the derived fields.
func (c *clientRun) check(version, source, via, transport, listen string, listenGiven bool) error {
	c.userAgent = endpoint.SfBUserAgent(version)
	if v, ok := hybridconfig.ClientVersion(c.userAgent); !ok || v.String() != version {
		return usagef("--version %q: want a four-part build such as 16.0.7870.2020", version)
	}
	var err error
	if c.source, err = ipFlag("source-ip", source); err != nil {
		return err
	}
	if c.via, err = addrFlag("via", via, true); err != nil {
		return err
	}
	if c.transport, err = checkTransport(transport); err != nil {
		return err
	}
	if err := checkExpect(c.expect); err != nil {
		return err
	}
	if c.duration <= 0 {
		return usagef("--duration %s: want a positive duration", c.duration)
	}
	if c.responseTimeout <= 0 {
		return usagef("--response-timeout %s: want a positive duration", c.responseTimeout)
	}
	if c.dtmf, err = dtmfFlag(c.dtmf); err != nil {
		return err
	}
	if c.calls < 0 {
		return usagef("--calls %d: want 0 or more", c.calls)
	}
	if !c.answer && c.calls == 0 {
		c.calls = 1
	}
	for _, u := range []string{c.to, c.from} {
		if !validNumber(u) {
			return usagef("%q is not a number or SIP user part", u)
		}
	}
	c.listen = netip.AddrPortFrom(c.source, 0).String()
	if c.answer || listenGiven {
		ap, err := addrFlag("listen", listen, c.answer)
		if err != nil {
			return err
		}
		c.listen = ap.String()
	}
	return nil
}

// run fetches the web service, starts the client and places or answers the
// calls. The error is for what stopped the client from running at all; a
// signal before the last call is said on errOut.
func (c clientRun) run(ctx context.Context, log zerolog.Logger, out, errOut io.Writer) (int, error) {
	fetchCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	grant, err := c.fetch(fetchCtx)
	cancel()
	if err != nil {
		return 0, err
	}
	ws := &webServiceSummary{URL: c.url, UserAgent: c.userAgent, Source: c.source.String(),
		Status: grant.Status, Granted: grant.Enabled, BypassID: grant.BypassID, Reason: grant.Reason}
	ep, err := endpoint.StartClient(ctx, endpoint.ClientConfig{Listen: c.listen, MediaIP: c.source,
		BypassID: grant.BypassID, UserAgent: c.userAgent, Codecs: c.codecs, ToneHz: c.tone, AnswerDTMF: c.answerDTMF(), Log: log})
	if err != nil {
		return 0, listenError("--listen", err)
	}
	defer ep.Close()
	log.Info().Stringer("sip", ep.Addr()).Bool("bypass_granted", grant.Enabled).Int("web_service_status", grant.Status).
		Str("reason", grant.Reason).Msg("client ready")
	rep := &reporter{w: out, json: c.json}
	j := judgement{expect: c.expect, wantHz: c.farEndTone, wantCode: 200, dtmf: c.dtmf}
	reported := 0
	// cut: the signal ended a call it reported before its time (a CANCEL
	// while it rang, a BYE before --duration): the run is interrupted
	// even when that was its last call (r25-bench F5: --calls 1).
	cut := false
	report := func(r endpoint.CallReport) {
		s := summarize(roleClient, r, clientPath(r), j)
		s.WebService = ws
		rep.report(s)
		reported++
		if ctx.Err() != nil && r.Err != nil {
			cut = true
		}
	}
	// A signal before the last call ended ends the run with calls missing
	// or cut short (exit 1): said, so that a CI log shows why.
	interrupted := func(verb string) {
		if ctx.Err() == nil || c.calls == 0 || reported >= c.calls && !cut {
			return
		}
		last := ""
		if cut {
			last = ", the last one cut short"
		}
		fmt.Fprintf(errOut, "mediation: client: interrupted: %d of %d calls %s%s\n", reported, c.calls, verb, last)
	}
	if c.answer {
		answerCalls(ctx, ep.NextCall, c.calls, report)
		interrupted("answered")
		return rep.exitCode(c.calls), nil
	}
	for range c.calls {
		r, _ := ep.Call(ctx, endpoint.CallOptions{Target: c.via, Transport: c.transport, To: c.to, From: c.from,
			Duration: c.duration, DTMF: c.dtmf, ResponseTimeout: c.responseTimeout})
		if ctx.Err() != nil && r.Code == 0 {
			break // interrupted before anything happened: nothing to report
		}
		report(r)
	}
	interrupted("placed")
	return rep.exitCode(c.calls), nil
}

// fetch asks the web service, after resolving its name through --dns when
// given: a client whose lookup fails cannot reach the service, so it is
// external (no bypass), as in Cloud Connector.
func (c clientRun) fetch(ctx context.Context) (endpoint.BypassGrant, error) {
	if !c.dns.IsValid() {
		return endpoint.FetchBypass(ctx, c.url, c.userAgent, c.source)
	}
	name, err := resolveWebService(ctx, c.url, c.dns, c.source)
	if err != nil {
		return endpoint.BypassGrant{Reason: "web service name unresolved (" + err.Error() + "): external client"}, nil
	}
	if name.URL == "" {
		return endpoint.BypassGrant{Reason: name.unresolvedReason()}, nil
	}
	return endpoint.FetchBypass(ctx, name.URL, c.userAgent, c.source)
}

// answerDTMF are the digits to send on answered calls: --dtmf with --answer.
func (c clientRun) answerDTMF() string {
	if c.answer {
		return c.dtmf
	}
	return ""
}
