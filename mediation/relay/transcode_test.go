package relay

import (
	"bytes"
	"testing"

	"github.com/zaf/g711"
)

func TestConversionOf(t *testing.T) {
	tests := []struct {
		from, to codecKind
		want     conversion
	}{
		{kindPCMU, kindPCMU, convCopy},
		{kindPCMA, kindPCMA, convCopy},
		{kindG722, kindG722, convCopy},
		{kindPCMU, kindPCMA, convUlawToAlaw},
		{kindPCMA, kindPCMU, convAlawToUlaw},
		{kindG722, kindPCMU, convG722ToUlaw},
		{kindG722, kindPCMA, convG722ToAlaw},
		{kindPCMU, kindG722, convUlawToG722},
		{kindPCMA, kindG722, convAlawToG722},
	}
	for _, tt := range tests {
		if got := conversionOf(tt.from, tt.to); got != tt.want {
			t.Errorf("conversionOf(%s, %s) = %d, want %d", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestTranscodeMatchesG711(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name string
		conv conversion
		want func([]byte) []byte
	}{
		{"PCMU to PCMA", convUlawToAlaw, g711.Ulaw2Alaw},
		{"PCMA to PCMU", convAlawToUlaw, g711.Alaw2Ulaw},
		{"copy", convCopy, func(b []byte) []byte { return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tc transcoder
			dst := make([]byte, len(all)+10)
			n := tc.run(dst, all, tt.conv, 1)
			if n != len(all) {
				t.Fatalf("wrote %d bytes, want %d", n, len(all))
			}
			if want := tt.want(all); !bytes.Equal(dst[:n], want) {
				t.Fatalf("output differs from g711:\n got %x\nwant %x", dst[:n], want)
			}
			if tc.dec != nil || tc.enc != nil {
				t.Fatal("a G.711 conversion set up G.722 state")
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

func TestDecodeTablesMatchG711(t *testing.T) {
	for i := range 256 {
		if got, want := ulawToPCM[i], g711.DecodeUlawFrame(uint8(i)); got != want {
			t.Fatalf("ulawToPCM[%#x] = %d, want %d", i, got, want)
		}
		if got, want := alawToPCM[i], g711.DecodeAlawFrame(uint8(i)); got != want {
			t.Fatalf("alawToPCM[%#x] = %d, want %d", i, got, want)
		}
	}
}
