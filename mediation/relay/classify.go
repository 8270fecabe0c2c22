package relay

// This file is the classify stage: it decides from the payload type what
// happens to a packet going from one leg to the other.

// dropReason says why a packet was not relayed.
type dropReason uint8

const (
	dropNone dropReason = iota
	// dropMalformed: not a parseable RTP version 2 packet (or RTCP packet).
	dropMalformed
	// dropUnknownPT: a payload type the legs did not negotiate in a way this
	// relay can map (CN, other codecs, events towards a leg without events).
	dropUnknownPT
	// dropNoPeer: a leg is not set yet, or its peer address is not usable.
	dropNoPeer
	// dropForeign: the source address is neither the one latched for the
	// leg nor the one its SDP gave.
	dropForeign
	// dropDecrypt: SRTP/SRTCP authentication failed or the packet is a
	// replay.
	dropDecrypt
	// dropSendFailed: encrypting or writing towards the other peer failed.
	dropSendFailed
)

// route is the classify stage's verdict for one packet.
type route struct {
	drop dropReason
	pt   uint8      // payload type on the outgoing leg
	conv conversion // what the transcode stage does to the payload
}

// classify maps a packet's payload type received on from to its treatment
// towards to. from and to may be nil (leg not set yet).
func classify(pt uint8, from, to *peer) route {
	if from == nil || to == nil || !to.rtpOK {
		return route{drop: dropNoPeer}
	}
	if k, ok := from.audio(pt); ok {
		// Converted by the packet's own format: a peer may send any of
		// the formats both SDPs list, not only the first.
		return route{pt: to.leg.Codec.PT, conv: conversionOf(k, to.codec)}
	}
	switch {
	case pt == from.leg.Codec.EventPT && pt != 0 && to.leg.Codec.EventPT != 0:
		// RFC 4733 events are codec-independent: only the PT changes.
		return route{pt: to.leg.Codec.EventPT, conv: convCopy}
	default:
		// Never fed to the transcoder: decoding comfort noise or an
		// unknown codec as audio would turn it into noise on the other leg.
		return route{drop: dropUnknownPT}
	}
}
