package relay

// This file transcodes G.722 (16 kHz wideband, edge side) to and from G.711
// (8 kHz, gateway side) through linear PCM. G.722's RTP clock is 8000 even
// though it samples at 16 kHz (RFC 3551 §4.5.2), so timestamps and payload
// lengths are the same on both legs: 20 ms is 160 timestamp units and 160
// bytes in either codec.

import (
	"github.com/gotranspile/g722"
	"github.com/zaf/g711"
)

// g722Rate is the only G.722 bit rate SDP negotiates for RTP.
const g722Rate = g722.Rate64000

// g722ToPCM decodes G.722 and decimates to 8 kHz; the buffers are sized for
// the largest packet so the path does not allocate.
type g722ToPCM struct {
	dec     *g722.Decoder
	fresh   g722.Decoder // initial state, copied in on a new input stream
	down    *decimator
	ssrc    uint32
	started bool
	wide    [2 * maxSamples8k]int16
	narrow  [maxSamples8k]int16
}

func newG722ToPCM() *g722ToPCM {
	d := &g722ToPCM{dec: g722.NewDecoder(g722Rate, 0), down: newDecimator()}
	d.fresh = *d.dec
	return d
}

// toG711 converts one G.722 payload to µ-law (or A-law when alaw) in dst.
func (d *g722ToPCM) toG711(dst, src []byte, alaw bool, ssrc uint32) int {
	if d.started && ssrc != d.ssrc {
		// A new stream's ADPCM state has nothing to do with the old one's.
		*d.dec = d.fresh
	}
	d.started, d.ssrc = true, ssrc
	src = src[:min(len(src), maxSamples8k)]
	n := d.dec.Decode(d.wide[:], src)
	n = d.down.process(d.narrow[:], d.wide[:n])
	dst = dst[:n]
	if alaw {
		for i, s := range d.narrow[:n] {
			dst[i] = g711.EncodeAlawFrame(s)
		}
	} else {
		for i, s := range d.narrow[:n] {
			dst[i] = g711.EncodeUlawFrame(s)
		}
	}
	return n
}

// pcmToG722 interpolates G.711 to 16 kHz and encodes it as G.722. It feeds
// our own outgoing stream, which stays continuous whatever the input does,
// so the encoder is never reset.
type pcmToG722 struct {
	enc    *g722.Encoder
	up     *interpolator
	narrow [maxSamples8k]int16
	wide   [2 * maxSamples8k]int16
}

func newPCMToG722() *pcmToG722 {
	return &pcmToG722{enc: g722.NewEncoder(g722Rate, 0), up: newInterpolator()}
}

// fromG711 converts one µ-law (or A-law when alaw) payload to G.722 in dst.
func (e *pcmToG722) fromG711(dst, src []byte, alaw bool) int {
	src = src[:min(len(src), maxSamples8k)]
	table := &ulawToPCM
	if alaw {
		table = &alawToPCM
	}
	for i, b := range src {
		e.narrow[i] = table[b]
	}
	return e.encode(dst, e.narrow[:len(src)])
}

// fromPCM encodes 8 kHz linear PCM (a rendered tone) as G.722 in dst.
func (e *pcmToG722) fromPCM(dst []byte, pcm []int16) int {
	n := copy(e.narrow[:], pcm)
	return e.encode(dst, e.narrow[:n])
}

// encode interpolates narrow (e.narrow's) to 16 kHz and encodes it.
func (e *pcmToG722) encode(dst []byte, narrow []int16) int {
	n := e.up.process(e.wide[:], narrow)
	return e.enc.Encode(dst, e.wide[:n])
}
