package relay

// This file counts what a session relays, drops and measures, per side.

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a session's counters.
type Stats struct {
	Edge, Gateway SideStats
}

// Side returns the counters of one side (zero for an unknown side).
func (s Stats) Side(side Side) SideStats {
	switch side {
	case Edge:
		return s.Edge
	case Gateway:
		return s.Gateway
	default:
		return SideStats{}
	}
}

// SideStats describes one side's leg. Received counts datagrams that arrived
// on our ports on this side (whether relayed or not); Sent counts datagrams we
// sent to this side's peer (RTCP: our own reports).
type SideStats struct {
	RTPReceived, RTPReceivedBytes uint64
	// RTPAccepted counts the RTP packets of RTPReceived that came from the
	// peer (the latch check), authenticated (SRTP), parsed, and are in a
	// payload type the peer negotiated (audio or telephone-event): the
	// stream Lost and Jitter describe. Those of them not relayed (the other
	// leg not set, an event with no tone) are in Dropped too; a packet of
	// another payload type is only in Dropped (UnknownPT), and RTCP sent
	// to the RTP port only in Dropped (Malformed).
	RTPAccepted, RTPAcceptedBytes   uint64
	RTPSent, RTPSentBytes           uint64
	RTCPReceived, RTCPReceivedBytes uint64
	RTCPSent, RTCPSentBytes         uint64
	// Dropped counts datagrams (RTP and RTCP) received on this side that
	// were not relayed or used, and the sends to this side's peer that
	// failed (relayed RTP and our RTCP).
	Dropped Drops

	// Lost is the cumulative number of the peer's RTP packets lost (RFC
	// 3550 A.3, from sequence numbers), over all the sources the peer sent
	// (an SSRC change keeps the loss before it): expected less received,
	// a duplicate counting as received, so duplicates offset losses, but
	// never below zero, as in our RTCP reports.
	Lost int64
	// FractionLost is the fraction (0-1) of the peer's packets lost since
	// our last RTCP report to it (or since its stream began).
	FractionLost float64
	// Jitter is the interarrival jitter of the peer's stream (RFC 3550
	// A.8), and JitterUnits the same in RTP timestamp units (1/8000 s), as
	// RTCP reports carry it.
	Jitter      time.Duration
	JitterUnits uint32
	// RTT is the round-trip time to the peer, from its last report about
	// our stream (RFC 3550 6.4.1); 0 until it reported.
	RTT time.Duration
	// Codec is the leg's codec name ("PCMU", "PCMA", "G722"), empty before
	// the leg is set.
	Codec string
	// Latched is the source address the leg's RTP is latched to; the zero
	// value before the first packet or with latching off.
	Latched netip.AddrPort
}

// Drops counts dropped datagrams by reason.
type Drops struct {
	// UnknownPT: a payload type the legs cannot map (comfort noise, other
	// codecs, telephone-events towards a leg without telephone-event).
	UnknownPT uint64
	// NoPeer: the other leg (or this one, needed to classify RTP) is not
	// set yet, has no usable address, or is on hold by direction
	// (Leg.NoSend).
	NoPeer uint64
	// Malformed: not a parseable RTP version 2 (or RTCP) packet.
	Malformed uint64
	// SendFailed: encrypting or writing towards this side's peer failed.
	SendFailed uint64
	// Foreign: the packet came from a stranger: before latching, an IP that
	// is not one of the peer's (Leg); after, neither the latched nor the
	// signalled address.
	Foreign uint64
	// Decrypt: SRTP or SRTCP authentication failed, or a replayed packet.
	Decrypt uint64
	// STUN: a STUN message (an ICE keep-alive of a peer we negotiated no
	// ICE with).
	STUN uint64
}

// Total is the sum of all drop reasons.
func (d Drops) Total() uint64 {
	return d.UnknownPT + d.NoPeer + d.Malformed + d.SendFailed + d.Foreign + d.Decrypt + d.STUN
}

