package relay

// This file converts between the 16 kHz of G.722 and the 8 kHz of G.711
// with a half-band FIR low-pass: decimation filters before dropping every
// other sample, interpolation filters after inserting zeros. Both keep their
// history between packets so the stream is filtered as one signal.

import "math"

const (
	// halfBandTaps is the filter length (4k-1, so that the centre tap sits
	// on an odd index and every other tap is zero). 63 taps with a Kaiser
	// window (beta 7) pass 0-3.4 kHz within 0.01 dB and attenuate 4.6-8 kHz
	// by more than 65 dB at 16 kHz.
	halfBandTaps = 63
	kaiserBeta   = 7.0
	// maxSamples8k bounds one packet's samples at 8 kHz: G.711 and 64 kbit/s
	// G.722 both carry one byte per 8 kHz sample period.
	maxSamples8k = maxPacket
)

// halfBand is the filter shared by all resamplers; its taps at even
// distances from the centre (other than the centre) are zero.
var halfBand = designHalfBand(halfBandTaps, kaiserBeta)

// designHalfBand returns a windowed-sinc low-pass with cut-off at a quarter
// of the sampling rate: h[c+k] = sinc(k/2)/2 · w[k]. The centre tap is
// exactly 1/2 and the others are scaled to sum to 1/2, so DC passes with
// gain 1 and both interpolation phases keep it too.
func designHalfBand(n int, beta float64) []float64 {
	h := make([]float64, n)
	c := (n - 1) / 2
	var side float64
	for i := range h {
		k := i - c
		switch {
		case k == 0:
			h[i] = 0.5
		case k%2 == 0:
			h[i] = 0
		default:
			x := math.Pi * float64(k) / 2
			h[i] = 0.5 * math.Sin(x) / x * kaiser(float64(k)/float64(c), beta)
			side += h[i]
		}
	}
	for i := range h {
		if i != c {
			h[i] *= 0.5 / side
		}
	}
	return h
}

// kaiser is the Kaiser window at x in [-1, 1].
func kaiser(x, beta float64) float64 {
	return bessel0(beta*math.Sqrt(1-x*x)) / bessel0(beta)
}

// bessel0 is the modified Bessel function of the first kind, order 0, by
// its power series (converges fast for the small arguments of a window).
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / 2 / float64(k)) * (x / 2 / float64(k))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}

// tap is one non-zero filter coefficient and its delay in samples.
type tap struct {
	delay int
	coef  float64
}

// decimator turns 16 kHz samples into 8 kHz ones. Not safe for concurrent
// use; one pipeline owns it.
type decimator struct {
	taps []tap
	// buf holds the last len(halfBand)-1 input samples followed by the
	// current packet's, so the filter runs across packet boundaries.
	buf [halfBandTaps - 1 + 2*maxSamples8k]float64
}

func newDecimator() *decimator {
	d := &decimator{}
	for i, h := range halfBand {
		if h != 0 {
			d.taps = append(d.taps, tap{delay: i, coef: h})
		}
	}
	return d
}

// process filters src (16 kHz, even length, at most 2*maxSamples8k) and
// writes every other output sample to dst, returning len(src)/2.
func (d *decimator) process(dst, src []int16) int {
	const hist = halfBandTaps - 1
	n := min(len(src), 2*maxSamples8k) / 2
	for i, s := range src[:2*n] {
		d.buf[hist+i] = float64(s)
	}
	for i := range dst[:n] {
		end := hist + 2*i + 1 // the newest input sample this output sees
		var acc float64
		for _, t := range d.taps {
			acc += t.coef * d.buf[end-t.delay]
		}
		dst[i] = clamp16(acc)
	}
	copy(d.buf[:hist], d.buf[2*n:2*n+hist])
	return n
}

// interpolator turns 8 kHz samples into 16 kHz ones: out[2m+p] is the
// filtered zero-stuffed input, computed per phase p from the taps of that
// phase only (the zeros contribute nothing). Not safe for concurrent use.
type interpolator struct {
	phase [2][]tap // delays in input (8 kHz) samples
	buf   [halfBandTaps/2 + maxSamples8k]float64
}

// interpHistory is the input history one phase needs.
const interpHistory = halfBandTaps / 2

func newInterpolator() *interpolator {
	p := &interpolator{}
	for i, h := range halfBand {
		if h != 0 {
			// The gain of 2 makes up for the inserted zeros.
			p.phase[i%2] = append(p.phase[i%2], tap{delay: i / 2, coef: 2 * h})
		}
	}
	return p
}

// process writes 2*len(src) samples at 16 kHz to dst and returns that count
// (src is capped at maxSamples8k).
func (p *interpolator) process(dst, src []int16) int {
	n := min(len(src), maxSamples8k)
	for i, s := range src[:n] {
		p.buf[interpHistory+i] = float64(s)
	}
	for m := range n {
		end := interpHistory + m
		for ph := range 2 {
			var acc float64
			for _, t := range p.phase[ph] {
				acc += t.coef * p.buf[end-t.delay]
			}
			dst[2*m+ph] = clamp16(acc)
		}
	}
	copy(p.buf[:interpHistory], p.buf[n:n+interpHistory])
	return 2 * n
}

// clamp16 rounds to the nearest int16, saturating: a filter's overshoot on a
// full-scale input must not wrap around.
func clamp16(v float64) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	default:
		return int16(math.Round(v))
	}
}
