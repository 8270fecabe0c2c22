package endpoint

import (
	"math"
	"strings"
	"sync"

	"github.com/mediation-emulator/mediation/mediation/tone"
)

// framesPerSecond is how many 20 ms frames make a second.
const framesPerSecond = sampleRate / frameSamples

// toneTable is one second of a tone, G.711-encoded, frame by frame.
type toneTable [framesPerSecond][frameSamples]byte

// toneTables are shared by every stream that plays the same tone in the
// same law: a sine of a whole number of hertz sampled at 8 kHz repeats
// every 8000/gcd(hz, 8000) samples, which divides a second, so the k-th
// frame a stream plays is the table's k%50-th. Computing the sine of every
// sample of every frame was a sixth of a bench generator's CPU with 1,000
// anchored calls (4,000 sine values per second per stream). Keyed by
// toneKey.
var toneTables sync.Map

type toneKey struct {
	hz   float64
	alaw bool
}

// toneFrames returns the table of a tone of hz in codec's law (PCMA, else
// PCMU, as encoder), computed on first use as send would compute the
// frames one after another; nil when hz is not a whole number of hertz
// (the frames then do not repeat within a second).
func toneFrames(hz float64, codec string) *toneTable {
	if hz < 0 || hz > sampleRate || hz != math.Trunc(hz) {
		return nil
	}
	k := toneKey{hz: hz, alaw: strings.EqualFold(codec, PCMA)}
	if t, ok := toneTables.Load(k); ok {
		return t.(*toneTable)
	}
	t := new(toneTable)
	var phase float64
	pcm := make([]int16, frameSamples)
	for f := range t {
		encodeTone(t[f][:], pcm, hz, codec, &phase)
	}
	actual, _ := toneTables.LoadOrStore(k, t)
	return actual.(*toneTable)
}

// encodeTone computes the next frame of a tone of hz from phase into pcm
// and encodes it into dst in codec's law.
func encodeTone(dst []byte, pcm []int16, hz float64, codec string, phase *float64) {
	tone.GenerateInto(pcm, hz, sampleRate, phase)
	encode := encoder(codec)
	for i, v := range pcm {
		dst[i] = encode(v)
	}
}
