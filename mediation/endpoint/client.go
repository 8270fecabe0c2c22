package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// DefaultClientUserAgent is the User-Agent of a Skype for Business 2016 client.
const DefaultClientUserAgent = "UCCAPI/16.0.7870.2020 OC/16.0.7870.2020 (Skype for Business)"

// ClientConfig configures a simulated Skype for Business client.
type ClientConfig struct {
	// Listen is the SIP address, UDP and TCP on one port; default "127.0.0.1:0".
	Listen string
	// MediaIP is the RTP address; default the Listen IP.
	MediaIP netip.Addr
	// BypassID is what the client got from the bypass web service; "" means
	// it got no bypass and its SDP carries no a=x-bypassid.
	BypassID string
	// UserAgent defaults to DefaultClientUserAgent.
	UserAgent string
	// Codecs, when not empty, are the only codecs the client offers, in
	// this order: "G722", "PCMU", "PCMA" (each once). Empty offers SfB's
	// full list (SILK, G722, ..., PCMU, PCMA, ...), of which the client
	// sends and decodes G.722, PCMU and PCMA: an answer with none of them
	// fails the call.
	Codecs []string
	// ToneHz is the tone the client sends; default 1000.
	ToneHz float64
	// AnswerDelay is the time between 180 Ringing and 200 for inbound calls; default 50ms.
	AnswerDelay time.Duration
	// HangupAfter > 0 makes the client send BYE that long after answering an
	// inbound call; 0 waits for the peer's BYE.
	HangupAfter time.Duration
	// AnswerDTMF are DTMF digits (0-9, *, #, A-D) sent on every call the
	// client answers, once answered; see CallOptions.DTMF.
	AnswerDTMF string
	// Silent binds no media sockets and sends nothing; its SDP names the
	// discard port (9): for signalling-only load, where thousands of calls
	// must neither play a tone nor hold two descriptors each.
	Silent bool
	// Delays, when set, has the client stamp its send time into the first
	// 21 bytes of every audio payload (in place of the tone) and add to it
	// the one-way delay of every stamped packet it receives: a relay's
	// delay, when the sender is in the same process (see SBCConfig.Delays).
	// Such a client keeps no audio for tone detection (Report.DetectedHz is
	// 0): its payloads are not a pure tone, and the detection costs about
	// 20 ms of CPU a call, too much for a load generator. Only G.711 audio
	// is stamped: a stamp does not survive transcoding through G.722.
	Delays *DelayHistogram
	Log    zerolog.Logger
}

// Client simulates a Skype for Business client: SfB-shaped INVITEs and SDP
// (ICE host candidates, a=x-bypassid, the full SfB codec list) and media
// bypass on the answering side.
type Client struct {
	cfg ClientConfig
	a   *agent
}

// StartClient binds the client and serves until ctx is done or Close.
func StartClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultClientUserAgent
	}
	if cfg.ToneHz <= 0 {
		cfg.ToneHz = 1000
	}
	if cfg.AnswerDelay <= 0 {
		cfg.AnswerDelay = 50 * time.Millisecond
	}
	if !validToken(cfg.UserAgent) || !validToken(cfg.BypassID) || strings.ContainsAny(cfg.BypassID, " \t") {
		return nil, errors.New("client config: UserAgent and BypassID must be single-line, BypassID without spaces")
	}
	if err := CheckDigits(cfg.AnswerDTMF); err != nil {
		return nil, fmt.Errorf("client config: AnswerDTMF: %w", err)
	}
	if err := CheckClientCodecs(cfg.Codecs); err != nil {
		return nil, fmt.Errorf("client config: %w", err)
	}
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = nil // SfB's full offer
	}
	c := &Client{cfg: cfg}
	a, err := startAgent(ctx, agentConfig{
		role: "client", listen: cfg.Listen, mediaIP: cfg.MediaIP,
		userAgent: cfg.UserAgent, toneHz: cfg.ToneHz, log: cfg.Log, silent: cfg.Silent, delays: cfg.Delays,
	}, func(a *agent) func(*sip.Request, sip.ServerTransaction) {
		return func(req *sip.Request, tx sip.ServerTransaction) { a.serveInvite(req, tx, c.plan) }
	})
	if err != nil {
		return nil, fmt.Errorf("start client: %w", err)
	}
	c.a = a
	return c, nil
}

