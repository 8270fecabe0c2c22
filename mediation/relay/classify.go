package relay

// This file is the classify stage: it decides from the payload type what
// happens to a packet going from one leg to the other.

// route is the classify stage's verdict for one packet.
type route struct {
	drop DropReason
	pt   uint8      // payload type on the outgoing leg
	conv conversion // what the transcode stage does to the payload
}

// classify maps a packet's payload type received on from to its treatment
// towards to. from and to may be nil (leg not set yet).
func classify(pt uint8, from, to *peer) route {
	if from == nil || to == nil || !to.rtpOK {
		return route{drop: DropNoPeer}
	}
	if k, ok := from.audio(pt); ok {
		// Converted by the packet's own format: a peer may send any of
		// the formats both SDPs list, not only the first.
		return route{pt: to.leg.Codec.PT, conv: conversionOf(k, to.codec)}
	}
	switch {
	case from.event(pt) && to.leg.Codec.EventPT != 0:
		// RFC 4733 events are codec-independent: only the PT changes, to
		// the one of the receiver's SDP, whichever of its two the sender
		// used (Codec.OurEventPT).
		return route{pt: to.leg.Codec.EventPT, conv: convCopy}
	case from.event(pt):
		// The other leg takes no events: its peer hears them as tones.
		return route{pt: to.leg.Codec.PT, conv: convTone}
	default:
		// Never fed to the transcoder: decoding comfort noise or an
		// unknown codec as audio would turn it into noise on the other leg.
		return route{drop: DropUnknownPT}
	}
}
