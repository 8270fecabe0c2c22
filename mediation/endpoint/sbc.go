package endpoint

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// DefaultSBCUserAgent is the User-Agent of the simulated SBC.
const DefaultSBCUserAgent = "mediation-emulator-sbc/1.0"

// SBCConfig configures a simulated SBC / PSTN gateway trunk.
type SBCConfig struct {
	// Listen is the SIP address, UDP and TCP on one port; default "127.0.0.1:0"
	// (a port free for both is searched).
	Listen string
	// MediaIP is the RTP address; default the Listen IP.
	MediaIP netip.Addr
	// Codecs is the answer and offer preference; default [PCMA, PCMU], so
	// PCMU-first clients get transcoded when the call is anchored.
	Codecs []string
	// Ring is the delay between the provisional response (183 Session
	// Progress with SDP, by default) and 200; default 50ms.
	Ring time.Duration
	// Progress is the provisional response before the 200, after the 100:
	// ProgressSession ("183", the default: 183 with the answer SDP and
	// early media, as CCE's SBCs do), ProgressRinging ("180": 180 without
	// SDP, media with the 200) or ProgressNone ("none": the 200 follows
	// the 100, the flow of the README's signalling load targets).
	Progress string
	// Reject, e.g. 486, answers 100 and then this final code, without 183.
	Reject int
	// NoAnswer sends the provisional response and then never answers
	// (until CANCEL).
	NoAnswer bool
	// HangupAfter > 0 sends BYE that long after answering; 0 waits for the peer's BYE.
	HangupAfter time.Duration
	// ToneHz is the tone the SBC sends; default 440.
	ToneHz float64
	// TelephoneEventPT is the payload type of telephone-event (DTMF) in
	// the SBC's offers and answers, 96-127. 0 offers 101 and answers with
	// the offer's. Another value in an answer is what RFC 3264 §6.1 allows
	// but discourages; it makes a relay in between remap the payload type.
	// NoTelephoneEvent (-1) is a trunk without RFC 4733: its offers and
	// answers have no telephone-event, so it sends no DTMF events
	// (AnswerDTMF and CallOptions.DTMF are not sent) and receives DTMF
	// only in-band (CallReport.DigitsReceivedInBand).
	TelephoneEventPT int
	// EarlyTelephoneEvent, with TelephoneEventPT NoTelephoneEvent and
	// Progress ProgressSession, answers the offer's telephone-event in the
	// 183 all the same and drops it in the 200, as some SBCs change their
	// answer: the caller keeps the 183's answer (RFC 3261 §13.2.1) and
	// sends its DTMF as events, which an anchoring mediation server plays
	// to the SBC as in-band tones. Only the calls the SBC answers.
	EarlyTelephoneEvent bool
	// AnswerDTMF are DTMF digits (0-9, *, #, A-D) sent on every call the
	// SBC answers, once answered; see CallOptions.DTMF.
	AnswerDTMF string
	// UserAgent defaults to DefaultSBCUserAgent.
	UserAgent string
	// Silent binds no media sockets and sends nothing; its SDP names the
	// discard port (9): for signalling-only load, where thousands of calls
	// must neither play a tone nor hold two descriptors each.
	Silent bool
	// Delays is ClientConfig.Delays for the SBC's media (no tone detection
	// either).
	Delays *DelayHistogram
	Log    zerolog.Logger
}

// SBC simulates an SBC / PSTN gateway: plain RFC 3264 G.711 SDP, early media
// with 183, and configurable busy, no-answer and hang-up behaviour.
type SBC struct {
	cfg     SBCConfig
	formats []format // offer order, telephone-event last
	a       *agent
}

// StartSBC binds the SBC and serves until ctx is done or Close.
func StartSBC(ctx context.Context, cfg SBCConfig) (*SBC, error) {
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []string{PCMA, PCMU}
	}
	if cfg.Ring <= 0 {
		cfg.Ring = 50 * time.Millisecond
	}
	if cfg.ToneHz <= 0 {
		cfg.ToneHz = 440
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultSBCUserAgent
	}
	if cfg.Progress == "" {
		cfg.Progress = ProgressSession
	}
	if err := CheckProgress(cfg.Progress); err != nil {
		return nil, fmt.Errorf("sbc config: Progress: %w", err)
	}
	if cfg.Reject != 0 && (cfg.Reject < 300 || cfg.Reject > 699) {
		return nil, fmt.Errorf("sbc config: Reject %d is not a final error code", cfg.Reject)
	}
	if !validToken(cfg.UserAgent) {
		return nil, errors.New("sbc config: UserAgent must be a single line")
	}
	if err := CheckTelephoneEventPT(cfg.TelephoneEventPT); err != nil {
		return nil, fmt.Errorf("sbc config: TelephoneEventPT %w", err)
	}
	if cfg.EarlyTelephoneEvent && (cfg.TelephoneEventPT != NoTelephoneEvent || cfg.Progress != ProgressSession) {
		return nil, fmt.Errorf("sbc config: EarlyTelephoneEvent needs TelephoneEventPT %d (no telephone-event in the 200) and Progress %s (a 183 with SDP), not %d and %s",
			NoTelephoneEvent, ProgressSession, cfg.TelephoneEventPT, cfg.Progress)
	}
	if err := CheckDigits(cfg.AnswerDTMF); err != nil {
		return nil, fmt.Errorf("sbc config: AnswerDTMF: %w", err)
	}
	s := &SBC{cfg: cfg}
	for _, name := range cfg.Codecs {
		f, err := defaultFormat(name)
		if err != nil {
			return nil, fmt.Errorf("sbc config: %w", err)
		}
		s.formats = append(s.formats, f)
	}
	if cfg.TelephoneEventPT != NoTelephoneEvent {
		s.formats = append(s.formats, s.eventFormat(dtmfFormat))
	}
	a, err := startAgent(ctx, agentConfig{
		role: "sbc", listen: cfg.Listen, mediaIP: cfg.MediaIP,
		userAgent: cfg.UserAgent, toneHz: cfg.ToneHz, log: cfg.Log, silent: cfg.Silent, delays: cfg.Delays,
	}, func(a *agent) func(*sip.Request, sip.ServerTransaction) {
		return func(req *sip.Request, tx sip.ServerTransaction) { a.serveInvite(req, tx, s.plan) }
	})
	if err != nil {
		return nil, fmt.Errorf("start sbc: %w", err)
	}
	s.a = a
	return s, nil
}

