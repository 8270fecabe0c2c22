// Package tone generates and recognises sine tones in 16-bit linear PCM.
//
// The simulated endpoints send a tone of their own frequency and detect the
// frequency of what they receive, so a test can tell whose audio arrived and
// whether it survived the media path (transcoding, bypass, relaying) without
// comparing bytes.
package tone

import "math"

// Amplitude is the peak value of generated tones: about -10 dBFS, loud enough
// to stand far above G.711 quantisation noise and low enough never to clip.
const Amplitude = 10000

// Generate returns n samples of a sine tone of hz at sampleRate.
//
// phase carries the oscillator position (radians) from one call to the next so
// that consecutive 20 ms frames join without a click; pass nil for a one-off tone.
func Generate(hz float64, sampleRate int, n int, phase *float64) []int16 {
	if n <= 0 {
		return nil
	}
	out := make([]int16, n)
	GenerateInto(out, hz, sampleRate, phase)
	return out
}

// GenerateInto fills dst with a sine tone of hz at sampleRate, like Generate but
// without allocating, for the 50 frames a second an endpoint sends.
func GenerateInto(dst []int16, hz float64, sampleRate int, phase *float64) {
	clear(dst)
	AddInto(dst, hz, Amplitude, sampleRate, phase)
}

// AddInto adds a sine tone of hz and peak amplitude to the samples of dst,
// saturating at the int16 range, so that two calls make a dual tone (DTMF).
// phase is as for Generate.
func AddInto(dst []int16, hz, amplitude float64, sampleRate int, phase *float64) {
	if sampleRate <= 0 {
		return
	}
	var p float64
	if phase != nil {
		p = *phase
	}
	step := 2 * math.Pi * hz / float64(sampleRate)
	for i := range dst {
		v := float64(dst[i]) + math.Round(amplitude*math.Sin(p))
		dst[i] = int16(max(min(v, math.MaxInt16), math.MinInt16))
		p += step
	}
	// Keep the phase small so precision does not drift over long calls.
	p = math.Mod(p, 2*math.Pi)
	if phase != nil {
		*phase = p
	}
}
