package mediation

import (
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

// formatsIn is the set of formats of list.
func formatsIn(list []sdp.Codec) audioFormats {
	var set audioFormats
	for _, c := range list {
		set |= formatOf(c)
	}
	return set
}
