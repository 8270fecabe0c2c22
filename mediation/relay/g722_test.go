package relay

import (
	"slices"
	"testing"
)

// TestG722KeepsPayloadLength: 64 kbit/s G.722 and G.711 both take one byte
// per 125 µs, so every packetisation keeps its length (and timestamps).
func TestG722KeepsPayloadLength(t *testing.T) {
	for _, conv := range []conversion{convG722ToUlaw, convG722ToAlaw, convUlawToG722, convAlawToG722} {
		var tc transcoder
		for _, n := range []int{80, 160, 240, 480} {
			dst := make([]byte, maxPacket)
			if got := tc.run(dst, payload(n, 1), conv, 1); got != n {
				t.Errorf("conversion %d of %d bytes wrote %d", conv, n, got)
			}
		}
	}
}

// TestG722DecoderRestartsOnNewStream: a new SSRC gets a fresh ADPCM
// decoder; once the resampler's history (the old stream's last samples) has
// left the filter, the output is what a fresh transcoder produces.
func TestG722DecoderRestartsOnNewStream(t *testing.T) {
	old := toneFrames(kindG722, 440, 10)
	next := toneFrames(kindG722, 1700, 2)
	var used, fresh transcoder
	out := make([]byte, frameSamples)
	for _, f := range old {
		used.run(out, f, convG722ToUlaw, 1)
	}
	got := make([]byte, 0, 2*frameSamples)
	want := make([]byte, 0, 2*frameSamples)
	for _, f := range next {
		used.run(out, f, convG722ToUlaw, 2)
		got = append(got, out...)
		fresh.run(out, f, convG722ToUlaw, 2)
		want = append(want, out...)
	}
	settled := halfBandTaps / 2 // output samples still fed by the old stream
	if !slices.Equal(got[settled:], want[settled:]) {
		t.Fatal("after a new SSRC the decoder still runs on the old stream's state")
	}
	// And the same SSRC continues: the state is not reset every packet.
	var cont transcoder
	for _, f := range old[:2] {
		cont.run(out, f, convG722ToUlaw, 1)
	}
	first := slices.Clone(out)
	var restart transcoder
	restart.run(out, old[1], convG722ToUlaw, 1)
	if slices.Equal(first, out) {
		t.Fatal("the decoder is reset although the stream continues")
	}
}
