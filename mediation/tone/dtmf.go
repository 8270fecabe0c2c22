package tone

import "math"

// DTMF (ITU-T Q.23) is a pair of tones, one of a low group (the keypad's
// row) and one of a high group (its column). The events are numbered as
// RFC 4733 §3.2 numbers them: 0-9, then * (10), # (11) and A-D (12-15).
var (
	dtmfLow  = [4]float64{697, 770, 852, 941}
	dtmfHigh = [4]float64{1209, 1336, 1477, 1633}
	// dtmfKeys[row][column] is the event of that key.
	dtmfKeys = [4][4]byte{{1, 2, 3, 12}, {4, 5, 6, 13}, {7, 8, 9, 14}, {10, 0, 11, 15}}
)

// DTMF returns the two frequencies (Hz) of the RFC 4733 DTMF event; ok is
// false for an event that is not a DTMF key (above 15: flash, ...).
func DTMF(event byte) (low, high float64, ok bool) {
	for r, row := range dtmfKeys {
		for c, k := range row {
			if k == event {
				return dtmfLow[r], dtmfHigh[c], true
			}
		}
	}
	return 0, 0, false
}

// Amplitude0dBm0 is the peak of a sine at 0 dBm0 in 16-bit linear PCM:
// G.711's full-scale sine is +3.17 dBm0 (ITU-T G.711 Table 5/6, µ-law;
// A-law's +3.14 is within 0.03 dB).
const Amplitude0dBm0 = 32768 * 0.69433 // 10^(-3.17/20)

// DetectDTMF returns the DTMF event that samples hold, ok false when they
// are not one DTMF key's dual tone: silent, or with no dominant tone in
// either group (one above the others of its group by 10 dB), or with the
// two tones more than 10 dB apart (a single tone), or making less than 80%
// of the signal's power (speech, music, noise).
func DetectDTMF(samples []int16, sampleRate int) (event byte, ok bool) {
	if sampleRate <= 0 || len(samples) < 16 || Level(samples) < SilenceLevel {
		return 0, false
	}
	window := hann(len(samples))
	x := make([]float64, len(samples))
	var gain, power float64
	for i, s := range samples {
		x[i] = float64(s) * window[i]
		gain += window[i]
		power += float64(s) * float64(s)
	}
	power /= float64(len(samples))
	// amp is the peak amplitude of the signal's component at hz.
	amp := func(hz float64) float64 {
		return 2 * math.Sqrt(max(goertzel(x, hz, sampleRate), 0)) / gain
	}
	best := func(group [4]float64) (int, float64, bool) {
		var a [4]float64
		top := 0
		for i, hz := range group {
			if a[i] = amp(hz); a[i] > a[top] {
				top = i
			}
		}
		for i := range a {
			if i != top && a[i]*math.Sqrt(10) > a[top] {
				return 0, 0, false
			}
		}
		return top, a[top], true
	}
	r, low, okLow := best(dtmfLow)
	c, high, okHigh := best(dtmfHigh)
	twist := math.Sqrt(10) // 10 dB
	if !okLow || !okHigh || low > twist*high || high > twist*low || (low*low+high*high)/2 < 0.8*power {
		return 0, false
	}
	return dtmfKeys[r][c], true
}
