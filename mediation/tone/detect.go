package tone

import "math"

// The search grid of Detect. 3800 Hz stays below the 4 kHz Nyquist limit of
// narrowband telephony; 10 Hz steps match the 100 ms analysis blocks.
const (
	minHz  = 100
	maxHz  = 3800
	stepHz = 10
)

// SilenceLevel is the level (dBFS) below which Detect reports silence. G.711
// idle noise and the zero samples of a missing stream are far below it.
const SilenceLevel = -60.0

// Detect returns the dominant frequency (Hz) in samples, or 0 when the signal
// is silent (below SilenceLevel) or too short to analyse.
//
// It runs Goertzel filters from 100 to 3800 Hz in 10 Hz steps over
// Hann-windowed blocks of 100 ms and sums the power of all blocks; short blocks
// keep every tone within half a main lobe of a grid point, and a parabolic fit
// around the peak refines the estimate to a few Hz.
func Detect(samples []int16, sampleRate int) float64 {
	if sampleRate <= 0 || len(samples) < 16 || Level(samples) < SilenceLevel {
		return 0
	}
	block := sampleRate / 10
	if block > len(samples) {
		block = len(samples)
	}
	window := hann(block)
	power := make([]float64, (maxHz-minHz)/stepHz+1)
	windowed := make([]float64, block)
	for start := 0; start+block <= len(samples); start += block {
		for i := range windowed {
			windowed[i] = float64(samples[start+i]) * window[i]
		}
		for k := range power {
			power[k] += goertzel(windowed, float64(minHz+k*stepHz), sampleRate)
		}
	}
	return peak(power)
}

// Level returns the RMS level of samples in dBFS (0 for a full-scale square
// wave); silence and empty input give -120.
func Level(samples []int16) float64 {
	if len(samples) == 0 {
		return -120
	}
	var sum float64
	for _, s := range samples {
		v := float64(s)
		sum += v * v
	}
	rms := math.Sqrt(sum / float64(len(samples)))
	if rms < 1e-6 {
		return -120
	}
	return math.Max(20*math.Log10(rms/32768), -120)
}

// goertzel returns the power of x at frequency hz.
func goertzel(x []float64, hz float64, sampleRate int) float64 {
	coeff := 2 * math.Cos(2*math.Pi*hz/float64(sampleRate))
	var s1, s2 float64
	for _, v := range x {
		s0 := v + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - coeff*s1*s2
}

// hann returns a Hann window of n points; it keeps the side lobes of one tone
// from outweighing the main lobe of another.
func hann(n int) []float64 {
	w := make([]float64, n)
	if n == 1 {
		w[0] = 1
		return w
	}
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
	}
	return w
}

// peak returns the frequency of the strongest grid point, refined by a
// parabola through it and its neighbours (on a log scale, where a windowed
// tone's main lobe is close to a parabola).
func peak(power []float64) float64 {
	best := 0
	for k, p := range power {
		if p > power[best] {
			best = k
		}
	}
	hz := float64(minHz + best*stepHz)
	if best == 0 || best == len(power)-1 {
		return hz
	}
	l, c, r := logPower(power[best-1]), logPower(power[best]), logPower(power[best+1])
	den := l - 2*c + r
	if den >= 0 {
		return hz
	}
	offset := 0.5 * (l - r) / den
	return hz + offset*stepHz
}

func logPower(p float64) float64 {
	return math.Log(math.Max(p, 1e-12))
}
