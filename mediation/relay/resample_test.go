package relay

import (
	"math"
	"slices"
	"testing"
)

func TestHalfBandDesign(t *testing.T) {
	h := halfBand
	c := len(h) / 2
	if len(h) != halfBandTaps || h[c] != 0.5 {
		t.Fatalf("%d taps, centre %v; want %d and 0.5", len(h), h[c], halfBandTaps)
	}
	var sum float64
	for k := range h {
		sum += h[k]
		if h[k] != h[len(h)-1-k] {
			t.Fatalf("tap %d not symmetric", k)
		}
		if d := k - c; d != 0 && d%2 == 0 && h[k] != 0 {
			t.Fatalf("tap %d (even distance %d) = %v, want 0", k, d, h[k])
		}
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Fatalf("DC gain %v, want 1", sum)
	}
}

// sine returns n samples of a hz sine at rate, of amplitude amp.
func sine(hz float64, rate, n int, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(math.Round(amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))))
	}
	return s
}

// power is the normalised power of x at hz (DFT bin, x long enough for
// the bins of interest to be resolved).
func power(x []int16, hz float64, rate int) float64 {
	var re, im float64
	for i, v := range x {
		a := 2 * math.Pi * hz * float64(i) / float64(rate)
		re += float64(v) * math.Cos(a)
		im -= float64(v) * math.Sin(a)
	}
	n := float64(len(x))
	return (re*re + im*im) / (n * n / 4)
}

func dB(ratio float64) float64 { return 10 * math.Log10(math.Max(ratio, 1e-30)) }

// run16to8 decimates in 20 ms packets, the way the relay calls it.
func run16to8(in []int16) []int16 {
	d := newDecimator()
	var out []int16
	buf := make([]int16, 160)
	for i := 0; i+320 <= len(in); i += 320 {
		n := d.process(buf, in[i:i+320])
		out = append(out, buf[:n]...)
	}
	return out
}

func run8to16(in []int16) []int16 {
	p := newInterpolator()
	var out []int16
	buf := make([]int16, 320)
	for i := 0; i+160 <= len(in); i += 160 {
		n := p.process(buf, in[i:i+160])
		out = append(out, buf[:n]...)
	}
	return out
}

// TestDecimatorResponse: the band G.711 carries passes flat; what it cannot
// carry is removed instead of folding back (aliasing to 8000-f).
func TestDecimatorResponse(t *testing.T) {
	const amp = 10000
	tests := []struct {
		hz       float64
		pass     bool
		maxAlias float64 // dB of the alias at 8000-hz, relative to the input
	}{
		{300, true, 0}, {1000, true, 0}, {3000, true, 0}, {3400, true, 0},
		{4700, false, -60}, {5500, false, -60}, {7000, false, -60},
	}
	for _, tt := range tests {
		in := sine(tt.hz, 16000, 16000, amp)
		out := run16to8(in)[100:] // past the filter's delay
		ref := float64(amp * amp)
		if tt.pass {
			if g := dB(power(out[:7800], tt.hz, 8000) / ref); math.Abs(g) > 0.05 {
				t.Errorf("%v Hz: passband gain %.3f dB, want 0", tt.hz, g)
			}
			continue
		}
		if a := dB(power(out[:7800], 8000-tt.hz, 8000) / ref); a > tt.maxAlias {
			t.Errorf("%v Hz: alias at %v Hz is %.1f dB, want below %v dB", tt.hz, 8000-tt.hz, a, tt.maxAlias)
		}
	}
}

// TestInterpolatorResponse: the tone passes at unit gain and its image at
// 8000-f (the spectrum copy that zero-stuffing brings into 4-8 kHz) is
// removed.
func TestInterpolatorResponse(t *testing.T) {
	const amp = 10000
	for _, hz := range []float64{300, 1000, 2500, 3400} {
		out := run8to16(sine(hz, 8000, 8000, amp))[200:]
		out = out[:15600]
		ref := float64(amp * amp)
		if g := dB(power(out, hz, 16000) / ref); math.Abs(g) > 0.05 {
			t.Errorf("%v Hz: gain %.3f dB, want 0", hz, g)
		}
		if img := dB(power(out, 8000-hz, 16000) / ref); img > -60 {
			t.Errorf("%v Hz: image at %v Hz is %.1f dB, want below -60 dB", hz, 8000-hz, img)
		}
	}
}

// TestResamplersCarryStateAcrossPackets: 20 ms packets give exactly the
// output of one long block.
func TestResamplersCarryStateAcrossPackets(t *testing.T) {
	// 180 ms: nine packets, and as long a block as process takes.
	in16 := sine(1234, 16000, 2880, 12000)
	whole := make([]int16, 1440)
	newDecimator().process(whole, in16)
	if got := run16to8(in16); !slices.Equal(got, whole) {
		t.Fatal("decimating per packet differs from decimating the whole block")
	}
	in8 := sine(777, 8000, 1440, 12000)
	whole = make([]int16, 2880)
	newInterpolator().process(whole, in8)
	if got := run8to16(in8); !slices.Equal(got, whole) {
		t.Fatal("interpolating per packet differs from interpolating the whole block")
	}
}

// convolve is the textbook filter: (h * x)[m] for every m < len(x).
func convolve(x []float64, gain float64) []float64 {
	y := make([]float64, len(x))
	for m := range y {
		for k, h := range halfBand {
			if m-k >= 0 {
				y[m] += gain * h * x[m-k]
			}
		}
	}
	return y
}

// TestResamplersMatchDefinition compares both resamplers with the direct
// convolution they implement (decimation keeps every other output;
// interpolation filters the zero-stuffed input with gain 2), on a tone and
// on a full-scale square wave whose overshoot must clip, not wrap around.
func TestResamplersMatchDefinition(t *testing.T) {
	square := make([]int16, 640)
	for i := range square {
		square[i] = math.MaxInt16
		if (i/40)%2 == 1 {
			square[i] = math.MinInt16
		}
	}
	inputs := map[string][]int16{"tone": sine(2345, 16000, 640, 9000), "full-scale square": square}
	for name, in := range inputs {
		x := make([]float64, len(in))
		stuffed := make([]float64, 2*len(in))
		for i, v := range in {
			x[i] = float64(v)
			stuffed[2*i] = float64(v)
		}
		down := make([]int16, len(in)/2)
		down = down[:newDecimator().process(down, in)]
		ref := convolve(x, 1)
		for i, v := range down {
			if want := clamp16(ref[2*i+1]); absInt(int(v)-int(want)) > 1 {
				t.Fatalf("%s: decimated sample %d = %d, want %d", name, i, v, want)
			}
		}
		up := make([]int16, 2*len(in))
		up = up[:newInterpolator().process(up, in)]
		ref = convolve(stuffed, 2)
		for i, v := range up {
			if want := clamp16(ref[i]); absInt(int(v)-int(want)) > 1 {
				t.Fatalf("%s: interpolated sample %d = %d, want %d", name, i, v, want)
			}
		}
	}
}

func absInt(v int) int { return max(v, -v) }

func TestClamp16(t *testing.T) {
	tests := []struct {
		in   float64
		want int16
	}{{0.4, 0}, {0.5, 1}, {-0.5, -1}, {40000, math.MaxInt16}, {-40000, math.MinInt16}, {32767.4, 32767}}
	for _, tt := range tests {
		if got := clamp16(tt.in); got != tt.want {
			t.Errorf("clamp16(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