// CheckClientCodecs checks a list of codecs a client may offer
// (ClientConfig.Codecs): G722, PCMU and PCMA, in any case, each once.
func CheckClientCodecs(codecs []string) error {
	seen := map[string]bool{}
	for _, c := range codecs {
		name := strings.ToUpper(c)
		if name != G722 && name != PCMU && name != PCMA {
			return fmt.Errorf("codec %q: the client offers only G722, PCMU and PCMA", c)
		}
		if seen[name] {
			return fmt.Errorf("codec %s listed twice", name)
		}
		seen[name] = true
	}
	return nil
}

// Addr is the client's SIP address (UDP and TCP).
func (c *Client) Addr() netip.AddrPort { return c.a.addr }

// Call places an outbound call (client -> PSTN) and returns its report once
// the call ended. The error is the report's Err. From defaults to "alice",
// To to "+15550100".
func (c *Client) Call(ctx context.Context, opt CallOptions) (CallReport, error) {
	opt, err := opt.normalize("alice", "+15550100")
	if err != nil {
		return CallReport{Direction: Outbound, EndedBy: EndedError, Err: err, ReceivedPT: -1, EventPT: -1}, err
	}
	return c.a.dial(ctx, outboundPlan{
		opt: opt,
		offer: func(l localMedia) ([]byte, error) {
			return sfbSDP{local: l, bypassID: c.cfg.BypassID, codecs: c.cfg.Codecs}.build()
		},
		bypassID: c.cfg.BypassID,
		headers:  c.headers(),
	})
}

// NextCall returns the report of the next inbound call the client answered,
// rejected or had cancelled, after it ended.
func (c *Client) NextCall(ctx context.Context) (CallReport, error) { return c.a.nextCall(ctx) }

// Close hangs up or cancels the client's calls, stops it and waits for all
// its goroutines. It is idempotent.
func (c *Client) Close() error { return c.a.close() }

// headers are the SfB-specific headers of the client's INVITE.
func (c *Client) headers() []sip.Header {
	return []sip.Header{
		sip.NewHeader("Supported", "ms-early-media"),
		sip.NewHeader("ms-subnet", subnet(c.a.mediaIP).String()),
		sip.NewHeader("ms-endpoint-location-data", "NetworkScope;ms-media-location-type=Intranet"),
	}
}

// subnet is the network of ip as SfB reports it in ms-subnet (/24 or /64).
func subnet(ip netip.Addr) netip.Addr {
	bits := 24
	if ip.Is6() && !ip.Is4In6() {
		bits = 64
	}
	p, err := ip.Unmap().Prefix(bits)
	if err != nil {
		return ip
	}
	return p.Addr()
}

// plan answers like SfB: the first G.711 codec of the offer (+ telephone-event),
// 180 then 200. With a matching bypass ID (case-insensitive) the answer carries
// a=x-bypassid and media goes to the offer's first host candidate, which in
// CCE bypass is the gateway itself; otherwise to the offer's c=/m= address.
func (c *Client) plan(rm remoteMedia) (answerPlan, error) {
	codec, ok := firstG711(rm.formats)
	if !ok {
		return answerPlan{}, errors.New("offer has no PCMU or PCMA")
	}
	formats, dtmf := []format{codec}, -1
	if ev, ok := eventFormat(rm.formats); ok {
		formats, dtmf = append(formats, ev), int(ev.pt)
	}
	bypass, dest := "", rm.addr
	if c.cfg.BypassID != "" && strings.EqualFold(rm.bypassID, c.cfg.BypassID) {
		bypass = c.cfg.BypassID
		if rm.hostCandidate.IsValid() {
			dest = rm.hostCandidate
		}
	}
	return answerPlan{
		progress:    ProgressRinging,
		delay:       c.cfg.AnswerDelay,
		hangupAfter: c.cfg.HangupAfter,
		digits:      c.cfg.AnswerDTMF,
		codec:       codec,
		dtmf:        dtmf,
		dest:        dest,
		sdp: func(l localMedia) ([]byte, error) {
			return sfbSDP{local: l, bypassID: bypass, formats: formats}.build()
		},
		bypassID: bypass,
	}, nil
}
