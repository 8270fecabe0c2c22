package main

// This file judges one call from one end's report — the simulated client's
// or the simulated SBC's — and renders the summary that `mediation client`
// and `mediation sbc` print.

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/sdp"
)

// Values of --expect.
const (
	expectAny      = "any"
	expectBypass   = "bypass"
	expectAnchored = "anchored"
)

// Media paths one end can tell apart.
const (
	pathBypassed = "bypassed"
	pathAnchored = "anchored"
	pathNone     = "no media"
	pathUnknown  = "unknown"
)

// Roles of the end that judges.
const (
	roleClient = "client"
	roleSBC    = "sbc"
)

// toneTolerance is how far the detected tone may be from the far end's.
const toneTolerance = 25.0

// judgement is what a call is checked against.
type judgement struct {
	expect string  // expectAny, expectBypass or expectAnchored
	wantHz float64 // the far end's tone
	// wantCode is the final response that counts as success: 200, or the
	// code an SBC was told to reject with.
	wantCode int
	// dtmf are the digits this end was told to send (--dtmf). DTMF is
	// reported, not judged: a far end without telephone-event is no failure.
	dtmf string
	// noEvents says this end itself negotiates no telephone-event
	// (`mediation sbc --dtmf-pt -1`), so its dtmf cannot go as events.
	noEvents bool
}

// mediaPath is one end's view of where the media went.
type mediaPath struct {
	path  string // pathBypassed, ...
	why   string // the evidence, in a sentence
	drawn string // e.g. "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000"
}

// webServiceSummary is what a client got from the bypass web service.
type webServiceSummary struct {
	URL       string `json:"url"`
	UserAgent string `json:"user_agent"`
	Source    string `json:"source"`
	Status    int    `json:"status"`
	Granted   bool   `json:"granted"`
	BypassID  string `json:"bypass_id,omitempty"`
	Reason    string `json:"reason"`
}

// callSummary is the one summary printed per call.
type callSummary struct {
	Call int    `json:"call"`
	Role string `json:"role"`
	// Direction is as the mediation server counts it: outbound is
	// client -> PSTN, inbound is PSTN -> client, whichever end reports.
	Direction  string             `json:"direction"`
	From       string             `json:"from"`
	To         string             `json:"to"`
	CallID     string             `json:"call_id"`
	Code       int                `json:"code"`
	Answered   bool               `json:"answered"`
	EndedBy    string             `json:"ended_by"`
	WebService *webServiceSummary `json:"web_service,omitempty"`
	Media      string             `json:"media"`
	MediaWhy   string             `json:"media_reason"`
	Path       string             `json:"path"`
	MediaLocal string             `json:"media_local"`
	MediaTo    string             `json:"media_to"`
	MediaFrom  string             `json:"media_from"`
	Codec      string             `json:"codec"`
	// Sent and Received count audio packets.
	Sent     int `json:"packets_sent"`
	Received int `json:"packets_received"`
	// PacketsLost and LossPercent are RFC 3550's cumulative loss of what we
	// received, from its sequence numbers (lost of expected); JitterMs is
	// its interarrival jitter of the audio. All nil when nothing was received.
	PacketsLost *int     `json:"packets_lost"`
	LossPercent *float64 `json:"loss_percent"`
	JitterMs    *float64 `json:"jitter_ms"`
	// DTMF are the digits we were asked to send, DigitsSent those sent
	// whole and DigitsReceived those recognised, as RFC 4733 events on the
	// negotiated telephone-event payload type DTMFPT (-1: none negotiated).
	// DigitsReceivedInBand are those heard as tones in the received audio
	// (endpoint.CallReport.DigitsReceivedInBand).
	DTMF                 string   `json:"dtmf"`
	DTMFPT               int      `json:"dtmf_pt"`
	DigitsSent           string   `json:"digits_sent"`
	DigitsReceived       string   `json:"digits_received"`
	DigitsReceivedInBand string   `json:"digits_received_inband"`
	HeardHz              float64  `json:"heard_hz"`
	WantHz               float64  `json:"want_hz"`
	AudioOK              bool     `json:"audio_ok"`
	Expect               string   `json:"expect"`
	Pass                 bool     `json:"pass"`
	Problems             []string `json:"problems,omitempty"`
	Error                string   `json:"error,omitempty"`
	// noEvents is judgement.noEvents, for the text.
	noEvents bool
}