// counters is the live, lock-free form of SideStats' counts, updated by the
// readers and the reporter.
type counters struct {
	rtpReceived, rtpReceivedBytes   atomic.Uint64
	rtpAccepted, rtpAcceptedBytes   atomic.Uint64
	rtpSent, rtpSentBytes           atomic.Uint64
	rtcpReceived, rtcpReceivedBytes atomic.Uint64
	rtcpSent, rtcpSentBytes         atomic.Uint64
	unknownPT, noPeer, malformed    atomic.Uint64
	sendFailed, foreign, decrypt    atomic.Uint64
	stun                            atomic.Uint64
}

func (c *counters) drop(r DropReason) {
	switch r {
	case DropUnknownPT:
		c.unknownPT.Add(1)
	case DropNoPeer:
		c.noPeer.Add(1)
	case DropMalformed:
		c.malformed.Add(1)
	case DropSendFailed:
		c.sendFailed.Add(1)
	case DropForeign:
		c.foreign.Add(1)
	case DropDecrypt:
		c.decrypt.Add(1)
	case DropSTUN:
		c.stun.Add(1)
	}
}

func (c *counters) snapshot() SideStats {
	return SideStats{
		RTPReceived:       c.rtpReceived.Load(),
		RTPReceivedBytes:  c.rtpReceivedBytes.Load(),
		RTPAccepted:       c.rtpAccepted.Load(),
		RTPAcceptedBytes:  c.rtpAcceptedBytes.Load(),
		RTPSent:           c.rtpSent.Load(),
		RTPSentBytes:      c.rtpSentBytes.Load(),
		RTCPReceived:      c.rtcpReceived.Load(),
		RTCPReceivedBytes: c.rtcpReceivedBytes.Load(),
		RTCPSent:          c.rtcpSent.Load(),
		RTCPSentBytes:     c.rtcpSentBytes.Load(),
		Dropped: Drops{
			UnknownPT:  c.unknownPT.Load(),
			NoPeer:     c.noPeer.Load(),
			Malformed:  c.malformed.Load(),
			SendFailed: c.sendFailed.Load(),
			Foreign:    c.foreign.Load(),
			Decrypt:    c.decrypt.Load(),
			STUN:       c.stun.Load(),
		},
	}
}

// Plus is s with earlier added: the statistics of a session and those of
// the call's sessions before it (Session.Continues), as one call's. Both
// sides' counts (packets, bytes, loss, drops) are summed. The
// measurements of the moment (FractionLost, Jitter, RTT, Codec, Latched)
// are s's, or earlier's where s has none: Jitter and FractionLost before
// s accepted RTP, RTT before the peer reported, Codec before the leg was
// set. Latched stays s's.
func (s Stats) Plus(earlier Stats) Stats {
	return Stats{Edge: s.Edge.Plus(earlier.Edge), Gateway: s.Gateway.Plus(earlier.Gateway)}
}

// Plus is Stats.Plus for one side.
func (s SideStats) Plus(e SideStats) SideStats {
	out := s
	out.RTPReceived += e.RTPReceived
	out.RTPReceivedBytes += e.RTPReceivedBytes
	out.RTPAccepted += e.RTPAccepted
	out.RTPAcceptedBytes += e.RTPAcceptedBytes
	out.RTPSent += e.RTPSent
	out.RTPSentBytes += e.RTPSentBytes
	out.RTCPReceived += e.RTCPReceived
	out.RTCPReceivedBytes += e.RTCPReceivedBytes
	out.RTCPSent += e.RTCPSent
	out.RTCPSentBytes += e.RTCPSentBytes
	out.Dropped = s.Dropped.Plus(e.Dropped)
	out.Lost += e.Lost
	if s.RTPAccepted == 0 {
		out.FractionLost, out.Jitter, out.JitterUnits = e.FractionLost, e.Jitter, e.JitterUnits
	}
	if s.RTT == 0 {
		out.RTT = e.RTT
	}
	if s.Codec == "" {
		out.Codec = e.Codec
	}
	return out
}

// Plus is d with e's drops added, reason by reason.
func (d Drops) Plus(e Drops) Drops {
	return Drops{UnknownPT: d.UnknownPT + e.UnknownPT, NoPeer: d.NoPeer + e.NoPeer, Malformed: d.Malformed + e.Malformed,
		SendFailed: d.SendFailed + e.SendFailed, Foreign: d.Foreign + e.Foreign, Decrypt: d.Decrypt + e.Decrypt, STUN: d.STUN + e.STUN}
}
