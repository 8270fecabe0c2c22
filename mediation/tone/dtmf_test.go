package tone

import (
	"math"
	"testing"
)

// dual is n samples of event's two tones, each at peak amp.
func dual(t *testing.T, event byte, amp float64, n int) []int16 {
	t.Helper()
	low, high, ok := DTMF(event)
	if !ok {
		t.Fatalf("event %d: no DTMF frequencies", event)
	}
	out := make([]int16, n)
	var pl, ph float64
	AddInto(out, low, amp, rate, &pl)
	AddInto(out, high, amp, rate, &ph)
	return out
}

// TestDTMFRoundTrip: each of the 16 keys, through either G.711 law, at
// the levels RFC 4733 senders use (-3 to -30 dBm0 per tone), over 20 ms to
// 1 s, is detected as itself.
func TestDTMFRoundTrip(t *testing.T) {
	for event := byte(0); event < 16; event++ {
		for _, dBm0 := range []float64{-3, -10, -30} {
			for _, n := range []int{160, 800, rate} {
				for _, l := range []law{pcmu, pcma} {
					got, ok := DetectDTMF(l(dual(t, event, Amplitude0dBm0*math.Pow(10, dBm0/20), n)), rate)
					if !ok || got != event {
						t.Errorf("event %d at %v dBm0 over %d samples: detected %d, %v", event, dBm0, n, got, ok)
					}
				}
			}
		}
	}
}

// TestDTMFRejects: what is not one key's dual tone is no DTMF.
func TestDTMFRejects(t *testing.T) {
	noise := make([]int16, rate)
	seed := uint32(1)
	for i := range noise {
		seed = seed*1664525 + 1013904223
		noise[i] = int16(seed>>16) / 4
	}
	twoKeys := dual(t, 1, 5000, rate)
	for i, v := range dual(t, 9, 5000, rate) {
		twoKeys[i] += v
	}
	cases := map[string][]int16{
		"silence":           make([]int16, rate),
		"1 kHz":             Generate(1000, rate, rate, nil),
		"low tone alone":    Generate(770, rate, rate, nil),
		"noise":             noise,
		"two keys at once":  twoKeys,
		"too short":         dual(t, 5, 5000, 8),
		"tone over a voice": append(Generate(440, rate, rate, nil), dual(t, 5, 2000, rate/10)...),
	}
	for name, s := range cases {
		if got, ok := DetectDTMF(s, rate); ok {
			t.Errorf("%s: detected event %d", name, got)
		}
	}
	if _, _, ok := DTMF(16); ok {
		t.Error("event 16 (flash) has DTMF frequencies")
	}
}

// TestAddIntoSaturates: two full tones add up to the int16 limits, not
// past them (wrapping round to the other sign).
func TestAddIntoSaturates(t *testing.T) {
	buf := make([]int16, 80)
	AddInto(buf, 1000, 30000, rate, nil)
	AddInto(buf, 1000, 30000, rate, nil)
	for i, v := range buf {
		switch s := math.Sin(2 * math.Pi * 1000 * float64(i) / rate); {
		case s > 0.6 && v != math.MaxInt16, s < -0.6 && v != math.MinInt16:
			t.Fatalf("sample %d: %d, want saturated at the sign of %.2f", i, v, s)
		}
	}
}
