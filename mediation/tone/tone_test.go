package tone

import (
	"math"
	"testing"

	"github.com/zaf/g711"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const rate = 8000

// law is a G.711 encode/decode round trip applied to every sample.
type law func([]int16) []int16

func linear(s []int16) []int16 { return s }

func pcmu(s []int16) []int16 {
	out := make([]int16, len(s))
	for i, v := range s {
		out[i] = g711.DecodeUlawFrame(g711.EncodeUlawFrame(v))
	}
	return out
}

func pcma(s []int16) []int16 {
	out := make([]int16, len(s))
	for i, v := range s {
		out[i] = g711.DecodeAlawFrame(g711.EncodeAlawFrame(v))
	}
	return out
}

func TestDetect(t *testing.T) {
	laws := []struct {
		name  string
		apply law
	}{{"linear", linear}, {"PCMU", pcmu}, {"PCMA", pcma}}
	tones := []float64{440, 1000, 2000, 3333}
	lengths := []int{rate / 20, rate / 2, 2 * rate} // 50 ms, 500 ms, 2 s
	for _, l := range laws {
		for _, hz := range tones {
			for _, n := range lengths {
				got := Detect(l.apply(Generate(hz, rate, n, nil)), rate)
				if math.Abs(got-hz) > 20 {
					t.Errorf("%s %v Hz over %d samples: detected %.1f Hz", l.name, hz, n, got)
				}
			}
		}
	}
}

func TestDetectPrecise(t *testing.T) {
	// Off-grid tones must not be pulled onto the 10 Hz grid by more than a few Hz.
	for _, hz := range []float64{443, 1005, 1997.5} {
		got := Detect(Generate(hz, rate, rate, nil), rate)
		if math.Abs(got-hz) > 3 {
			t.Errorf("%v Hz: detected %.2f Hz", hz, got)
		}
	}
}

func TestDetectDominant(t *testing.T) {
	// A loud 440 Hz tone with a quieter 1000 Hz tone mixed in is 440 Hz.
	loud := Generate(440, rate, rate, nil)
	quiet := Generate(1000, rate, rate, nil)
	mix := make([]int16, rate)
	for i := range mix {
		mix[i] = loud[i] + quiet[i]/4
	}
	if got := Detect(mix, rate); math.Abs(got-440) > 20 {
		t.Errorf("mix: detected %.1f Hz, want 440", got)
	}
}

func TestDetectSilence(t *testing.T) {
	quiet := make([]int16, rate)
	for i := range quiet {
		quiet[i] = int16(i%3 - 1) // ±1 LSB of noise
	}
	cases := []struct {
		name    string
		samples []int16
		rate    int
	}{
		{"zeros", make([]int16, rate), rate},
		{"PCMU idle", pcmu(make([]int16, rate)), rate},
		{"1 LSB noise", quiet, rate},
		{"empty", nil, rate},
		{"too short", Generate(1000, rate, 8, nil), rate},
		{"bad rate", Generate(1000, rate, rate, nil), 0},
	}
	for _, c := range cases {
		if got := Detect(c.samples, c.rate); got != 0 {
			t.Errorf("%s: detected %.1f Hz, want 0", c.name, got)
		}
	}
}

func TestGeneratePhaseContinuity(t *testing.T) {
	whole := Generate(1000, rate, 320, nil)
	var phase float64
	first := Generate(1000, rate, 160, &phase)
	second := Generate(1000, rate, 160, &phase)
	joined := append(first, second...)
	for i := range whole {
		if d := int(whole[i]) - int(joined[i]); d < -1 || d > 1 {
			t.Fatalf("sample %d: %d in one piece, %d in two frames", i, whole[i], joined[i])
		}
	}
}

func TestGenerateEdges(t *testing.T) {
	if got := Generate(1000, rate, 0, nil); got != nil {
		t.Errorf("n=0: got %d samples", len(got))
	}
	buf := []int16{1, 2, 3}
	GenerateInto(buf, 1000, 0, nil)
	for _, v := range buf {
		if v != 0 {
			t.Fatalf("rate 0: got %v, want silence", buf)
		}
	}
}

func TestLevel(t *testing.T) {
	cases := []struct {
		name    string
		samples []int16
		want    float64
	}{
		// A sine of peak A has RMS A/√2.
		{"tone", Generate(1000, rate, rate, nil), 20 * math.Log10(Amplitude/math.Sqrt2/32768)},
		{"silence", make([]int16, 10), -120},
		{"empty", nil, -120},
	}
	for _, c := range cases {
		if got := Level(c.samples); math.Abs(got-c.want) > 0.1 {
			t.Errorf("%s: level %.2f dBFS, want %.2f", c.name, got, c.want)
		}
	}
}
