package endpoint

// This file is the client's G.722: the tone it sends, encoded from 16 kHz
// audio, and the audio it receives, decoded for the tone and in-band DTMF
// detectors. G.722's RTP clock is 8000 although it samples at 16 kHz
// (RFC 3551 §4.5.2): 20 ms is 160 timestamp units and 160 bytes, as in
// G.711, so framing and timestamps are the same as for PCMU and PCMA.

import (
	"github.com/gotranspile/g722"

	"github.com/mediation-emulator/mediation/mediation/tone"
)

// g722Rate is the only G.722 bit rate SDP negotiates for RTP (64 kbit/s).
const g722Rate = g722.Rate64000

// wideRate is G.722's sample rate.
const wideRate = 2 * sampleRate

// g722Tone encodes a stream's tone as G.722, frame after frame. The
// encoder is ADPCM and keeps state, so unlike G.711 (toneFrames) there is
// no table to share: each stream encodes its own frames, about as much CPU
// as the relay's transcoding of one direction.
type g722Tone struct {
	enc   *g722.Encoder
	hz    float64
	phase float64
	pcm   [2 * frameSamples]int16 // 20 ms at 16 kHz
}

func newG722Tone(hz float64) *g722Tone {
	return &g722Tone{enc: g722.NewEncoder(g722Rate, 0), hz: hz}
}

// frame encodes the next 20 ms of the tone into dst (frameSamples bytes).
func (t *g722Tone) frame(dst []byte) int {
	tone.GenerateInto(t.pcm[:], t.hz, wideRate, &t.phase)
	return t.enc.Encode(dst, t.pcm[:])
}

// g722Listener decodes received G.722 for the detectors, which work at
// 8 kHz: the decoder's 8 kHz mode gives the lower sub-band (0-4 kHz,
// where the tones and DTMF keys are), one sample per payload byte, which
// the codec's own QMF filter has already band-limited, so no resampling
// filter is needed.
type g722Listener struct {
	dec     *g722.Decoder
	fresh   g722.Decoder // initial state, copied in on a new SSRC
	ssrc    uint32
	started bool
	pcm     []int16
}

func newG722Listener() *g722Listener {
	l := &g722Listener{dec: g722.NewDecoder(g722Rate, g722.FlagSampleRate8000)}
	l.fresh = *l.dec
	return l
}

// decode returns payload's 8 kHz samples, valid until the next call. A new
// SSRC is a new encoder: its ADPCM state has nothing to do with the old one's.
func (l *g722Listener) decode(ssrc uint32, payload []byte) []int16 {
	if l.started && ssrc != l.ssrc {
		*l.dec = l.fresh
	}
	l.started, l.ssrc = true, ssrc
	if cap(l.pcm) < len(payload) {
		l.pcm = make([]int16, len(payload))
	}
	n := l.dec.Decode(l.pcm[:len(payload)], payload)
	return l.pcm[:n]
}
