package relay

// This file names why packets are dropped and makes every drop seen: each
// is counted per side (stats.go), handed to the drop observer
// (WithDropObserver), and the first of each reason on each side is logged,
// once per session: a flood of garbage costs counters, never a log line
// per packet.

import "fmt"

// DropReason says why a packet was not relayed (or used, for RTCP).
type DropReason uint8

const (
	dropNone DropReason = iota
	// DropMalformed: not a parseable RTP version 2 packet (or RTCP packet),
	// or a datagram larger than the relay takes (1,472 bytes).
	DropMalformed
	// DropUnknownPT: a payload type the legs did not negotiate in a way this
	// relay can map (CN, other codecs), or an event with no DTMF tone
	// (flash) towards a leg without events.
	DropUnknownPT
	// DropNoPeer: a leg is not set yet, or its peer address is not usable
	// (on hold: port 0 or 0.0.0.0), or the leg is on hold by direction
	// (Leg.NoSend: we may not send it RTP).
	DropNoPeer
	// DropForeign: the source address is neither the one latched for the
	// leg nor the one its SDP gave.
	DropForeign
	// DropDecrypt: SRTP/SRTCP authentication failed or the packet is a
	// replay.
	DropDecrypt
	// DropSendFailed: encrypting or writing towards the peer failed.
	DropSendFailed
	// DropSTUN: a STUN message (RFC 8489 §5), such as the binding
	// requests a peer without ICE negotiated sends as keep-alives
	// (Linphone does, to our RTP and RTCP ports). Expected, not a fault:
	// counted on its own and logged at debug, so that a real malformed
	// packet's warning stands out.
	DropSTUN
	// dropAbsorbed: nothing to send for a packet that was used, not
	// dropped (dtmf.go: an event's retransmission, audio a tone replaces);
	// neither counted nor logged.
	dropAbsorbed
	// dropRTCPOnRTP: an RTCP packet on our RTP port (an rtcp-mux peer,
	// RFC 5761; a=rtcp-mux is not supported). Counted as DropMalformed,
	// since it is no RTP, but logged on its own so the operator sees why.
	dropRTCPOnRTP
)

// counted is the reason r is counted and observed as: one of DropReasons.
func (r DropReason) counted() DropReason {
	if r == dropRTCPOnRTP {
		return DropMalformed
	}
	return r
}

// DropReasons returns every reason a packet is dropped for, in a fixed
// order, for callers that keep a counter per reason.
func DropReasons() []DropReason {
	return []DropReason{DropMalformed, DropUnknownPT, DropNoPeer, DropForeign, DropDecrypt, DropSendFailed, DropSTUN}
}

// String is the reason as a metric label: malformed, unknown_payload_type,
// no_peer, foreign, decrypt_failed, send_failed, stun.
func (r DropReason) String() string {
	switch r {
	case DropMalformed:
		return "malformed"
	case DropUnknownPT:
		return "unknown_payload_type"
	case DropNoPeer:
		return "no_peer"
	case DropForeign:
		return "foreign"
	case DropDecrypt:
		return "decrypt_failed"
	case DropSendFailed:
		return "send_failed"
	case DropSTUN:
		return "stun"
	default:
		return fmt.Sprintf("reason(%d)", uint8(r))
	}
}

// warning is the log line of the first drop for r (the leg is the line's
// side field): what happened and what to check. Constant strings: the
// line is written on a reader goroutine, whose stack a fmt.Sprintf would
// grow for the rest of the call.
func (r DropReason) warning() string {
	switch r {
	case DropMalformed:
		return "dropped a datagram from the peer that is not RTP or RTCP version 2, or is larger than 1472 bytes"
	case DropUnknownPT:
		return "dropped RTP from the peer in a payload type the call did not negotiate (comfort noise, another codec), or an event with no DTMF tone (flash) for a leg without events"
	case DropNoPeer:
		return "dropped media: a leg has no media address yet or is on hold"
	case DropForeign:
		return "dropped media from a stranger: neither the peer's signalled addresses nor its latched source"
	case DropDecrypt:
		return "SRTP authentication failed on this leg: check the keys (or the peer replays packets)"
	case DropSendFailed:
		return "sending media to the peer failed: check the route to it"
	case DropSTUN:
		return "dropped a STUN message from the peer (an ICE keep-alive or connectivity check): no ICE is negotiated with it"
	case dropRTCPOnRTP:
		return "dropped RTCP the peer sent to our RTP port (counted as malformed): rtcp-mux (RFC 5761) is not supported, the peer must send RTCP to the RTCP port of our SDP"
	default:
		return "dropped media"
	}
}

// dropped accounts a packet dropped on side's leg for r: counted, shown
// to the observer, and logged when it is the first for r on that side. pt
// is the packet's payload type when known (UnknownPT), else -1. Called by
// the readers and the reporter: every step is safe concurrently.
func (s *Session) dropped(side Side, r DropReason, pt int) {
	l := &s.legs[side]
	l.drop(r.counted())
	if s.opts.onDrop != nil {
		s.opts.onDrop(side, r.counted())
	}
	bit := uint32(1) << r
	if l.warned.Load()&bit != 0 || l.warned.Or(bit)&bit != 0 {
		return
	}
	// A held leg's and an unanswered call's packets are expected, not a
	// fault: noted, not warned; so are a peer's STUN keep-alives, which
	// would otherwise warn on every call with such a peer.
	ev := s.logger().Warn()
	switch r {
	case DropNoPeer:
		ev = s.logger().Info()
	case DropSTUN:
		ev = s.logger().Debug()
	}
	if !ev.Enabled() {
		return
	}
	ev = ev.Stringer("side", side).Stringer("reason", r.counted())
	if pt >= 0 {
		ev = ev.Int("pt", pt)
	}
	ev.Msg(r.warning())
}
