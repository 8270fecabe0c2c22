package relay

// This file is the transcode stage: G.711 µ-law <-> A-law on the payload.

import "github.com/zaf/g711"

// Conversion tables, filled from g711's direct per-byte conversions so the
// output is by construction exactly g711's, while the per-packet loop is a
// plain table lookup with no call per byte.
var (
	ulawToAlaw [256]byte
	alawToUlaw [256]byte
)

func init() {
	for i := range 256 {
		ulawToAlaw[i] = g711.Ulaw2AlawFrame(uint8(i))
		alawToUlaw[i] = g711.Alaw2UlawFrame(uint8(i))
	}
}

// conversion returns the table converting from one law to another, or nil
// when both legs use the same law and the payload passes unchanged.
func conversion(from, to law) *[256]byte {
	switch {
	case from == to:
		return nil
	case from == lawPCMU:
		return &ulawToAlaw
	default:
		return &alawToUlaw
	}
}

// transcode writes src converted through table into dst (a plain copy when
// table is nil) and returns the number of bytes written. dst must be at least
// as long as src.
func transcode(dst, src []byte, table *[256]byte) int {
	if table == nil {
		return copy(dst, src)
	}
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = table[b]
	}
	return len(src)
}
