package relay

// This file counts what a session relays and drops, per side.

import "sync/atomic"

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

// SideStats counts one side's traffic. Received counts datagrams that arrived
// on our ports on this side (whether relayed or not); Sent counts datagrams we
// sent to this side's peer.
type SideStats struct {
	RTPReceived, RTPReceivedBytes   uint64
	RTPSent, RTPSentBytes           uint64
	RTCPReceived, RTCPReceivedBytes uint64
	RTCPSent, RTCPSentBytes         uint64
	// Dropped counts datagrams (RTP and RTCP) received on this side that
	// were not relayed to the other side.
	Dropped Drops
}

// Drops counts dropped datagrams by reason.
type Drops struct {
	// UnknownPT: a payload type the legs cannot map (comfort noise, other
	// codecs, telephone-events towards a leg without telephone-event).
	UnknownPT uint64
	// NoPeer: the other leg (or this one, needed to classify RTP) is not
	// set yet or has no usable address.
	NoPeer uint64
	// Malformed: not a parseable RTP version 2 packet.
	Malformed uint64
	// SendFailed: the write towards the other side's peer failed.
	SendFailed uint64
}

// Total is the sum of all drop reasons.
func (d Drops) Total() uint64 {
	return d.UnknownPT + d.NoPeer + d.Malformed + d.SendFailed
}

// counters is the live, lock-free form of SideStats, updated by the readers.
type counters struct {
	rtpReceived, rtpReceivedBytes   atomic.Uint64
	rtpSent, rtpSentBytes           atomic.Uint64
	rtcpReceived, rtcpReceivedBytes atomic.Uint64
	rtcpSent, rtcpSentBytes         atomic.Uint64
	unknownPT, noPeer, malformed    atomic.Uint64
	sendFailed                      atomic.Uint64
}

func (c *counters) drop(r dropReason) {
	switch r {
	case dropUnknownPT:
		c.unknownPT.Add(1)
	case dropNoPeer:
		c.noPeer.Add(1)
	case dropMalformed:
		c.malformed.Add(1)
	}
}

func (c *counters) snapshot() SideStats {
	return SideStats{
		RTPReceived:       c.rtpReceived.Load(),
		RTPReceivedBytes:  c.rtpReceivedBytes.Load(),
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
		},
	}
}