// summarize judges a report against j with the end's view of the media path.
func summarize(role string, r endpoint.CallReport, mp mediaPath, j judgement) callSummary {
	s := callSummary{
		Role: role, Direction: serverDirection(role, r.Direction), From: r.From, To: r.To, CallID: r.CallID,
		Code: r.Code, Answered: r.Code >= 200 && r.Code < 300, EndedBy: r.EndedBy,
		Media: mp.path, MediaWhy: mp.why, Path: mp.drawn,
		MediaLocal: addrString(r.MediaLocal), MediaTo: addrString(r.MediaTo), MediaFrom: addrString(r.MediaFrom),
		Codec: r.Codec, Sent: r.PacketsSent, Received: r.PacketsReceived,
		DTMF: j.dtmf, DTMFPT: r.EventPT, DigitsSent: r.DigitsSent, DigitsReceived: r.DigitsReceived,
		DigitsReceivedInBand: r.DigitsReceivedInBand, noEvents: j.noEvents,
		HeardHz: math.Round(r.DetectedHz), WantHz: j.wantHz, Expect: j.expect,
	}
	if r.PacketsExpected > 0 {
		lost := r.PacketsLost
		loss := math.Round(float64(lost)/float64(r.PacketsExpected)*1000) / 10
		jitter := math.Round(float64(r.Jitter)/float64(time.Microsecond)) / 1000
		s.PacketsLost, s.LossPercent, s.JitterMs = &lost, &loss, &jitter
	}
	s.AudioOK = r.PacketsReceived > 0 && math.Abs(r.DetectedHz-j.wantHz) <= toneTolerance
	if r.Err != nil {
		s.Error = r.Err.Error()
	}
	s.Problems = problems(s, j)
	s.Pass = len(s.Problems) == 0
	return s
}

// problems lists why a call does not pass; none means it does.
func problems(s callSummary, j judgement) []string {
	var out []string
	want := j.wantCode
	if want == 0 {
		want = 200
	}
	switch {
	case s.Code == 0 && s.Error != "":
		// No final response came; the error says why.
	case s.Code == 0:
		out = append(out, fmt.Sprintf("no final response, want %d", want))
	case s.Code != want:
		out = append(out, fmt.Sprintf("final response %d, want %d", s.Code, want))
	}
	if s.Error != "" {
		out = append(out, "error: "+s.Error)
	}
	if want != 200 {
		return out
	}
	if s.Answered && !s.AudioOK {
		out = append(out, fmt.Sprintf("heard %.0f Hz in %d packets, want %.0f ±%.0f Hz", s.HeardHz, s.Received, s.WantHz, toneTolerance))
	}
	if !expectMatches(j.expect, s.Media) && s.Answered {
		out = append(out, fmt.Sprintf("media %s, expected %s", s.Media, j.expect))
	}
	return out
}

func expectMatches(expect, path string) bool {
	switch expect {
	case expectBypass:
		return path == pathBypassed
	case expectAnchored:
		return path == pathAnchored
	}
	return true
}

// serverDirection names a call's direction as the server's counters do,
// from an end's own direction (did it send the INVITE or receive it).
func serverDirection(role, endDirection string) string {
	placed := endDirection == endpoint.Outbound
	if (role == roleClient) == placed {
		return "outbound"
	}
	return "inbound"
}

