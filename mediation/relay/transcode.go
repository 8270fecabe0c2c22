package relay

// This file is the transcode stage: it converts a payload between the
// codecs of the two legs. G.711 µ-law <-> A-law is a table lookup per byte;
// G.722 <-> G.711 goes through linear PCM (see g722.go).

import "github.com/zaf/g711"

// conversion is what the transcode stage does to one payload.
type conversion uint8

const (
	convCopy conversion = iota // same codec on both legs, or an RFC 4733 event
	convUlawToAlaw
	convAlawToUlaw
	convG722ToUlaw
	convG722ToAlaw
	convUlawToG722
	convAlawToG722
	// convTone renders an RFC 4733 DTMF event as in-band tones (dtmf.go)
	// for a leg without telephone-event.
	convTone
)

// conversionOf returns the conversion from one codec to another.
func conversionOf(from, to codecKind) conversion {
	switch {
	case from == to:
		return convCopy
	case from == kindPCMU && to == kindPCMA:
		return convUlawToAlaw
	case from == kindPCMA && to == kindPCMU:
		return convAlawToUlaw
	case from == kindG722 && to == kindPCMU:
		return convG722ToUlaw
	case from == kindG722:
		return convG722ToAlaw
	case from == kindPCMU:
		return convUlawToG722
	default:
		return convAlawToG722
	}
}

// Conversion tables, filled from g711's direct per-byte conversions so the
// output is by construction exactly g711's, while the per-packet loop is a
// plain table lookup with no call per byte.
var (
	ulawToAlaw [256]byte
	alawToUlaw [256]byte
	ulawToPCM  [256]int16
	alawToPCM  [256]int16
)

func init() {
	for i := range 256 {
		ulawToAlaw[i] = g711.Ulaw2AlawFrame(uint8(i))
		alawToUlaw[i] = g711.Alaw2UlawFrame(uint8(i))
		ulawToPCM[i] = g711.DecodeUlawFrame(uint8(i))
		alawToPCM[i] = g711.DecodeAlawFrame(uint8(i))
	}
}

// transcoder is the transcode stage of one direction. The G.722 codecs are
// stateful (ADPCM predictors, filter history), so each direction owns its
// own, created on first use: calls that never see G.722 do not pay for it.
// Not safe for concurrent use.
type transcoder struct {
	dec *g722ToPCM
	enc *pcmToG722
}

// run writes src converted by c into dst and returns the number of bytes
// written. dst must be at least as long as src: every conversion here keeps
// the payload length (G.711 and 64 kbit/s G.722 both take one byte per
// 125 µs). ssrc identifies the input stream, so a G.722 decoder restarts
// cleanly when the peer starts a new stream.
func (t *transcoder) run(dst, src []byte, c conversion, ssrc uint32) int {
	switch c {
	case convUlawToAlaw:
		return lookup(dst, src, &ulawToAlaw)
	case convAlawToUlaw:
		return lookup(dst, src, &alawToUlaw)
	case convG722ToUlaw, convG722ToAlaw:
		if t.dec == nil {
			t.dec = newG722ToPCM()
		}
		return t.dec.toG711(dst, src, c == convG722ToAlaw, ssrc)
	case convUlawToG722, convAlawToG722:
		return t.encoder().fromG711(dst, src, c == convAlawToG722)
	default:
		return copy(dst, src)
	}
}

// encoder is the direction's G.722 encoder, made on first use.
func (t *transcoder) encoder() *pcmToG722 {
	if t.enc == nil {
		t.enc = newPCMToG722()
	}
	return t.enc
}

// lookup converts src through table into dst.
func lookup(dst, src []byte, table *[256]byte) int {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = table[b]
	}
	return len(src)
}
