package relay

import (
	"bytes"
	"testing"

	"github.com/zaf/g711"
)

func TestTranscodeMatchesG711(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name     string
		from, to law
		want     func([]byte) []byte
	}{
		{"PCMU to PCMA", lawPCMU, lawPCMA, g711.Ulaw2Alaw},
		{"PCMA to PCMU", lawPCMA, lawPCMU, g711.Alaw2Ulaw},
		{"PCMU pass-through", lawPCMU, lawPCMU, func(b []byte) []byte { return b }},
		{"PCMA pass-through", lawPCMA, lawPCMA, func(b []byte) []byte { return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, len(all)+10)
			n := transcode(dst, all, conversion(tt.from, tt.to))
			if n != len(all) {
				t.Fatalf("wrote %d bytes, want %d", n, len(all))
			}
			if want := tt.want(all); !bytes.Equal(dst[:n], want) {
				t.Fatalf("output differs from g711:\n got %x\nwant %x", dst[:n], want)
			}
		})
	}
}

// TestConversionPreservesSignal guards against the tables being left zero or
// swapped: every converted sample must decode close to the original.
func TestConversionPreservesSignal(t *testing.T) {
	tests := []struct {
		name           string
		table          *[256]byte
		decIn, decOut  func(uint8) int16
		maxRelativeErr float64
	}{
		{"µ-law to A-law", &ulawToAlaw, g711.DecodeUlawFrame, g711.DecodeAlawFrame, 0.15},
		{"A-law to µ-law", &alawToUlaw, g711.DecodeAlawFrame, g711.DecodeUlawFrame, 0.15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 256 {
				in, out := float64(tt.decIn(uint8(i))), float64(tt.decOut(tt.table[i]))
				diff := in - out
				if diff < 0 {
					diff = -diff
				}
				scale := max(in, -in, 64) // quiet samples: absolute tolerance
				if diff/scale > tt.maxRelativeErr {
					t.Errorf("byte %#x: sample %v became %v", i, in, out)
				}
			}
		})
	}
}
