package endpoint

import (
	"errors"
	"net/netip"
	"time"
)

// Directions of a CallReport.
const (
	// Outbound: this endpoint sent the INVITE.
	Outbound = "outbound"
	// Inbound: this endpoint received the INVITE.
	Inbound = "inbound"
)

// How a call ended (CallReport.EndedBy).
const (
	EndedLocalBye  = "local-bye"  // we sent BYE
	EndedRemoteBye = "remote-bye" // the peer sent BYE
	EndedCancel    = "cancel"     // CANCEL before the answer, sent or received
	EndedRejected  = "rejected"   // a non-2xx final response, sent or received
	EndedError     = "error"      // anything else; Err says what
)

// ErrClosed is returned by an endpoint that has been closed, and is the Err
// of calls cut short by Close.
var ErrClosed = errors.New("endpoint closed")

// CallReport is what one endpoint saw of one call: the tests assert on it.
type CallReport struct {
	CallID string
	// Direction is Outbound (we sent the INVITE) or Inbound.
	Direction string
	// Transport is what the INVITE came over (inbound: "UDP", "TCP" or
	// "TLS", as sipgo names it) or was sent over (outbound: the call's
	// CallOptions.Transport).
	Transport string
	// From and To are the user parts of the INVITE's From and To.
	From, To string
	// Code is the final response code of the INVITE (200, 486, 487, 408 ...),
	// 0 when there was none.
	Code int
	// SetupTime is, for a call we placed, the time from sending the INVITE
	// to its final response (or to giving up on it).
	SetupTime time.Duration
	// Provisional are the provisional codes received (outbound) or sent
	// (inbound). Received ones are in the order sipgo delivered them: it
	// dispatches every response on its own goroutine, so a 100 may follow the
	// 18x, or be missing when the final response overtook it.
	Provisional []int
	// OfferSDP and AnswerSDP are the bodies of the INVITE and of its 2xx, as
	// sent or received; EarlySDP is the body of the 18x that carried one.
	OfferSDP, AnswerSDP, EarlySDP []byte
	// Codec is the negotiated audio codec name (PCMU or PCMA; G722 for a
	// client whose call was answered with G.722).
	Codec string
	// MediaTo is where we sent RTP.
	MediaTo netip.AddrPort
	// MediaFrom is the source of the first RTP packet received; it tells a
	// bypassed call (the peer's own address) from an anchored one.
	MediaFrom netip.AddrPort
	// MediaLocal is our own RTP address.
	MediaLocal netip.AddrPort
	// PacketsSent and PacketsReceived count audio packets; DTMF events and
	// comfort noise are not audio.
	PacketsSent, PacketsReceived int
	// PacketsExpected and PacketsLost are RFC 3550's (appendix A.3) for the
	// RTP we received, audio and DTMF events alike since they share the
	// sender's sequence numbers: expected is the highest sequence number
	// received (extended over wraps) minus the first, plus one; lost is
	// expected minus received, never below 0. A new SSRC starts a new
	// count, added to the earlier ones. Packets still in flight when the
	// call ended are neither.
	PacketsExpected, PacketsLost int
	// Jitter is RFC 3550's interarrival jitter (appendix A.8) of the audio
	// received from the current SSRC, computed in timestamp units (8 kHz)
	// and given as a time.
	Jitter time.Duration
	// ReceivedPT is the payload type of the first received audio packet, -1 if none.
	ReceivedPT int
	// EventPT is the telephone-event payload type negotiated for the call,
	// on which DTMF is sent and recognised; -1 if none was negotiated.
	EventPT int
	// DigitsSent are the DTMF digits (CallOptions.DTMF or the answering
	// side's) sent whole as RFC 4733 events, in order.
	DigitsSent string
	// DigitsReceived are the DTMF digits received as RFC 4733 events on
	// EventPT, in order: one per event, however many of its packets
	// (redundant end packets included) arrived.
	DigitsReceived string
	// DigitsReceivedInBand are the DTMF digits heard in the received audio
	// as the keys' dual tones (ITU-T Q.23), in order: what a relay plays
	// for RFC 4733 events to a peer without telephone-event. The audio,
	// decoded with the negotiated codec over the whole call, is analysed in
	// 40 ms windows every 20 ms; a digit counts once per tone burst, when
	// two windows in a row hold it, and again only after a window without
	// it (silence, another sound). Event packets are not audio, so a digit
	// received as an event is not counted here too. Empty with
	// ClientConfig.Delays or SBCConfig.Delays, which skip the detection.
	DigitsReceivedInBand string
	// DetectedHz is the dominant frequency of the received audio, decoded with
	// the negotiated codec (0 for silence or no audio, and with
	// ClientConfig.Delays or SBCConfig.Delays, which skip the detection).
	DetectedHz float64
	// BypassOffered and BypassAnswered tell whether a=x-bypassid was in the
	// offer and in the answer (the 2xx's, or the 18x's if there was no 2xx).
	BypassOffered, BypassAnswered bool
	// ReInvites are the directions (sendrecv, sendonly, ...) of the
	// re-INVITE offers the endpoint answered during the call.
	ReInvites []string
	// EndedBy is one of the Ended* constants.
	EndedBy string
	// Err is why the call failed; nil for every call that ran its course,
	// rejected and cancelled ones included. An offer the endpoint refused
	// (488, EndedRejected) has Err saying what was wrong with it.
	Err error
}

// CallOptions describe one call placed with Client.Call or SBC.Call.
type CallOptions struct {
	// Target is the next hop: the mediation server's edge or gateway side, or
	// the peer endpoint directly.
	Target netip.AddrPort
	// Transport is "udp" (default) or "tcp".
	Transport string
	// To and From are user parts, e.g. "+15550100".
	To, From string
	// Duration is the media time after the answer before we hang up; default 1s.
	Duration time.Duration
	// WaitRemoteHangup makes us wait for the far side's BYE instead of hanging
	// up; the wait is bounded by the context of Call.
	WaitRemoteHangup bool
	// CancelOnRinging sends CANCEL as soon as an 18x arrives.
	CancelOnRinging bool
	// ResponseTimeout is how long the INVITE waits for a first response
	// (a 100 Trying will do) before the call ends with a *NoResponseError;
	// 0: RFC 3261's Timer B, 64*T1 (32 s).
	ResponseTimeout time.Duration
	// BypassID, for SBC.Call only, adds a=x-bypassid and host candidates of
	// the SBC's own media to its offer: the shape of the offer a CCE mediation
	// server sends a client when it offers media bypass, so a Client can be
	// tested against an SBC directly. Client.Call uses ClientConfig.BypassID.
	BypassID string
	// DTMF are digits (0-9, *, #, A-D) sent once the call is answered, as
	// RFC 4733 telephone-events on the payload type of the answer: per digit
	// 100 ms of event packets every 20 ms and the end packet three times,
	// then 100 ms of audio. The call lasts at least until they are sent
	// (unless the peer hangs up first). Without telephone-event in the answer
	// nothing is sent (CallReport.EventPT is then -1).
	DTMF string
}
