package mediation

import (
	"math/bits"
	"strings"

	"github.com/mediation-emulator/mediation/sdp"
)

// audioFormats is a set of the audio formats the relay decodes, by codec:
// what an SDP we sent lists, so that a peer's packets in any format both
// SDPs list are relayed (mediaPlan.legFor), not only the first's.
type audioFormats uint8

const (
	formatPCMU audioFormats = 1 << iota
	formatPCMA
	formatG722 // mono G.722 (SfB's stereo one is another format)
)

// formatOf is c's format, 0 when the relay does not decode it.
func formatOf(c sdp.Codec) audioFormats {
	switch {
	case c.Rate != 8000 || (c.Channels > 1):
		return 0
	case strings.EqualFold(c.Name, "PCMU"):
		return formatPCMU
	case strings.EqualFold(c.Name, "PCMA"):
		return formatPCMA
	case strings.EqualFold(c.Name, "G722"):
		return formatG722
	default:
		return 0
	}
}

// declared is what an SDP we sent a peer says we receive, with the payload
// types the peer is to send with (RFC 3264 §5.1: an offer's numbers are
// those its author expects in the RTP it receives; §6.1: an answerer uses
// the offer's even where its answer differs): the audio formats the relay
// decodes, the payload type of each, and the telephone-event's. A few
// bytes, kept by value in an sdpLeg's padding.
type declared struct {
	audio audioFormats
	event uint8    // telephone-event's payload type, 0: none
	pts   [3]uint8 // by format: PCMU, PCMA, G722 (when audio has it)
}

// declaredIn is what list, the formats of an SDP of ours, declares; a
// format listed twice counts by its first payload type.
func declaredIn(list []sdp.Codec) declared {
	var d declared
	for _, c := range list {
		if c.IsTelephoneEvent() && d.event == 0 {
			d.event = c.PT
		}
		bit := formatOf(c)
		if bit == 0 || d.audio&bit != 0 {
			continue
		}
		d.audio |= bit
		d.pts[bits.TrailingZeros8(uint8(bit))] = c.PT
	}
	return d
}

// pt is the payload type d declares for the format bit (one of d.audio's).
func (d declared) pt(bit audioFormats) uint8 {
	return d.pts[bits.TrailingZeros8(uint8(bit))]
}