// shown is a for a sentence: "none" when there is no address (a call
// rejected before any media socket), never Go's "invalid AddrPort".
func shown(a netip.AddrPort) string {
	if !a.IsValid() {
		return "none"
	}
	return a.String()
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// clientPath is the client's view of the media path. It never trusts
// addresses alone — on loopback everything is 127.0.0.1 — but what the SDP
// said against where RTP really came from.
func clientPath(r endpoint.CallReport) mediaPath {
	if !r.MediaFrom.IsValid() {
		return mediaPath{pathNone, "no RTP received", fmt.Sprintf("client %s <-> nothing received", shown(r.MediaLocal))}
	}
	if r.Direction == endpoint.Outbound {
		return clientOutboundPath(r)
	}
	return clientInboundPath(r)
}

// clientOutboundPath: the answer names one address. It is the SBC's when it
// carries our bypass ID back (the server only does that when it bypasses),
// the server's relay port otherwise; RTP must come from that address.
func clientOutboundPath(r endpoint.CallReport) mediaPath {
	answer, err := sdp.Parse(answerBody(r))
	if err != nil {
		return mediaPath{pathUnknown, "the answer's SDP: " + err.Error(), fmt.Sprintf("client %s <-> %s", shown(r.MediaLocal), r.MediaFrom)}
	}
	if r.MediaFrom != answer.RTP() {
		return mediaPath{pathUnknown, fmt.Sprintf("RTP came from %s, not from %s given in the answer", r.MediaFrom, answer.RTP()),
			fmt.Sprintf("client %s <-> %s", shown(r.MediaLocal), r.MediaFrom)}
	}
	offer, err := sdp.Parse(r.OfferSDP)
	if err == nil && offer.BypassID != "" && answer.HasBypassID(offer.BypassID) {
		return mediaPath{pathBypassed, "the answer carries our a=x-bypassid and RTP came from the SBC address it gave",
			fmt.Sprintf("client %s <-> SBC %s", shown(r.MediaLocal), r.MediaFrom)}
	}
	return mediaPath{pathAnchored, "the answer has no a=x-bypassid of ours: RTP came from the mediation server's address it gave",
		fmt.Sprintf("client %s <-> mediation %s", shown(r.MediaLocal), r.MediaFrom)}
}

// clientInboundPath: the server's offer names both candidates, its own
// relay port (c=) and, when it offers bypass, the SBC's address as a host
// candidate; RTP tells which one the call used.
func clientInboundPath(r endpoint.CallReport) mediaPath {
	offer, err := sdp.Parse(r.OfferSDP)
	if err != nil {
		return mediaPath{pathUnknown, "the offer's SDP: " + err.Error(), fmt.Sprintf("client %s <-> %s", shown(r.MediaLocal), r.MediaFrom)}
	}
	anchor := offer.RTP()
	gateway := otherHostCandidate(offer, anchor)
	switch {
	case r.MediaFrom == anchor:
		return mediaPath{pathAnchored, "RTP came from the offer's c= address, the mediation server's relay port",
			fmt.Sprintf("client %s <-> mediation %s", shown(r.MediaLocal), r.MediaFrom)}
	case r.BypassAnswered && r.MediaFrom == gateway:
		return mediaPath{pathBypassed, "we answered with a=x-bypassid and RTP came from the SBC's candidate in the offer",
			fmt.Sprintf("client %s <-> SBC %s", shown(r.MediaLocal), r.MediaFrom)}
	}
	return mediaPath{pathUnknown, fmt.Sprintf("RTP came from %s: neither the offer's c= address %s nor its SBC candidate %s",
		r.MediaFrom, anchor, addrString(gateway)), fmt.Sprintf("client %s <-> %s", shown(r.MediaLocal), r.MediaFrom)}
}

// otherHostCandidate is the first RTP host candidate that is not the c=
// address: the SBC's, in an offer that proposes bypass.
func otherHostCandidate(m sdp.Media, anchor netip.AddrPort) netip.AddrPort {
	for _, c := range m.Candidates {
		if c.Component == sdp.ComponentRTP && strings.EqualFold(c.Type, "host") && c.Addr != anchor {
			return c.Addr
		}
	}
	return netip.AddrPort{}
}

// answerBody is the SDP that answered our offer: the 200's, else the 18x's.
func answerBody(r endpoint.CallReport) []byte {
	if len(r.AnswerSDP) > 0 {
		return r.AnswerSDP
	}
	return r.EarlySDP
}

// mediaRange is where the mediation server terminates anchored media: its
// media IP and port range (serve's --media-ip and --media-ports).
type mediaRange struct {
	ip        netip.Addr
	low, high uint16
}

func (m mediaRange) contains(a netip.AddrPort) bool {
	return a.Addr().Unmap() == m.ip.Unmap() && a.Port() >= m.low && a.Port() <= m.high
}

func (m mediaRange) String() string {
	return fmt.Sprintf("%s:%d-%d", m.ip, m.low, m.high)
}

// sbcPath is the SBC's view. The gateway side carries no bypass marker (the
// server strips x- attributes), so what tells the server's relay from a
// client is the address: the server's media IP and port range. On a single
// loopback host a client's ephemeral port can fall in that range; run the
// server with a range below the ephemeral ports (e.g. --media-ports
// 20000-20999) to make the SBC's verdict exact.
func sbcPath(r endpoint.CallReport, anchor mediaRange) mediaPath {
	if !r.MediaFrom.IsValid() {
		return mediaPath{pathNone, "no RTP received", fmt.Sprintf("SBC %s <-> nothing received", shown(r.MediaLocal))}
	}
	body := answerBody(r)
	if r.Direction == endpoint.Inbound {
		body = r.OfferSDP // the server called us: its offer named the far media
	}
	peer, err := sdp.Parse(body)
	if err != nil {
		return mediaPath{pathUnknown, "the mediation server's SDP: " + err.Error(), fmt.Sprintf("SBC %s <-> %s", shown(r.MediaLocal), r.MediaFrom)}
	}
	if r.MediaFrom != peer.RTP() {
		return mediaPath{pathUnknown, fmt.Sprintf("RTP came from %s, not from %s given in the SDP", r.MediaFrom, peer.RTP()),
			fmt.Sprintf("SBC %s <-> %s", shown(r.MediaLocal), r.MediaFrom)}
	}
	if anchor.contains(r.MediaFrom) {
		return mediaPath{pathAnchored, fmt.Sprintf("RTP came from the address in the SDP, inside the mediation server's media range %s", anchor),
			fmt.Sprintf("SBC %s <-> mediation %s", shown(r.MediaLocal), r.MediaFrom)}
	}
	return mediaPath{pathBypassed, fmt.Sprintf("RTP came from the address in the SDP, outside the mediation server's media range %s: the client itself", anchor),
		fmt.Sprintf("SBC %s <-> client %s", shown(r.MediaLocal), r.MediaFrom)}
}
