package mediation

import (
	"sort"
	"time"

	"github.com/mediation-emulator/mediation/mediation/relay"
)

// Record is the call quality record written when a call ends: one JSON
// line, named after what the Skype for Business QoE report carries.
type Record struct {
	CallID    string `json:"callId"`
	Direction string `json:"direction"`
	// EdgeCallID and GatewayCallID are the SIP Call-IDs of the two legs.
	EdgeCallID    string `json:"edgeCallId"`
	GatewayCallID string `json:"gatewayCallId,omitempty"`
	From          string `json:"from"`
	To            string `json:"to"`
	Gateway       string `json:"gateway"`
	// GatewaysTried are the trunks an outbound call went to, in order (the
	// last is Gateway); more than one after a failover.
	GatewaysTried []string   `json:"gatewaysTried,omitempty"`
	StartTime     time.Time  `json:"startTime"`
	AnswerTime    *time.Time `json:"answerTime,omitempty"`
	// EndTime is zero (and omitted) while the call is in progress.
	EndTime   time.Time `json:"endTime,omitzero"`
	EndReason string    `json:"endReason"`
	// MediationServerBypass is the QoE report's "Mediation Server bypass
	// call" flag.
	MediationServerBypass bool `json:"mediationServerBypass"`
	// BypassReason is the bypass decision's reason code (README: Seeing
	// every call), "" before the decision.
	BypassReason string    `json:"bypassReason,omitempty"`
	EdgeLeg      LegRecord `json:"edgeLeg"`
	GatewayLeg   LegRecord `json:"gatewayLeg"`
	// ByeUndelivered names the sides ("edge", "gateway") whose peer could
	// not be told the call was over: its BYE got no answer on any target.
	ByeUndelivered []string `json:"byeUndelivered,omitempty"`
}

// LegRecord is what one leg's media did, as seen by the mediation server
// (zero for a bypassed call: its media never reached us).
type LegRecord struct {
	Codec       string `json:"codec,omitempty"`
	PacketsSent uint64 `json:"packetsSent"`
	// PacketsReceived counts the peer's RTP packets the relay took in:
	// from the peer (see Latching), authenticated (SRTP) and parsed, the
	// stream PacketsLost and JitterMs describe; BytesReceived their size
	// as received. Datagrams dropped before (malformed, from a stranger,
	// failing SRTP authentication) are only in PacketsDropped.
	PacketsReceived uint64 `json:"packetsReceived"`
	BytesSent       uint64 `json:"bytesSent"`
	BytesReceived   uint64 `json:"bytesReceived"`
	// PacketsLost is the cumulative loss of the peer's RTP stream, from
	// its sequence numbers (RFC 3550 A.3).
	PacketsLost int64 `json:"packetsLost"`
	// JitterMs is the interarrival jitter of the peer's stream (RFC 3550
	// A.8) when the call ended.
	JitterMs float64 `json:"jitterMs"`
	// RTTMs is the round-trip time to the peer from its RTCP reports, 0
	// when it sent none.
	RTTMs float64 `json:"rttMs"`
	// PacketsRefused counts the RTP and RTCP packets that reached this
	// leg's relay port from a stranger (see Anchored media: latching).
	PacketsRefused uint64 `json:"packetsRefused,omitempty"`
	// PacketsDropped counts by reason the leg's RTP and RTCP datagrams the
	// relay did not relay or use, and its sends to the peer that failed;
	// nil (omitted) when there were none.
	PacketsDropped *DroppedPackets `json:"packetsDropped,omitempty"`
}

// DroppedPackets counts one leg's dropped packets by reason (relay.Drops).
type DroppedPackets struct {
	// Malformed: not RTP or RTCP version 2, or larger than 1,472 bytes.
	Malformed uint64 `json:"malformed,omitempty"`
	// UnknownPayloadType: RTP in a payload type the call did not
	// negotiate (comfort noise, another codec, events the other leg does
	// not take).
	UnknownPayloadType uint64 `json:"unknownPayloadType,omitempty"`
	// NoPeer: a leg had no media address yet, or was on hold.
	NoPeer uint64 `json:"noPeer,omitempty"`
	// Foreign: from a stranger (PacketsRefused).
	Foreign uint64 `json:"foreign,omitempty"`
	// DecryptFailed: SRTP or SRTCP authentication failed, or a replay.
	DecryptFailed uint64 `json:"decryptFailed,omitempty"`
	// SendFailed: encrypting or sending to the peer failed.
	SendFailed uint64 `json:"sendFailed,omitempty"`
	// STUN: STUN messages (ICE keep-alives of a peer with which no ICE
	// was negotiated).
	STUN uint64 `json:"stun,omitempty"`
}

// droppedPackets is d in the record's form, nil when nothing was dropped.
func droppedPackets(d relay.Drops) *DroppedPackets {
	if d.Total() == 0 {
		return nil
	}
	return &DroppedPackets{Malformed: d.Malformed, UnknownPayloadType: d.UnknownPT, NoPeer: d.NoPeer,
		Foreign: d.Foreign, DecryptFailed: d.Decrypt, SendFailed: d.SendFailed, STUN: d.STUN}
}

// Calls returns a snapshot of the calls in progress, in the call record's
// form (no end time, end reason "in progress"), for GET /calls and for tests. Each
// call takes its own snapshot on its goroutine; one too busy to answer
// within a moment is left out.
func (s *Server) Calls() []Record {
	calls := s.calls.all()
	out := make([]Record, 0, len(calls))
	for _, c := range calls {
		var r Record
		if c.query(func() { r = c.record("in progress") }, time.Second) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartTime.Before(out[j].StartTime) })
	return out
}