// The provisional responses an answering endpoint sends before its 200
// (SBCConfig.Progress).
const (
	// ProgressSession is 183 Session Progress with the answer SDP, and
	// early media from then on.
	ProgressSession = "183"
	// ProgressRinging is 180 Ringing without SDP; media starts with the 200.
	ProgressRinging = "180"
	// ProgressNone is no provisional response besides the 100.
	ProgressNone = "none"
)

// NoTelephoneEvent is SBCConfig.TelephoneEventPT for a trunk without
// telephone-event.
const NoTelephoneEvent = -1

// CheckTelephoneEventPT validates an SBCConfig.TelephoneEventPT value: 0,
// NoTelephoneEvent or a dynamic payload type.
func CheckTelephoneEventPT(pt int) error {
	if pt != 0 && pt != NoTelephoneEvent && (pt < 96 || pt > 127) {
		return fmt.Errorf("%d: want a dynamic payload type, 96-127 (0: the default, %d: none)", pt, NoTelephoneEvent)
	}
	return nil
}

// CheckProgress validates an SBCConfig.Progress value.
func CheckProgress(p string) error {
	switch p {
	case ProgressSession, ProgressRinging, ProgressNone:
		return nil
	}
	return fmt.Errorf("%q: want %s, %s or %s", p, ProgressSession, ProgressRinging, ProgressNone)
}

// Addr is the SBC's SIP address (UDP and TCP).
func (s *SBC) Addr() netip.AddrPort { return s.a.addr }

// Call places a call from the PSTN towards opt.Target (a mediation server's
// gateway side, or a client directly) and returns its report once the call
// ended. The error is the report's Err. From defaults to "+15550199", To to "alice".
func (s *SBC) Call(ctx context.Context, opt CallOptions) (CallReport, error) {
	opt, err := opt.normalize("+15550199", "alice")
	if err == nil && (!validToken(opt.BypassID) || strings.ContainsAny(opt.BypassID, " \t")) {
		err = fmt.Errorf("call options: bypass ID %q is not a single token", opt.BypassID)
	}
	if err != nil {
		return CallReport{Direction: Outbound, EndedBy: EndedError, Err: err, ReceivedPT: -1, EventPT: -1}, err
	}
	return s.a.dial(ctx, outboundPlan{
		opt: opt,
		offer: func(l localMedia) ([]byte, error) {
			return plainSDP(l, s.formats, sessionID(), opt.BypassID)
		},
		bypassID: opt.BypassID,
	})
}

// NextCall returns the report of the next inbound call the SBC answered,
// rejected or had cancelled, after it ended.
func (s *SBC) NextCall(ctx context.Context) (CallReport, error) { return s.a.nextCall(ctx) }

// Close hangs up or cancels the SBC's calls, stops it and waits for all its
// goroutines. It is idempotent.
func (s *SBC) Close() error { return s.a.close() }

// plan answers with the preferred codec among those offered (+ the offer's
// telephone-event, unless the SBC has none), the configured provisional
// (183 with SDP and early media by default), then 200 after Ring.
func (s *SBC) plan(rm remoteMedia) (answerPlan, error) {
	if s.cfg.Reject != 0 {
		return answerPlan{reject: s.cfg.Reject}, nil
	}
	codec, ok := preferredG711(rm.formats, s.cfg.Codecs)
	if !ok {
		return answerPlan{}, fmt.Errorf("offer has none of %v", s.cfg.Codecs)
	}
	formats, dtmf := []format{codec}, -1
	ev, offered := eventFormat(rm.formats)
	if offered && s.cfg.TelephoneEventPT != NoTelephoneEvent {
		ev = s.eventFormat(ev)
		formats, dtmf = append(formats, ev), int(ev.pt)
	}
	id := sessionID()
	p := answerPlan{
		digits:      s.cfg.AnswerDTMF,
		progress:    s.cfg.Progress,
		delay:       s.cfg.Ring,
		noAnswer:    s.cfg.NoAnswer,
		hangupAfter: s.cfg.HangupAfter,
		codec:       codec,
		dtmf:        dtmf,
		dest:        rm.addr,
		sdp: func(l localMedia) ([]byte, error) {
			return plainSDP(l, formats, id, "")
		},
	}
	if s.cfg.EarlyTelephoneEvent && offered {
		// The 183 is the first version of the SDP, the 200 its change.
		early := []format{codec, ev}
		p.early = &earlyPlan{dtmf: int(ev.pt), sdp: func(l localMedia) ([]byte, error) {
			return plainSDPVersion(l, early, id, id-1, "")
		}}
	}
	return p, nil
}

// eventFormat is telephone-event with the configured payload type, if any,
// instead of f's.
func (s *SBC) eventFormat(f format) format {
	if s.cfg.TelephoneEventPT > 0 {
		f.pt = uint8(s.cfg.TelephoneEventPT)
	}
	return f
}

// sessionID is an o= session ID; NTP-like values keep it positive in 63 bits.
func sessionID() uint64 { return rand.Uint64() >> 2 }
